"""Personal data: which columns hold it, and the only statements that read it for a person.

Every read of personal data for a person is logged in ``access_log`` (who, when, which subject
by customer number, which command, the purpose given) in the same transaction as the read:

- on PostgreSQL each read here is a ``SECURITY DEFINER`` function, ``personal_<name>``
  (migration 0005 creates them from this table), which writes the log row and returns the
  columns in one statement; the read-only roles have no ``SELECT`` on the columns of
  :data:`PERSONAL_COLUMNS` (``docs/postgres-roles.sql``), so the functions are their only way;
  a read whose transaction is rolled back leaves a gap in the read numbers (:data:`READ_SEQUENCE`);
- on SQLite (one machine, one file the operating system keeps to its owner) the application runs
  the same two statements itself.

A change to a read here is a new migration that re-creates the functions (``CREATE OR
REPLACE``): migration 0005 builds them from this table as it is, and migration 0007 the reads
added since (``point``, ``reads``) on databases migrated before.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime

# The columns that hold personal data, table by table (the rest of every table may be read by
# every role: references, states, salted hashes, instants; a mail's subject names only the
# case and a date, which a test of every template keeps true).
PERSONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": ("name", "email", "phone", "street", "postal_code", "city"),
    "customer_history": ("snapshot",),
    "metering_points": ("street", "postal_code", "city"),
    "consents": ("signer_name", "address_written", "postal_code_written", "from_email"),
    "case_notes": ("body",),
    "mail_outbox": ("recipient", "context", "body_text", "body_html", "last_error"),
    "intakes": ("fields", "resolution_note"),
}


@dataclass(frozen=True)
class PersonalRead:
    """One read: ``subject`` and ``select`` take the key as ``:key``; ``subject`` gives the
    customer number of whose data it is (no row: nothing personal to read, nothing logged —
    a case without notes, say); ``columns``
    are what ``select`` returns, each with the column whose type it has."""

    name: str
    what: str  # what the log says was read
    key_type: str  # the key's PostgreSQL type
    subject: str
    select: str
    columns: tuple[tuple[str, str], ...]


_CASE_SUBJECT = (
    "SELECT u.customer_id FROM cases c JOIN customers u ON u.id = c.customer_pk WHERE c.id = :key"
)

READS: dict[str, PersonalRead] = {
    r.name: r
    for r in (
        PersonalRead(
            "contact",
            "contact details",
            "text",
            "SELECT customer_id FROM customers WHERE customer_id = :key",
            "SELECT name, email, phone, street, postal_code, city FROM customers "
            "WHERE customer_id = :key",
            tuple((c, f"customers.{c}") for c in PERSONAL_COLUMNS["customers"]),
        ),
        PersonalRead(
            "history",
            "contact history",
            "text",
            "SELECT customer_id FROM customers WHERE customer_id = :key",
            "SELECT h.version, h.snapshot FROM customer_history h "
            "JOIN customers u ON u.id = h.customer_pk WHERE u.customer_id = :key ORDER BY h.version",
            (("version", "customer_history.version"), ("snapshot", "customer_history.snapshot")),
        ),
        PersonalRead(
            "notes",
            "case notes",
            "integer",
            _CASE_SUBJECT + " AND EXISTS (SELECT 1 FROM case_notes n WHERE n.case_id = :key)",
            "SELECT seq, kind, author, body, created_at, erased_at FROM case_notes "
            "WHERE case_id = :key ORDER BY seq, id",
            tuple(
                (c, f"case_notes.{c}")
                for c in ("seq", "kind", "author", "body", "created_at", "erased_at")
            ),
        ),
        PersonalRead(
            "mail",
            "mail as sent",
            "integer",
            "SELECT u.customer_id FROM mail_outbox m JOIN cases c ON c.id = m.case_id "
            "JOIN customers u ON u.id = c.customer_pk WHERE m.id = :key",
            "SELECT recipient, body_text, body_html, context, last_error "
            "FROM mail_outbox WHERE id = :key",
            tuple(
                (c, f"mail_outbox.{c}")
                for c in ("recipient", "body_text", "body_html", "context", "last_error")
            ),
        ),
        PersonalRead(
            "point",
            "installation address",
            "text",
            "SELECT u.customer_id FROM metering_points p JOIN customers u ON u.id = p.customer_pk "
            "WHERE p.gsrn = :key",
            "SELECT street, postal_code, city FROM metering_points WHERE gsrn = :key",
            tuple((c, f"metering_points.{c}") for c in PERSONAL_COLUMNS["metering_points"]),
        ),
        PersonalRead(
            # The reads of a person's data, for the person (an access request): when, in which
            # role, by which command, why and what — never who (the login, the acting user).
            # The log row of this read is among those it returns.
            "reads",
            "record of reads",
            "text",
            "SELECT customer_id FROM customers WHERE customer_id = :key",
            "SELECT at, role, command, purpose, what FROM access_log WHERE subject = :key "
            "ORDER BY read_no",
            tuple((c, f"access_log.{c}") for c in ("at", "role", "command", "purpose", "what")),
        ),
        PersonalRead(
            "consent",
            "consent signer",
            "integer",
            "SELECT u.customer_id FROM consents k JOIN customers u ON u.id = k.customer_pk "
            "WHERE k.id = :key",
            "SELECT signer_name, address_written, postal_code_written, from_email "
            "FROM consents WHERE id = :key",
            tuple((c, f"consents.{c}") for c in PERSONAL_COLUMNS["consents"]),
        ),
        PersonalRead(
            "intake",
            "web form as typed",
            "integer",
            # whose: the customer it matched, else the intake itself (it matched nobody)
            "SELECT coalesce(u.customer_id, 'intake-' || i.id) AS customer_id FROM intakes i "
            "LEFT JOIN customers u ON u.id = i.customer_pk WHERE i.id = :key",
            "SELECT fields, resolution_note FROM intakes WHERE id = :key",
            tuple((c, f"intakes.{c}") for c in PERSONAL_COLUMNS["intakes"]),
        ),
    )
}

# The log row's columns after its subject and what was read, as the functions and the
# application fill them.
LOG_INSERT = (
    "INSERT INTO access_log (read_no, at, recorded_at, login, actor, role, on_behalf_of, "
    "command, purpose, subject, what) "
)
# Each read's number. On PostgreSQL a sequence, which a rollback does not take back: a reader
# who rolls back the transaction of a read keeps what the function returned but leaves a gap
# in the numbers, which ``hanport audit access`` reports. (SQLite: the application commits the
# row before it shows anything.)
READ_SEQUENCE = "access_log_reads"


def function_sql(r: PersonalRead) -> str:
    """The PostgreSQL function for ``r``: the log row and the columns in one statement."""
    returns = ", ".join(f"{c} {col}%TYPE" for c, col in r.columns)
    subject = r.subject.replace(":key", "p_key")
    select = r.select.replace(":key", "p_key")
    return (
        f"CREATE OR REPLACE FUNCTION personal_{r.name}(p_key {r.key_type}, p_actor text, "
        "p_role text, p_behalf text, p_command text, p_purpose text, p_at timestamptz) "
        f"RETURNS TABLE ({returns}) LANGUAGE plpgsql SECURITY DEFINER "
        "SET search_path FROM CURRENT AS $fn$\n#variable_conflict use_column\nBEGIN\n"
        f"  {LOG_INSERT}SELECT nextval('{READ_SEQUENCE}'), p_at, now(), session_user, p_actor, "
        "p_role, p_behalf, "
        f"p_command, p_purpose, s.customer_id, '{r.what}' FROM ({subject}) s;\n"
        f"  RETURN QUERY {select};\nEND $fn$"
    )


# --- processing: a command's own reads, for a login without SELECT on the personal columns ---
#
# A caseworker's or supervisor's login on PostgreSQL may not read the personal columns either:
# the commands they run read them (a notice is addressed by name, a consent's address is
# checked against the installation's) through these functions, which log every row they return
# under the command that asked. The command's context reaches them as session settings
# (``hanport.actor`` …), which a login may set as it likes: the log's ``login`` is the database's
# word, the rest is what the application said. Service logins (the scheduler's, the batch's)
# keep their SELECT and read the tables themselves.


@dataclass(frozen=True)
class Processing:
    """The command a restricted login's reads are for (set by the service layer's ``run``)."""

    actor: str
    role: str
    on_behalf_of: str | None
    command: str
    at: datetime

    def settings(self) -> tuple[str, list[str]]:
        """The statement that hands this context to the functions, and its parameters."""
        names = ("actor", "role", "on_behalf_of", "command", "at")
        sql = "SELECT " + ", ".join(f"set_config('hanport.{n}', ?, false)" for n in names)
        values = [self.actor, self.role, self.on_behalf_of or "", self.command, self.at.isoformat()]
        return sql, values


# Set while a command of a login that reads personal data only through the functions runs.
PROCESSING: ContextVar[Processing | None] = ContextVar("hanport_processing", default=None)

_PROCESSING = """CREATE OR REPLACE FUNCTION processing_{name}({keys}) RETURNS SETOF {table}
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $fn$
BEGIN
  {insert}SELECT nextval('{sequence}'),
    coalesce(CAST(nullif(current_setting('hanport.at', true), '') AS timestamptz), now()), now(),
    session_user, coalesce(nullif(current_setting('hanport.actor', true), ''), session_user),
    coalesce(nullif(current_setting('hanport.role', true), ''), 'unknown'),
    nullif(current_setting('hanport.on_behalf_of', true), ''),
    coalesce(nullif(current_setting('hanport.command', true), ''), 'processing'),
    'processing', u.customer_id, '{what}'
  FROM {table} t {whose} WHERE {where};
  RETURN QUERY SELECT t.* FROM {table} t WHERE {where};
END $fn$"""


def _processing(name: str, table: str, what: str, keys: str, where: str, whose: str) -> str:
    return _PROCESSING.format(
        name=name,
        table=table,
        what=what,
        keys=keys,
        where=where,
        whose=whose,
        insert=LOG_INSERT,
        sequence=READ_SEQUENCE,
    )


PROCESSING_FUNCTIONS = (
    _processing(
        "customers",
        "customers",
        "contact details",
        "p_ids integer[], p_numbers text[]",
        "t.id = ANY(p_ids) OR t.customer_id = ANY(p_numbers)",
        "JOIN customers u ON u.id = t.id",
    ),
    _processing(
        "points",
        "metering_points",
        "installation address",
        "p_ids integer[], p_gsrns text[]",
        "t.id = ANY(p_ids) OR t.gsrn = ANY(p_gsrns)",
        "JOIN customers u ON u.id = t.customer_pk",
    ),
    _processing(
        "mail",
        "mail_outbox",
        "mail for delivery",
        "p_ids integer[]",
        "t.id = ANY(p_ids)",
        "JOIN cases c ON c.id = t.case_id JOIN customers u ON u.id = c.customer_pk",
    ),
)
