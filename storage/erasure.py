"""Erasure: the statements that replace a subject's personal values with tombstones, scope by
scope, as one declarative table (the personal columns are :data:`PERSONAL_COLUMNS`'s).

A tombstone is NULL plus ``erased_at`` where the row has one; a JSON snapshot keeps its keys
with ``null`` values and gains ``erased_at``; a mail's ``context`` (NOT NULL) becomes ``{}``.
Events, the port timeline, the access log and the ledger (``erasures``) are never touched:
events carry keyed hashes, never the values, so every chain still verifies.

Scopes, each keyed by ``:key`` and stamped ``:at``:

- ``contact`` (a customer's id): e-mail and phone, wherever they are kept — the customer row
  and its history, the address on mails no longer waiting to be sent, the e-mail and phone
  typed into settled web forms;
- ``subject`` (a customer's id): ``contact`` and every other personal value of the person —
  name and postal address (row and history), their consents' evidence, the notes and mails
  of their cases, their web forms. A metering point's installation address is the point's
  (its next customer's), not the person's: it stays;
- ``signer`` (a consent's id): the name of who signed it (someone who is not the customer).

On SQLite the application runs the statements (the connection has ``secure_delete`` on, so
the freed bytes are zeroed); on PostgreSQL each scope is a ``SECURITY DEFINER`` function,
``erase_<scope>``, made by migration 0008 from this table, so a privacy officer's login (no
SELECT on personal columns) can erase without reading: the functions return the rows changed
per table. A change to a statement here is a new migration re-creating the functions.
"""

from __future__ import annotations

from dataclasses import dataclass

from hanport.storage.personal import PERSONAL_COLUMNS


@dataclass(frozen=True)
class Wipe:
    """One statement: ``label`` names what it erases in the ledger; ``sqlite`` and
    ``postgresql`` are its text on each backend (``:key``, ``:at``)."""

    label: str
    sqlite: str
    postgresql: str


def _json_nulls(keys: tuple[str, ...], *, stamp: bool) -> tuple[str, str]:
    """The snapshot with ``keys`` set to null (and ``erased_at`` stamped): SQLite, PostgreSQL."""
    lite = ", ".join(f"'$.{k}', NULL" for k in keys)
    pg = ", ".join(f"'{k}', NULL" for k in keys)
    if stamp:
        lite += ", '$.erased_at', :at"
        pg += ", 'erased_at', :at"
    return (
        f"json_set(snapshot, {lite})",
        f"(snapshot::jsonb || jsonb_build_object({pg}))::text",
    )


def _any_set(column: str, keys: tuple[str, ...]) -> tuple[str, str]:
    """Whether the JSON ``column`` still has a value under one of ``keys``: SQLite, PostgreSQL."""
    lite = " OR ".join(f"json_extract({column}, '$.{k}') IS NOT NULL" for k in keys)
    pg = " OR ".join(f"({column}::jsonb ->> '{k}') IS NOT NULL" for k in keys)
    return f"({lite})", f"({pg})"


def _same(label: str, sql: str) -> Wipe:
    return Wipe(label, sql, sql)


_CASES_OF = "case_id IN (SELECT id FROM cases WHERE customer_pk = :key)"
_SENT = "status NOT IN ('pending', 'sending')"
_CONTACT = ("email", "phone")
_PERSON = PERSONAL_COLUMNS["customers"]
_SETTLED = "status NOT IN ('new', 'review')"


def _history(keys: tuple[str, ...], *, full: bool) -> Wipe:
    lite, pg = _json_nulls(keys, stamp=full)
    if full:
        stamp, has = ", erased_at = :at", ("erased_at IS NULL",) * 2
    else:
        stamp, has = "", _any_set("snapshot", keys)
    where = "WHERE customer_pk = :key AND "
    return Wipe(
        "customer_history",
        f"UPDATE customer_history SET snapshot = {lite}{stamp} {where}{has[0]}",
        f"UPDATE customer_history SET snapshot = {pg}{stamp} {where}{has[1]}",
    )


def _intake_contact() -> Wipe:
    lite, pg = (x.replace("snapshot", "fields") for x in _json_nulls(_CONTACT, stamp=False))
    has = _any_set("fields", _CONTACT)
    where = f"WHERE customer_pk = :key AND fields IS NOT NULL AND {_SETTLED} AND "
    return Wipe(
        "intakes",
        f"UPDATE intakes SET fields = {lite} {where}{has[0]}",
        f"UPDATE intakes SET fields = {pg} {where}{has[1]}",
    )


