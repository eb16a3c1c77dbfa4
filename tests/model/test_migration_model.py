"""Model-based test of migration: a Hypothesis ``RuleBasedStateMachine`` opens Nore cases on v1
or v2 (a release toggles which new cases start on), records consents of every kind, reviews,
objects, cancels, ticks the simulated clock and HES — and migrates live cases between v1 and v2
at random moments (v2 → v1 only where a state maps). After every step the port and consent
invariants hold, and every few steps every chain verifies and every case replays:

- a case's version is that of its last event: the one it opened under, changed only by its
  migration events;
- at most one case holds a point; an open port has a live consent behind it unless a close is
  on its way; a case that ended ``objected``, ``rejected``, ``cancelled`` or ``expired`` has no
  live consent;
- under v2 nothing opens quietly: a v2 event enters ``opening`` only by ``window_closed``, by
  ``confirm_identity`` for a customer without an e-mail on file, by a consent e-mailed from the
  address on file, or by ``retry``.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from hanport import service
from hanport.bootstrap import App, bootstrap
from hanport.config import load
from hanport.entrypoints.tick import tick
from hanport.errors import Conflict, NotFound, Refused
from hanport.identifiers import gsrn_with_check_digit
from hanport.queries import audit
from hanport.service.commands import MigrateCases
from hanport.service.roles import resolve
from tests.faults.helpers import import_registry
from tests.support import (
    NORE_POINT,
    NORE_POINT_2,
    PINNED,
    START,
    advance,
    consent,
    open_case,
    seed,
)

# point: (customer, signer, street, postal code, e-mail on file): the test registry's two free
# Nore points (Nils has no e-mail on file) and five more (tests.faults.helpers.import_registry).
POINTS = {
    NORE_POINT: ("1001", "Kari Nordmann", "Sentrumsvegen 5", "3630", "kari@example.no"),
    NORE_POINT_2: ("1005", "Nils Li", "Nedre Dal 2", "3631", None),
    **{
        gsrn_with_check_digit(f"70705753{i:09d}"): (
            str(600000 + i), f"Kunde {i}", f"Bjørkeveien {i}", "3630", f"k{i}@example.no"
        )
        for i in range(5)
    },
}  # fmt: skip
KINDS = {
    "plain": {},
    "email_on_file": {"channel": "email"},
    "other_email": {"from_email": "someone@example.com"},
    "representative": {"signer_role": "power_of_attorney", "signer_name": "Ola Fullmektig"},
    "wrong_address": {"address": "Kongens gate 5"},
}
TRIGGERS = ("request_consent", "approve_address", "confirm_identity", "object", "cancel", "reject")
QUIET_OK = {"window_closed", "confirm_identity", "record_consent", "retry"}


class MigrationMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="hanport-migration-model-"))
        self.app: App | None = None
        self.refs: list[str] = []
        self.steps = 0

    @initialize(failure_share=st.sampled_from([0.0, 0.0, 0.5]))
    def start(self, failure_share: float) -> None:
        env = {
            "HANPORT_DATABASE_URL": f"sqlite:///{self.tmp / 'hanport.db'}",
            "HANPORT_HES_ADAPTER": "simulated",
            "HANPORT_ROLES": "cw=caseworker,sup=supervisor",
            **PINNED,
        }
        s = load(env, user="cw", hes_sim_failure_share=failure_share, maildir=str(self.tmp / "m"))
        self.app = bootstrap(s, now=START, simulated=True)
        seed(self.app, self.tmp / "registry")
        import_registry(self.app, self.tmp / "more", 5, 0, 0)
        self.cw, self.sup = resolve(self.app, "cw"), resolve(self.app, "sup")

    def teardown(self) -> None:
        try:
            if self.app is not None:
                self._audit()
        finally:
            if self.app is not None:
                self.app.close()
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _rows(self, sql: str) -> list[dict[str, Any]]:
        assert self.app is not None
        from sqlalchemy import text

        with self.app.engine.connect() as conn:
            return [dict(r) for r in conn.execute(text(sql)).mappings()]

    def _try(self, fn: Any) -> None:
        # Refusals are part of the game; they must change nothing (the invariants).
        with contextlib.suppress(Refused, NotFound, Conflict):
            fn()

    def _consent(self, point: str, kind: str) -> dict[str, str]:
        assert self.app is not None
        _, signer, street, postal, email = POINTS[point]
        over = {"signer_name": signer, "address": street, "postal_code": postal, **KINDS[kind]}
        if kind == "email_on_file":
            over["from_email"] = email or "nobody@example.com"
        return consent(received_at=self.app.clock.now().isoformat(), **over)

    # --- rules ------------------------------------------------------------------------------

    @rule()
    def release(self) -> None:
        """Toggle the version new Nore cases start on (v1 pinned, or the newest)."""
        assert self.app is not None
        pinned = self.app.settings.workflow_versions
        self.app.settings = replace(
            self.app.settings, workflow_versions={} if pinned else {"nore_open": 1}
        )

    @rule(point=st.sampled_from(sorted(POINTS)), kind=st.sampled_from(["none", *KINDS]))
    def open_nore(self, point: str, kind: str) -> None:
        assert self.app is not None
        customer = POINTS[point][0]
        fields = None if kind == "none" else self._consent(point, kind)
        app = self.app
        self._try(
            lambda: self.refs.append(
                open_case(app, self.cw, "nore_open", customer=customer, metering_point=point,
                          fields=fields).case
            )
        )  # fmt: skip

    @rule(pick=st.integers(0, 30), trigger=st.sampled_from(TRIGGERS))
    def fire(self, pick: int, trigger: str) -> None:
        if not self.refs:
            return
        assert self.app is not None
        ref = self.refs[pick % len(self.refs)]
        who = self.sup if trigger == "approve_address" else self.cw
        fields = {"reason": "model"} if trigger in ("cancel", "reject") else None
        note = "model" if trigger in ("approve_address", "confirm_identity") else None
        app = self.app
        self._try(lambda: advance(app, who, ref, trigger, fields, note=note))

    @rule(pick=st.integers(0, 30), kind=st.sampled_from(sorted(KINDS)))
    def record_consent(self, pick: int, kind: str) -> None:
        if not self.refs:
            return
        assert self.app is not None
        ref = self.refs[pick % len(self.refs)]
        point = self._rows(
            f"SELECT p.gsrn FROM cases c JOIN metering_points p ON p.id = c.point_id WHERE c.ref = '{ref}'"
        )[0]["gsrn"]
        fields = self._consent(point, kind)
        app = self.app
        self._try(lambda: advance(app, self.cw, ref, "record_consent", fields))

    @rule(minutes=st.sampled_from([11, 16, 60, 24 * 60 + 5, 3 * 24 * 60]))
    def tick(self, minutes: int) -> None:
        assert self.app is not None
        self.app.clock.advance(timedelta(minutes=minutes))  # type: ignore[attr-defined]
        tick(self.app)

    @rule(back=st.booleans(), some=st.booleans(), pick=st.integers(0, 30))
    def migrate(self, back: bool, some: bool, pick: int) -> None:
        assert self.app is not None
        a, b = (2, 1) if back else (1, 2)
        mapping = {"objection_window": "requested", "identity_review": "requested"} if back else {}
        cases = (self.refs[pick % len(self.refs)],) if some and self.refs else ()
        report = service.run(
            self.app, self.sup, MigrateCases("nore_open", a, b, mapping, cases, apply=True)
        )
        for r in report.refused:  # only cases that are not live on ``a`` (named ones)
            assert "only live cases" in r["reason"] or f"not v{a}" in r["reason"], r
        event(f"migrated v{a}->v{b}: {'none' if not report.migrated else 'some'}")

    # --- invariants -------------------------------------------------------------------------

    @invariant()
    def versions_follow_the_chain(self) -> None:
        if self.app is None:
            return
        rows = self._rows(
            "SELECT c.ref, c.workflow_version AS v, e.trigger, e.workflow_version AS ev, e.seq "
            "FROM cases c JOIN case_events e ON e.case_id = c.id ORDER BY c.id, e.seq"
        )
        last: dict[str, int] = {}
        current: dict[str, int] = {}
        for r in rows:
            if r["trigger"] == "open":
                current[r["ref"]] = r["ev"]
            elif r["trigger"] == "migrate":
                assert r["ev"] != current[r["ref"]], r
                current[r["ref"]] = r["ev"]
            assert r["ev"] == current[r["ref"]], r
            last[r["ref"]] = r["ev"]
        for r in rows:
            assert r["v"] == last[r["ref"]], r

    @invariant()
    def ports_and_consents(self) -> None:
        if self.app is None:
            return
        holders = self._rows(
            "SELECT point_id, count(*) AS n FROM cases WHERE holds_port GROUP BY point_id"
        )
        assert all(h["n"] == 1 for h in holders), holders
        closing = {
            r["point_id"]
            for r in self._rows(
                "SELECT point_id FROM hes_commands WHERE action = 'close' "
                "AND status IN ('pending', 'sent', 'failed')"
            )
        }
        for p in self._rows(
            "SELECT p.id, p.gsrn, p.han_port, k.ended_at FROM metering_points p "
            "LEFT JOIN consents k ON k.id = p.consent_id"
        ):
            if p["han_port"] == "open" and p["id"] not in closing:
                assert p["ended_at"] is None, p
        ended = self._rows(
            "SELECT c.ref, c.state FROM consents k JOIN cases c ON c.id = k.case_id "
            "WHERE k.ended_at IS NULL AND c.state IN ('objected', 'rejected', 'cancelled', 'expired')"
        )
        assert not ended, ended

    @invariant()
    def nothing_opens_quietly_on_v2(self) -> None:
        if self.app is None:
            return
        for e in self._rows(
            "SELECT c.ref, e.trigger, e.data FROM case_events e JOIN cases c ON c.id = e.case_id "
            "WHERE e.workflow_version = 2 AND e.to_state = 'opening' AND e.from_state <> 'opening'"
        ):
            assert e["trigger"] in QUIET_OK, e
            data = json.loads(e["data"])
            if e["trigger"] == "record_consent":
                assert data["fields"]["channel"] == "email", e
                assert data["guards"]["email_from_registered"]["result"], e
            if e["trigger"] == "confirm_identity":
                assert not data["guards"].get("has_email_on_file", {"result": False})["result"], e

    @invariant()
    def audit_every_few_steps(self) -> None:
        self.steps += 1
        if self.app is not None and self.steps % 8 == 0:
            self._audit()

    def _audit(self) -> None:
        assert self.app is not None
        report = audit.verify(self.app)
        assert report.ok, report.problems[:3]
        diverging = [(r.case, r.divergences[:2]) for r in audit.replay(self.app) if r.divergences]
        assert not diverging, diverging


MigrationMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TestMigrationModel = MigrationMachine.TestCase
