"""Who is acting, and what their role lets them do. Enforced in the service layer."""

from __future__ import annotations

from hanport.bootstrap import App
from hanport.errors import Refused
from hanport.workflows.definition import Actor, Role


def resolve(app: App, user: str | None = None) -> Actor:
    """The actor for ``user`` (default: the configured user). Unknown users are refused, except
    that an embedded database with no roles configured treats its local user as a caseworker."""
    name = user or app.settings.user
    roles = app.settings.roles
    if name in roles:
        role = roles[name]
        if role is Role.SYSTEM:
            return Actor(name, role, "system")
        return Actor(name, role, role.value)
    if not roles and app.backend == "sqlite" and name == app.settings.user:
        return Actor(name, Role.CASEWORKER, "caseworker")
    raise Refused(
        f"user {name!r} has no role here; ask an administrator to add it to HANPORT_ROLES "
        "or the [roles] table of hanport.toml",
        field="user",
    )


def require_writer(actor: Actor) -> None:
    if actor.role is Role.AUDITOR:
        raise Refused(f"{actor.name} is an auditor: auditors can look but change nothing")


def require_supervisor(actor: Actor, what: str) -> None:
    if actor.role not in (Role.SUPERVISOR, Role.SYSTEM):
        raise Refused(f"{what} needs a supervisor; {actor.name} is {actor.role.value}")
