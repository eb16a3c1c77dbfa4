"""The intents a workflow declares on its transitions and states: what happens besides the state
change, as objects (``RecordConsent()``, ``SendHesCommand("open")``), each a pure rule over the
decision's facts that turns into rows to write (:mod:`workflows.writes`).

Reading a workflow module and the fragments it names tells the whole process; reading the
intent it names tells what that step does to consents, the port and the head-end system.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import TYPE_CHECKING, Any

from hanport.workflows.errors import Refusal
from hanport.workflows.model import Consent, HesCommand, NewId
from hanport.workflows.writes import (
    ConsentChanged,
    HesCommandSettled,
    MeterInstalled,
    NewConsent,
)

if TYPE_CHECKING:
    from hanport.workflows.decider import Step


def _iso(step: Step, value: Any) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(value) if isinstance(value, str) else value


# --- the consent ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordConsent:
    """Keep the signed consent (who signed, the address as written and whether it matched the
    installation address, the security option, the declaration shown, when it arrived); a
    consent recorded earlier on the case ends as ``cancelled``."""

    def apply(self, step: Step) -> None:
        f, facts, case = step.fields, step.facts, step.case
        assert facts is not None
        given = facts["consent_address"]
        if given is not None and given == facts["installation_address"]:
            match = "installation"
        elif given is not None and given == facts["postal_address"]:
            match = "postal_address"
        else:
            match = "none"
        dest = step.choice.transition.dest if step.choice else None
        cid = NewId("consents")
        step.write(
            NewConsent(
                cid,
                {
                    "case_id": case.id,
                    "customer_pk": case.customer.pk,
                    "point_id": case.point.id,
                    "meter_number": case.point.meter_number,
                    "source": "case",
                    "signer_name": f.get("signer_name"),
                    "signer_role": f.get("signer_role"),
                    "address_written": f.get("address"),
                    "postal_code_written": f.get("postal_code"),
                    "address_match": match,
                    "security": f.get("security"),
                    "channel": f.get("channel"),
                    "from_email": f.get("from_email"),
                    "declaration_version": f.get("declaration_version"),
                    "received_at": _iso(step, f.get("received_at")),
                    "recorded_at": step.now,
                    "recorded_by": step.actor.name,
                    "validated_by": step.actor.name if dest != "address_review" else None,
                },
            )
        )
        previous = case.data.get("consent_id")
        if previous and step.decision.consent_live(previous):
            step.decision.end_consent(previous, "cancelled")
        step.decision.consents[cid] = Consent(cid, case.customer.pk, True)
        case.data["consent_id"] = cid
        step.record("consent_id", cid)
        step.record("address_match", match)


@dataclass(frozen=True)
class ValidateConsent:
    """A supervisor accepted the consent despite the mismatch: they are its validator."""

    def apply(self, step: Step) -> None:
        cid = step.case.data.get("consent_id")
        if cid:
            step.write(ConsentChanged(cid, {"validated_by": step.actor.name}))


@dataclass(frozen=True)
class EndConsent:
    """End the case's consent — and, with ``point``, the consent the port is open under (a
    close ends whoever's consent holds the port). The reason: the one of the case that took the
    point over, else ``reason``, else the close's reason (``withdrawn`` on request)."""

    reason: str | None = None
    point: bool = False

    def apply(self, step: Step) -> None:
        case, d = step.case, step.decision
        reason = (
            case.superseded_reason or self.reason or case.data.get("close_reason") or "withdrawn"
        )
        ended = []
        own = case.data.get("consent_id")
        if own and d.consent_live(own):
            d.end_consent(own, reason)
            ended.append(own)
        held = case.point.consent_id if self.point else None
        if held and d.consent_live(held):
            d.end_consent(held, reason)
            ended.append(held)
        if ended:
            step.record("consent_ended", {"ids": ended, "reason": reason})


@dataclass(frozen=True)
class SetCaseData:
    key: str
    value: Any

    def apply(self, step: Step) -> None:
        step.case.data[self.key] = self.value


@dataclass(frozen=True)
class RecordDue:
    """Keep in the case data when the state timer ``timer`` will fire (UTC), under ``key``:
    a notice tells the customer by when (e.g. the end of the objection window)."""

    timer: str
    key: str

    def apply(self, step: Step) -> None:
        tm = next(t for t in step.wf.timers if t.name == self.timer)
        due = step.policy.add(step.now, step.policy.delay(tm))
        step.case.data[self.key] = due.astimezone(UTC).isoformat()


