"""``audit export``: one case's evidence in one file — the case, its events with their hashes,
the path it took, its consent, its HES commands with their answers, its point's port timeline
with every interval open without a live consent, how it ended (the cancel reason, who
superseded whom), its mails as sent, and the hash chain's and the replay's verdicts.

Notes (the cancel reason among them), who signed the consent and what the mails said are
personal data: read only with an ``Access`` (``--personal``), each read logged in the access
log. The HTML is made by :mod:`hanport.queries.evidence_html`.
"""

from __future__ import annotations

import json
from typing import Any

from hanport.bootstrap import App
from hanport.calendar import isoformat_utc
from hanport.queries import audit
from hanport.queries.cases import case_view
from hanport.queries.mail import show_mail
from hanport.storage.views import reading
from hanport.storage.views.hes import CommandAnswered
from hanport.storage.views.personal import Access

CASE_FIELDS = (
    "case",
    "workflow",
    "workflow_version",
    "state",
    "version",
    "flags",
    "metering_point",
    "meter_number",
    "customer",
    "created_at",
)
MAIL_FIELDS = (
    "id",
    "seq",
    "template",
    "language",
    "recipient",
    "status",
    "message_id",
    "subject",
    "text",
    "html",
    "sent_at",
    "created_at",
)
WITHHELD = "note withheld — export with --personal"


def versions(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The workflow versions the case ran under, in order: each with its first and last event,
    and for a migration who moved it and when."""
    out: list[dict[str, Any]] = []
    for e in history:
        v = e["workflow_version"]
        if out and out[-1]["version"] == v:
            out[-1]["to_seq"] = e["seq"]
            continue
        migrated = e["trigger"] == "migrate"
        out.append(
            {
                "version": v,
                "from_seq": e["seq"],
                "to_seq": e["seq"],
                "migrated_by": e["actor"] if migrated else None,
                "migrated_at": e["at"] if migrated else None,
            }
        )
    return out


def evidence(app: App, ref: str, access: Access | None = None) -> dict[str, Any]:
    """The case's evidence; its notes, who signed its consent and what its mails said only
    with ``access`` (each read logged under it)."""
    view = case_view(app, ref, access)
    with reading(app.engine) as views:
        case = views.cases.by_ref(view["case"])
        assert case is not None
        consent = audit.consent_view(views, json.loads(case.data).get("consent_id"), access)
        mail_ids = [m.id for m in views.mail.of_case(case.id)]
        commands = [hes_entry(c) for c in views.hes.answered_of_case(case.id)]
    history = view["history"]
    port = port_section(app, view["metering_point"], view["case"])
    mails = [{k: m[k] for k in MAIL_FIELDS} for m in (show_mail(app, i, access) for i in mail_ids)]
    return {
        "kind": "hanport-case-evidence",
        "exported_at": isoformat_utc(app.clock.now()),
        "personal": access is not None,
        "case": {k: view[k] for k in CASE_FIELDS},
        "events": history,
        "versions": versions(history),
        "path": [
            {"seq": e["seq"], "trigger": e["trigger"], "from": e["from"], "to": e["to"]}
            for e in history
            if e["from"]
        ],
        "consent": consent,
        "hes_commands": commands,
        "port": port,
        "ending": ending(history, view["notes"]),
        "mails": mails,
        "verification": audit.verify(app, view["case"]).as_dict(),
        "replay": audit.replay(app, view["case"])[0].as_dict(),
    }


def hes_entry(c: CommandAnswered) -> dict[str, Any]:
    """A command and its answer, as the evidence shows it."""

    def at(dt: Any) -> str | None:
        return isoformat_utc(dt) if dt else None

    return {
        "id": c.id,
        "action": c.action,
        "status": c.status,
        "attempt": c.attempt,
        "sends": c.sends,
        "adapter": c.adapter,
        "created_at": at(c.created_at),
        "sent_at": at(c.sent_at),
        "done_at": at(c.done_at),
        "result": c.result,
        "error": c.error,
        "ack_outcome": c.ack_outcome,
        "answer": answer(c),
    }


def answer(c: CommandAnswered) -> str:
    """What became of the command, in words."""
    if c.status == "acked":
        return f"acknowledged: {c.result or c.ack_outcome or c.action}"
    if c.status == "failed":
        late = " (the gateway's answer still due)" if c.ack_outcome is None else ""
        return f"failed: {c.error or 'no reason given'}{late}"
    if c.status == "sent":
        return "sent, no answer yet"
    if c.status == "pending":
        return "not sent yet"
    return c.status  # cancelled, superseded: never answered


def port_section(app: App, gsrn: str | None, ref: str) -> dict[str, Any] | None:
    """The point's port timeline (the entries this case caused marked) and every interval in
    which the port was open without a live consent — as ``audit port`` shows them."""
    if gsrn is None:
        return None
    timeline = audit.port(app, gsrn)
    entries = [{**t, "this_case": t["case"] == ref} for t in timeline["timeline"]]
    unconsented = [
        {
            **t["open_without_live_consent"],
            "state": t["state"],
            "cause": t["cause"],
            "case": t["case"],
        }
        for t in entries
        if t["open_without_live_consent"]
    ]
    return {
        "metering_point": gsrn,
        "meter_number": timeline["meter_number"],
        "port_now": timeline["port_now"],
        "timeline": entries,
        "open_without_live_consent": unconsented,
    }


def ending(history: list[dict[str, Any]], notes: list[dict[str, Any]] | None) -> dict[str, Any]:
    """How the case ended, if it was cancelled, and who superseded whom: the close that took
    it over (``superseded_by``), the cases it took over itself (``took_over``)."""
    took_over = [
        e["data"]["effects"]["took_over"]
        for e in history
        if "took_over" in e["data"].get("effects", {})
    ]
    cancel = next((e for e in reversed(history) if e["to"] == "cancelled"), None)
    result: dict[str, Any] = {"took_over": took_over, "cancelled": None}
    if cancel is None:
        return result
    data = cancel["data"]
    has_reason = "reason" in data.get("personal", {}) or "reason" in data.get("fields", {})
    result["cancelled"] = {
        "seq": cancel["seq"],
        "at": cancel["at"],
        "by": cancel["actor"],
        "trigger": cancel["trigger"],
        "from": cancel["from"],
        "automatic": bool(data.get("auto")),
        "superseded_by": data.get("superseded_by"),
        "reason": _reason(cancel["seq"], has_reason, notes),
        "reason_withheld": has_reason and notes is None,
    }
    return result


def _reason(seq: int, has_reason: bool, notes: list[dict[str, Any]] | None) -> str | None:
    """The cancel's reason: its note's text, or why it is not shown."""
    if not has_reason:
        return None
    if notes is None:
        return WITHHELD
    note = next((n for n in notes if n["seq"] == seq and n["kind"] == "reason"), None)
    if note is None:
        return "note not found"
    return note["text"] if note["text"] is not None else "note erased"
