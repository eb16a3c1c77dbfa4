"""``workflow migrate``: live cases moved from one version of their workflow to another.

Explicit and all-or-nothing per case: each case is loaded, planned (:mod:`workflows.migration`:
its state mapped, its timers planned again, refused when its state has no mapping) and written
with its migration event in one transaction of its own, so a run killed at any point leaves
every case either on the old version or wholly on the new one, and a rerun finishes the rest
(a case already on the target is skipped). A dry run plans every case the same way and writes
nothing. Supervisors only.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hanport import workflows
from hanport.bootstrap import App
from hanport.errors import Conflict, NotFound, Refused
from hanport.service import roles
from hanport.service.cases import _load
from hanport.service.commands import MigrateCases
from hanport.service.policy import decision_for
from hanport.service.unit import transaction
from hanport.service.writer import write
from hanport.workflows import migration
from hanport.workflows.definition import Actor, Workflow
from hanport.workflows.errors import Refusal


@dataclass
class MigrationReport:
    workflow: str
    from_version: int
    to_version: int
    applied: bool
    mapping: dict[str, str]
    migrated: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, str]] = field(default_factory=list)
    already: list[str] = field(default_factory=list)  # named cases on the target already
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "workflow": self.workflow,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "applied": self.applied,
            "mapping": self.mapping,
            "migrated": self.migrated,
            "refused": self.refused,
            "already_migrated": self.already,
        }


def version(name: str, number: int) -> Workflow:
    try:
        return workflows.get(name, number)
    except KeyError:
        known = workflows.versions_of(name)
        if not known:
            raise NotFound(f"no workflow {name!r}") from None
        have = ", ".join(str(v) for v in known)
        raise NotFound(
            f"{workflows.canonical_name(name)} has no version {number} (versions: {have})"
        ) from None


def migrate(app: App, actor: Actor, cmd: MigrateCases) -> MigrationReport:
    roles.require_supervisor(actor, "workflow migrate")
    a, b = version(cmd.workflow, cmd.from_version), version(cmd.workflow, cmd.to_version)
    if a is b:
        raise Refused(f"--from and --to are both v{a.version}: nothing to migrate")
    try:
        migration.check_mapping(a, b, cmd.mapping)
    except Refusal as exc:
        raise Refused(str(exc), field="map") from None
    started = time.perf_counter()
    report = MigrationReport(a.name, a.version, b.version, cmd.apply, dict(cmd.mapping))
    for n, ref in enumerate(_candidates(app, a, b, cmd, report), 1):
        try:
            report.migrated.append(_one(app, actor, ref, b, cmd.mapping, apply=cmd.apply))
        except (Refused, Conflict) as exc:
            report.refused.append({"case": ref, "reason": str(exc)})
        if cmd.progress is not None:
            cmd.progress(n)
    report.seconds = time.perf_counter() - started
    return report


def _candidates(
    app: App, a: Workflow, b: Workflow, cmd: MigrateCases, report: MigrationReport
) -> list[str]:
    """The live cases on ``a`` (or those named, each checked), in id order."""
    refs = [r.strip().upper() for r in cmd.cases] if cmd.cases else None
    with transaction(app) as uow:
        rows = uow.cases.on_version(a.name, a.version, refs)
    if refs is None:
        return [r[0] for r in rows]
    found = {r[0]: r for r in rows}
    out = []
    for ref in refs:
        row = found.get(ref)
        why = _not_a_candidate(row, a, b)
        if row is not None and why is None:
            out.append(ref)
        elif row is not None and (row[1], row[2]) == (b.name, b.version):
            report.already.append(ref)
        else:
            report.refused.append({"case": ref, "reason": why or f"case {ref} not found"})
    return out


def _not_a_candidate(
    row: tuple[str, str, int, str, bool] | None, a: Workflow, b: Workflow
) -> str | None:
    if row is None:
        return None
    ref, name, ver, state, active = row
    if name != a.name:
        return f"{ref} is a {name} case, not {a.name}"
    if ver != a.version:
        return f"{ref} is on {name} v{ver}, not v{a.version}"
    if not active:
        return f"{ref} is {state} (final): only live cases migrate"
    return None


def _one(
    app: App, actor: Actor, ref: str, target: Workflow, mapping: Mapping[str, str], *, apply: bool
) -> dict[str, Any]:
    """Plan (and with ``apply``, write and commit) one case's migration."""
    with transaction(app) as uow:
        decision = decision_for(app, actor, app.clock.now(), uow)
        case = _load(uow, decision, "ref", ref).get(ref)
        if case is None:
            raise NotFound(f"case {ref} not found")
        plan = decision.migrate(case, target, mapping, uow.cases.history(int(case.id)))
        if apply:
            write(app, uow, decision)
            uow.commit()
    return plan.as_dict()