@dataclass(frozen=True)
class ExtendDeadline:
    """Move a data subject's request's deadline (``due_at`` in the case data) ``months``
    further (art. 12(3): "by two further months"): one month and ``months`` after receipt
    (``received_at``), the earlier deadline kept as ``due_at_before``. The state is re-entered,
    so its deadline timer starts again at the new instant."""

    months: int

    def apply(self, step: Step) -> None:
        from datetime import datetime

        from hanport.calendar import last_day, months_after

        data = step.case.data
        due = months_after(datetime.fromisoformat(data["received_at"]), 1 + self.months)
        data["due_at_before"] = data["due_at"]
        data["due_at"] = due.astimezone(UTC).isoformat()
        data["answer_by"] = last_day(due)
        step.record("deadline", data["due_at"])


# --- the meter ------------------------------------------------------------------------------


@dataclass(frozen=True)
class InstallMeter:
    """The new meter (with a closed HAN port) replaces the old one on the point; a number
    already registered elsewhere (or current here) is refused."""

    def apply(self, step: Step) -> None:
        case, point = step.case, step.case.point
        number = str(step.fields["meter_number"])
        installed_at = _iso(step, step.fields["installed_at"])
        for point_id, current, gsrn in point.meter_seen.get(number, []):
            if point_id != point.id or current:
                raise Refusal(
                    f"meter number {number} is already registered on metering point {gsrn}",
                    field="meter_number",
                )
        step.write(MeterInstalled(point.id, number, installed_at, case.ref))
        step.set_port(
            "closed",
            f"new meter {number} installed ({case.ref})",
            meter_number=number,
            at=installed_at,
        )
        point.meter_number = number
        step.record("meter_installed", {"meter_number": number, "at": installed_at.isoformat()})


@dataclass(frozen=True)
class TakeOverPoint:
    """A close takes the point over: the opening or swap in flight on it is cancelled, its
    consent ending with this close's reason (a second close is refused)."""

    def apply(self, step: Step) -> None:
        case, d = step.case, step.decision
        holder = d.holder_of(case.point)
        if holder is None or holder is case:
            return
        if holder.workflow == "close_port":
            raise Refusal(f"a close is already in progress for this point ({holder.ref})")
        holder.superseded_reason = case.data.get("close_reason") or "withdrawn"
        d.fire(
            holder,
            "cancel",
            {"reason": f"superseded by close {case.ref}"},
            auto=True,
            extra={"superseded_by": case.ref},
        )
        step.record("took_over", holder.ref)
        d.cancelled.append(holder.ref)


# --- the head-end system --------------------------------------------------------------------


@dataclass(frozen=True)
class SendHesCommand:
    """Queue the command to open or close the port. It leaves after every earlier command for
    the point is settled; until it leaves, a port with another case's command ahead stays as
    that one leaves it."""

    action: str  # open | close

    def apply(self, step: Step) -> None:
        step.send_hes(self.action)


@dataclass(frozen=True)
class CountHesFailure:
    """The command failed or timed out: it is marked failed and the case counts one more."""

    def apply(self, step: Step) -> None:
        case = step.case
        action = "open" if case.state == "opening" else "close"
        latest = _latest(case.hes, action)
        error = str(step.fields.get("error") or "failure reported")
        if latest is not None and latest.status in ("pending", "sent"):
            latest.status = "failed"
            step.write(HesCommandSettled(latest.id, "failed", step.now, error=error))
        failures = int(case.data.get("hes_failures", 0)) + 1
        case.data["hes_failures"] = failures
        step.record("hes_failures", failures)


@dataclass(frozen=True)
class RetryHesCommand:
    """Send the command again after a backoff that doubles per failure; the timeout restarts
    from the new send time."""

    action: str

    def apply(self, step: Step) -> None:
        from hanport.workflows.step import state_timers

        case, policy = step.case, step.policy
        failures = int(case.data.get("hes_failures", 1))
        not_before = step.now + timedelta(minutes=policy.hes_backoff_minutes * 2 ** (failures - 1))
        step.send_hes(self.action, not_before)
        timeouts = [
            tm for tm in state_timers(step.wf, case.state) if tm.trigger == "report_failure"
        ]
        step.cancel_timers([tm.name for tm in timeouts], "retry scheduled")
        for tm in timeouts:
            d = policy.delay(tm)
            step.start_timer(tm, at=not_before + timedelta(hours=d.hours, days=d.days))


