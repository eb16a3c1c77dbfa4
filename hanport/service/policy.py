"""The decider's view of the configuration and the calendar, built once per application."""

from __future__ import annotations

from datetime import datetime

from hanport.bootstrap import App
from hanport.calendar import OSLO
from hanport.service.fields import clean_fields
from hanport.storage.uow import Repositories
from hanport.workflows.decider import Decision, Policy
from hanport.workflows.definition import Actor, Duration, Timer


def policy(app: App) -> Policy:
    """The application's ``Policy`` (made on first use, then kept on the app)."""
    if app.policy is None:
        app.policy = _make(app)
    policy_: Policy = app.policy
    return policy_


class Sources:
    """What a decision asks the database for while it decides: the id of a case it opens (its
    reference is made from it), the swap queue's expected wait (for the "queued" notice), and
    since when a customer can have held a point (for the instants a trigger takes)."""

    def __init__(self, app: App, uow: Repositories, now: datetime) -> None:
        self.app, self.uow, self.now = app, uow, now
        self._wait: tuple[int, int] | None = None
        self._since: dict[tuple[int, int], datetime | None] = {}
        self._secrets: dict[int, bytes] = {}
        self._keys: dict[int, str | None] = {}  # read with the load (``know_keys``)

    def next_case_id(self) -> int:
        return self.uow.ids.next_case_id()

    def swap_wait_weeks(self) -> tuple[int, int]:
        if self._wait is None:
            from hanport.service.swap_wait import expected_wait_weeks

            self._wait = expected_wait_weeks(self.uow, self.app.settings, self.now)
        return self._wait

    def customer_since(self, point_id: int, customer_pk: int) -> datetime | None:
        """The registry keeps no date a customer took a point over (imports record when the
        file said so, not when it happened); the nightly Elhub file does: the newcomer holds the
        point from the effective time of the last move or contract end of another customer
        there (``Cases.supply_ended``). None when no such close is recorded."""
        key = (point_id, customer_pk)
        if key not in self._since:
            self._since[key] = self.uow.cases.supply_ended(point_id, customer_pk)
        return self._since[key]

    def know_keys(self, keys: dict[int, str | None]) -> None:
        """The customers' hashing keys, read with the load (a customer missing from ``keys``
        has no key row: it is made when a value of theirs is hashed)."""
        self._keys.update(keys)

    def subject_secret(self, customer_pk: int) -> bytes:
        """The customer's hashing secret: their own key under the pepper. ``Refused`` for an
        erased customer (nothing of theirs is processed)."""
        if customer_pk not in self._secrets:
            known = (True, self._keys[customer_pk]) if customer_pk in self._keys else None
            self._secrets[customer_pk] = subject_secret_of(self.app, self.uow, customer_pk, known)
        return self._secrets[customer_pk]


def subject_secret_of(
    app: App, uow: Repositories, customer_pk: int, known: tuple[bool, str | None] | None = None
) -> bytes:
    """The customer's hashing secret; ``known``: their key row as the load read it."""
    from hanport.errors import Refused
    from hanport.storage.hashing import subject_secret

    has_row, key = known if known is not None else uow.subject_keys.get(customer_pk)
    if not has_row:  # a customer made before this database had keys, by a path that made none
        uow.subject_keys.create(customer_pk, app.clock.now())
        has_row, key = uow.subject_keys.get(customer_pk)
    if key is None:
        raise Refused("this customer was erased: nothing of theirs is processed", field="customer")
    return subject_secret(app.pepper(), key)


def decision_for(app: App, actor: Actor, now: datetime, uow: Repositories) -> Decision:
    """A decision for a command run by ``actor`` at ``now`` in the unit of work ``uow``."""
    return Decision(policy(app), actor, now, Sources(app, uow, now))


def _make(app: App) -> Policy:
    from hanport.address import normalise_street
    from hanport.storage.hashing import keyed_hash

    s, cal = app.settings, app.calendar

    def address_key(street: str | None, postal: str | None) -> str | None:
        """An address as compared: the street normalised, with its postal code."""
        if not street or not postal:
            return None
        return f"{normalise_street(street)}|{postal.strip()}"

    def delay(tm: Timer) -> Duration:
        assert tm.after is not None
        return s.timer_duration(tm.config_key, tm.after)

    def add(start: datetime, d: Duration) -> datetime:
        return cal.add(start, hours=d.hours, days=d.days, working_days=d.working_days)

    def hes_adapter(municipality: str) -> str:
        area = s.area(municipality)
        return area.hes_adapter if area else "manual"

    def area(municipality: str) -> dict[str, str] | None:
        found = s.area(municipality)
        if found is None:
            return None
        return {"municipality": municipality, "name": found.name, "vendor": found.vendor}

    return Policy(
        hash=keyed_hash,
        address_key=address_key,
        clean_fields=clean_fields,
        delay=delay,
        add=add,
        hes_adapter=hes_adapter,
        area=area,
        hes_max_attempts=s.hes_max_attempts,
        hes_backoff_minutes=s.hes_backoff_minutes,
        sender_name=s.sender_name,
        sender_address=s.sender_address,
        year=lambda now: now.astimezone(OSLO).year,
    )
