"""The statements of a command's one read (``Cases.load``): where a load starts (cases by
reference or id, points by GSRN), the cases with their points and customers, the facts (timers,
HES commands, consents, restrictions, automatic closes), the points — each backend's text made
once — and the statement that merges a case's update with its next event (PostgreSQL)."""

from __future__ import annotations

from datetime import datetime
from functools import cache, lru_cache

from hanport.storage.rows import PointRow

CASE_COLS = (
    "id, ref, workflow, workflow_version, state, version, point_id, customer_pk, holds_port, "
    "active, flags, data, last_hash, created_at, updated_at"
)
POINT_COLS = (
    "id, gsrn, customer_pk, meter_number, municipality, street, postal_code, city, han_port, "
    "port_since, consent_id, updated_at"
)
CUSTOMER_COLS = (
    "id, customer_id, name, email, phone, street, postal_code, city, language, energipilot, "
    "version, updated_at, erased_at"
)


def _prefixed(alias: str, cols: str) -> str:
    return ", ".join(f"{alias}.{c.strip()}" for c in cols.split(","))


# Where a load starts: cases by reference or id, or points by GSRN (their active cases) — as
# sub-selects the load's statements share, so every statement of a load goes in one round trip.
# The cases are those selected and whichever case holds each of their points; the rest read by
# those ids only (every one an index look-up, planned with the keys: a condition joining them
# with OR made PostgreSQL scan whole tables).
_SEEDS = {
    "ref": (
        "SELECT id FROM cases WHERE ref {keys} UNION SELECT h.id FROM cases h "
        "WHERE h.holds_port AND h.point_id IN (SELECT point_id FROM cases WHERE ref {keys})",
        "SELECT point_id FROM cases WHERE ref {keys}",
    ),
    "id": (
        "SELECT id FROM cases WHERE id {keys} UNION SELECT h.id FROM cases h "
        "WHERE h.holds_port AND h.point_id IN (SELECT point_id FROM cases WHERE id {keys})",
        "SELECT point_id FROM cases WHERE id {keys}",
    ),
    "gsrn": (
        "SELECT c.id FROM cases c JOIN metering_points p ON p.id = c.point_id "
        "WHERE c.active AND p.gsrn {keys}",
        "SELECT id FROM metering_points WHERE gsrn {keys}",
    ),
}
_CASES = (
    f"SELECT {_prefixed('c', CASE_COLS)}, {_prefixed('p', POINT_COLS)}, "
    f"{_prefixed('u', CUSTOMER_COLS)} FROM cases c "
    "LEFT JOIN metering_points p ON p.id = c.point_id JOIN customers u ON u.id = c.customer_pk "
    "WHERE c.id IN ({cases}) ORDER BY c.id"
)
_POINTS = f"SELECT {POINT_COLS} FROM metering_points WHERE id IN ({{points}}) ORDER BY id"
# The same for a login that reads personal columns only through the logging functions
# (``hanport.storage.personal``): the customers and points come from them (the cases' points
# once, from the points' statement: a command's read of an address is logged once).
_NO_ADDRESS = ", ".join(
    f"CAST(NULL AS text) AS {c.strip()}"
    if c.strip() in ("street", "postal_code", "city")
    else f"p.{c.strip()}"
    for c in POINT_COLS.split(",")
)
_CASES_PROCESSING = (
    f"SELECT {_prefixed('c', CASE_COLS)}, {_NO_ADDRESS}, {_prefixed('u', CUSTOMER_COLS)} "
    "FROM cases c LEFT JOIN metering_points p ON p.id = c.point_id "
    "JOIN processing_customers(ARRAY(SELECT customer_pk FROM cases WHERE id IN ({cases})), NULL) u "
    "ON u.id = c.customer_pk WHERE c.id IN ({cases}) ORDER BY c.id"
)
_POINTS_PROCESSING = (
    f"SELECT {POINT_COLS} FROM processing_points(ARRAY({{points}}), NULL) ORDER BY id"
)
# The restrictions of processing in force (GDPR art. 18: a data subject's request in state
# ``restricted``) of the cases' customers, and of a customer about to open one.
_RESTRICTIONS = (
    "SELECT 'r', customer_pk, id, ref, CAST(NULL AS INTEGER), CAST(NULL AS TEXT), "
    "CAST(NULL AS TEXT), CAST(NULL AS BOOLEAN) FROM cases "
    "WHERE workflow = 'privacy_request' AND state = 'restricted'"
)
CUSTOMER_RESTRICTIONS = (
    f"{_RESTRICTIONS} AND customer_pk IN (SELECT id FROM customers WHERE customer_id = :c)"
)
# The timers of the cases, their HES commands and the ones still out for their points, and the
# consents the cases and points name, and the restrictions of the cases' customers, as one
# result (a kind letter, then its columns). UNION ALL:
# a HES command or consent named twice is taken once by ``Cases._facts`` (a UNION made SQLite
# build a temporary table for every load).
_FACTS = (
    "SELECT 't', case_id, id, name, CAST(NULL AS INTEGER), status, CAST(NULL AS TEXT), "
    "CAST(NULL AS BOOLEAN) FROM timers WHERE case_id IN ({cases}) "
    "UNION ALL SELECT 'h', h.id, h.case_id, c.ref, h.point_id, h.action, h.status, "
    "h.ack_due_at IS NOT NULL FROM hes_commands h JOIN cases c ON c.id = h.case_id "
    "WHERE h.case_id IN ({cases}) "
    "UNION ALL SELECT 'h', h.id, h.case_id, c.ref, h.point_id, h.action, h.status, "
    "h.ack_due_at IS NOT NULL FROM hes_commands h JOIN cases c ON c.id = h.case_id "
    "WHERE h.point_id IN ({points}) AND (h.status IN ('pending', 'sent') "
    "OR (h.status = 'failed' AND h.ack_due_at IS NOT NULL)) "
    "UNION ALL SELECT 'c', id, case_id, CAST(NULL AS TEXT), customer_pk, CAST(NULL AS TEXT), "
    "CAST(NULL AS TEXT), ended_at IS NULL FROM consents WHERE case_id IN ({cases}) "
    "UNION ALL SELECT 'c', id, case_id, CAST(NULL AS TEXT), customer_pk, CAST(NULL AS TEXT), "
    "CAST(NULL AS TEXT), ended_at IS NULL FROM consents "
    "WHERE id IN (SELECT consent_id FROM metering_points WHERE id IN ({points})) "
    f"UNION ALL {_RESTRICTIONS} "
    "AND customer_pk IN (SELECT customer_pk FROM cases WHERE id IN ({cases}))"
)
SWAP_WITH_EVENT = (
    "WITH swapped AS (UPDATE cases SET state = ?, version = ?, holds_port = ?, active = ?, "
    "flags = ?, data = ?, last_hash = ?, updated_at = ?, workflow_version = ? "
    "WHERE id = ? AND version = ? RETURNING id) "
    "INSERT INTO case_events (case_id, seq, occurred_at, actor, actor_kind, trigger, from_state, "
    "to_state, workflow_version, data, prev_hash, hash) "
    "VALUES ((SELECT id FROM swapped), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# PostgreSQL: with the facts, the automatic closes of the points (what ``supply_ended`` reads
# while the decision is made), so that it costs no round trip of its own.
_CLOSES = (
    " UNION ALL SELECT 'x', point_id, customer_pk, data, CAST(NULL AS INTEGER), "
    "CAST(NULL AS TEXT), CAST(NULL AS TEXT), CAST(NULL AS BOOLEAN) FROM cases "
    "WHERE point_id IN ({points}) AND workflow = 'close_port' AND state <> 'cancelled'"
)
# The hashing keys of the cases' customers (``subject_keys``), for a command whose fields may
# carry personal values to hash: with the load, instead of a round trip while deciding.
_SUBJECT_KEYS = (
    "SELECT customer_pk, key FROM subject_keys "
    "WHERE customer_pk IN (SELECT customer_pk FROM cases WHERE id IN ({cases}))"
)
NC, NP = len(CASE_COLS.split(",")), len(POINT_COLS.split(","))
# The point of a case about a person, not a metering point (a data subject's request): its
# ``point_id`` is NULL; the decision sees a point that is no one's and has no port.
NO_POINT = PointRow(0, "", None, None, "", None, None, None, "none", None, None, datetime.min)
# The reasons of an automatic close that end a customer's supply on a point: whoever holds the
# point afterwards holds it from the close's effective time (Elhub periods end there).
SUPPLY_ENDS = ("move_out", "end_of_supply", "move_in")


@cache
def pg_statements(by: str, logged: bool, one: bool) -> tuple[str, str, str]:
    """PostgreSQL: the load's statements, each starting from the seeds (one round trip).

    ``one``: for a single key (a caseworker's command), compared as a scalar (``= :k``); else
    one array (``= ANY(:k)``), the same text for any number of keys. The server keeps one
    generic plan for a prepared statement only when it costs no more than planning each
    execution with its values: with a scalar it does (an index look-up either way), and the
    load is planned once per connection; with an array the generic plan assumes ten keys, so
    each execution was planned anew — 1.1 ms of the facts' 1.3 ms, measured."""
    cases, points = (seed.format(keys=_pg_keys(one)) for seed in _SEEDS[by])
    return (
        (_CASES_PROCESSING if logged else _CASES).format(cases=cases),
        (_FACTS + _CLOSES).format(cases=cases, points=points),
        (_POINTS_PROCESSING if logged else _POINTS).format(points=points),
    )


@cache
def pg_keys_statement(by: str, one: bool) -> str:
    """PostgreSQL: the cases' customers' hashing keys, from the load's seeds."""
    return _SUBJECT_KEYS.format(cases=_SEEDS[by][0].format(keys=_pg_keys(one)))


def _pg_keys(one: bool) -> str:
    return "= :k" if one else "= ANY(:k)"


@lru_cache(maxsize=64)
def sqlite_keys_statement(n_cases: int) -> str:
    return _SUBJECT_KEYS.format(cases=", ".join(f":c{i}" for i in range(n_cases)))


@lru_cache(maxsize=256)  # a batch's chunks come in many sizes
def sqlite_statements(n_cases: int, n_points: int) -> tuple[str, str, str]:
    """SQLite: the load's statements over ``n_cases`` case ids and ``n_points`` point ids."""
    cases = ", ".join(f":c{i}" for i in range(n_cases))
    points = ", ".join(f":p{i}" for i in range(n_points))
    return (
        _CASES.format(cases=cases),
        _FACTS.format(cases=cases, points=points),
        _POINTS.format(points=points),
    )