@dataclass(frozen=True)
class ResetHesAttempts:
    def apply(self, step: Step) -> None:
        step.case.data["hes_failures"] = 0


@dataclass(frozen=True)
class PortAcknowledged:
    """The HES (or a caseworker reading the vendor's answer) confirms the case's command: the
    port is open under the case's consent, or closed. Refused while another case's command for
    the point is still out: it would change the port after this answer."""

    action: str  # open | close

    def apply(self, step: Step) -> None:
        case = step.case
        ahead = case.point.hes_out_for_others(case.id)
        if ahead:
            c = ahead[0]
            raise Refusal(
                f"{c.action} command #{c.id} of {c.case_ref} for this metering point is still "
                f"{'out' if c.status != 'pending' else 'waiting to be sent'}; it would change "
                "the port after this answer: record it once that one is settled"
            )
        latest = _latest(case.hes, self.action)
        result = "opened" if self.action == "open" else "closed"
        if latest is not None and latest.status in ("pending", "sent"):
            latest.status = "acked"
            step.write(HesCommandSettled(latest.id, "acked", step.now, result=result))
        by = f"{result}, acknowledged by {step.actor.name} ({case.ref})"
        if self.action == "open":
            cid = case.data.get("consent_id")
            step.set_port("open", by, consent_id=cid)
            if cid:
                step.write(ConsentChanged(cid, {"opened_at": step.now}))
        else:
            step.set_port("closed", by, consent_id=None)


@dataclass(frozen=True)
class CloseBehind:
    """An opening cancelled after its open command was queued must never leave the port open:
    commands that have not left are recalled; if one ever left (even one that failed or timed
    out: it may still be carried out), a close follows it."""

    def apply(self, step: Step) -> None:
        case = step.case
        opens = [c for c in case.hes if c.action == "open"]
        if not opens:
            return
        ever_left = any(c.status in ("sent", "failed", "acked") for c in opens)
        for c in opens:
            if c.status == "pending":
                c.status = "cancelled"
                step.write(HesCommandSettled(c.id, "cancelled", step.now))
        if not ever_left:
            recalled = [c.id for c in opens]
            if not case.point.hes_out_for_others(case.id):
                step.set_port("closed", f"open command recalled before it left ({case.ref})")
            # else it waited behind another case's command, which decides the port
            step.record("hes_open_recalled", recalled)
            return
        if case.superseded_reason is not None:
            return  # the case taking over enqueues its own close right behind
        step.send_hes("close")


@dataclass(frozen=True)
class KeepClosing:
    """A close cancelled after its consent ended must still close the port: a close command
    still out stays where it is; when none is (every attempt failed), one more is queued."""

    def apply(self, step: Step) -> None:
        closes = [c for c in step.case.hes if c.action == "close"]
        if not closes:
            return  # never reached ``closing``: no consent was ended, nothing to close
        out = [c.id for c in closes if c.status in ("pending", "sent")]
        if out:
            step.record("hes_close_kept", out)
            return
        step.send_hes("close")


# --- flags ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClearFlag:
    """Clear the flag the command names (refused when it is not set)."""

    def apply(self, step: Step) -> None:
        name = str(step.fields["flag"])
        if name not in step.case.flags:
            raise Refusal(f"flag {name} is not set on {step.case.ref}", field="flag")
        step.flag(name, False)


def _latest(commands: list[HesCommand], action: str) -> HesCommand | None:
    mine = [c for c in commands if c.action == action]
    return mine[-1] if mine else None


Intent = (
    RecordConsent
    | ValidateConsent
    | EndConsent
    | SetCaseData
    | InstallMeter
    | TakeOverPoint
    | SendHesCommand
    | CountHesFailure
    | RetryHesCommand
    | ResetHesAttempts
    | PortAcknowledged
    | CloseBehind
    | KeepClosing
    | ClearFlag
)