ERASE: dict[str, tuple[Wipe, ...]] = {
    "contact": (
        _same(
            "customers",
            "UPDATE customers SET email = NULL, phone = NULL WHERE id = :key "
            "AND (email IS NOT NULL OR phone IS NOT NULL)",
        ),
        _history(_CONTACT, full=False),
        _same(
            "mail_outbox",
            f"UPDATE mail_outbox SET recipient = NULL WHERE {_CASES_OF} AND {_SENT} "
            "AND recipient IS NOT NULL",
        ),
        _intake_contact(),
    ),
    "subject": (
        _same(
            "customers",
            "UPDATE customers SET "
            + ", ".join(f"{c} = NULL" for c in _PERSON)
            + ", erased_at = :at WHERE id = :key AND erased_at IS NULL",
        ),
        _history(_PERSON, full=True),
        _same(
            "consents",
            "UPDATE consents SET "
            + ", ".join(f"{c} = NULL" for c in PERSONAL_COLUMNS["consents"])
            + ", erased_at = :at WHERE customer_pk = :key AND erased_at IS NULL",
        ),
        _same(
            "case_notes",
            f"UPDATE case_notes SET body = NULL, erased_at = :at WHERE {_CASES_OF} "
            "AND erased_at IS NULL",
        ),
        _same(
            "mail_outbox",
            "UPDATE mail_outbox SET recipient = NULL, context = '{}', body_text = NULL, "
            f"body_html = NULL, last_error = NULL, erased_at = :at WHERE {_CASES_OF} "
            "AND erased_at IS NULL",
        ),
        _same(
            "intakes",
            "UPDATE intakes SET fields = NULL, resolution_note = NULL, erased_at = :at "
            "WHERE customer_pk = :key AND erased_at IS NULL",
        ),
        # Their own hashing key (migration 0009): what events carry of them can be tested no
        # more, even by someone holding the pepper.
        _same(
            "subject_keys",
            "UPDATE subject_keys SET key = NULL, destroyed_at = :at "
            "WHERE customer_pk = :key AND key IS NOT NULL",
        ),
    ),
    "signer": (
        _same(
            "consents",
            "UPDATE consents SET signer_name = NULL WHERE id = :key AND signer_name IS NOT NULL",
        ),
    ),
}

# What the scheduler's retention clears on its own (no subject: every row past its period).
RETAIN: dict[str, str] = {
    "mail_body": (
        "UPDATE mail_outbox SET recipient = NULL, context = '{}', body_text = NULL, "
        f"body_html = NULL, last_error = NULL, erased_at = :at WHERE {_SENT} "
        "AND erased_at IS NULL AND created_at < :before"
    ),
    "intake_unmatched": (
        "UPDATE intakes SET fields = NULL, resolution_note = NULL, erased_at = :at "
        "WHERE status = 'resolved' AND case_id IS NULL AND erased_at IS NULL "
        "AND resolved_at < :before"
    ),
}


# --- the access log past its period (kind ``access_log``) --------------------------------------
#
# The log is append-only: its delete trigger (migration 0012) lets through only the rows the
# retention mark (``retention_marks``) has passed — read numbers up to ``last_read_no``, read
# before ``cleared_before``. Retention moves the mark (never back), then deletes what it covers,
# oldest read first: the numbers left are one unbroken run from the mark on, which is what
# ``audit access`` checks. A read made before ``:before`` but numbered after a later one stays
# until the night the later one goes too.

_UPTO = (
    "coalesce((SELECT min(read_no) FROM access_log WHERE at >= :before) - 1, "
    "(SELECT max(read_no) FROM access_log), 0)"
)
_MARK = (
    "INSERT INTO retention_marks (kind, cleared_before, last_read_no) "
    f"VALUES ('access_log', :before, {_UPTO}) ON CONFLICT (kind) DO UPDATE SET "
    "cleared_before = {most}(retention_marks.cleared_before, excluded.cleared_before), "
    "last_read_no = {most}(retention_marks.last_read_no, excluded.last_read_no)"
)
ACCESS_LOG_RETAIN = (
    Wipe("retention_marks", _MARK.format(most="max"), _MARK.format(most="GREATEST")),
    _same(
        "access_log",
        "DELETE FROM access_log WHERE at < :before AND read_no <= "
        "(SELECT last_read_no FROM retention_marks WHERE kind = 'access_log')",
    ),
)
ACCESS_LOG_DUE = "SELECT count(*) FROM access_log WHERE at < :before"
# The read numbers the log has cleared up to (0: none): SQLite numbers its reads after them.
ACCESS_LOG_CLEARED = (
    "coalesce((SELECT last_read_no FROM retention_marks WHERE kind = 'access_log'), 0)"
)


def access_log_functions() -> tuple[str, str]:
    """PostgreSQL: ``retain_access_log(before)`` (the rows deleted) and ``access_log_due(before)``
    (how many would go), SECURITY DEFINER — nobody else may delete from, or count, the log."""
    mark, delete = (w.postgresql.replace(":before", "p_before") for w in ACCESS_LOG_RETAIN)
    head = "(p_before timestamptz) RETURNS bigint LANGUAGE {} SECURITY DEFINER "
    head += "SET search_path FROM CURRENT AS $fn$"
    return (
        f"CREATE OR REPLACE FUNCTION retain_access_log{head.format('plpgsql')}\n"
        f"DECLARE k bigint;\nBEGIN\n  {mark};\n  {delete};\n"
        "  GET DIAGNOSTICS k = ROW_COUNT;\n  RETURN k;\nEND $fn$",
        f"CREATE OR REPLACE FUNCTION access_log_due{head.format('sql STABLE')}\n"
        f"{ACCESS_LOG_DUE.replace(':before', 'p_before')}\n$fn$",
    )


def function_sql(scope: str) -> str:
    """The PostgreSQL function for ``scope``: its statements, and the rows each changed."""
    steps = "\n".join(
        f"  {w.postgresql.replace(':key', 'p_key').replace(':at', 'p_at')};\n"
        f"  GET DIAGNOSTICS k = ROW_COUNT; erased_what := '{w.label}'; erased_rows := k; "
        "RETURN NEXT;"
        for w in ERASE[scope]
    )
    return (
        f"CREATE OR REPLACE FUNCTION erase_{scope}(p_key integer, p_at timestamptz) "
        "RETURNS TABLE (erased_what text, erased_rows bigint) LANGUAGE plpgsql SECURITY DEFINER "
        "SET search_path FROM CURRENT AS $fn$\nDECLARE k bigint;\nBEGIN\n"
        f"{steps}\nEND $fn$"
    )
