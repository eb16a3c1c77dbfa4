"""Who is acting, and what their role lets them do. Enforced in the service layer.

Who acts is what the system says, not what the caller types:

- on PostgreSQL, the database session user (each person logs in as their own role), whose
  hanport role is their membership of a group role (:data:`GROUPS`);
- on the embedded SQLite, the operating-system login, mapped by the roles configuration of that
  one machine (no roles configured: the login is a caseworker).

``--as`` / ``HANPORT_USER`` name someone else. That is honoured on a database whose clock was
made simulated when it was created (the demo's and the tests' databases: there the roles
configuration maps every name), or for a service account allowed to impersonate (PostgreSQL: a
member of ``hanport_impersonate``; SQLite: a login listed in ``impersonators``) — the events'
actor is then the service account and ``data.on_behalf_of`` the person. Elsewhere it is
refused."""

from __future__ import annotations

import getpass
from dataclasses import dataclass

from hanport.bootstrap import App
from hanport.errors import Refused
from hanport.workflows.definition import Actor, Role

# PostgreSQL group roles and the hanport role they give, strongest first: a member of several
# gets the first (a supervisor's role is usually also a member of hanport_caseworker).
GROUPS: dict[str, Role] = {
    "hanport_scheduler": Role.SYSTEM,
    "hanport_batch": Role.SYSTEM,
    "hanport_supervisor": Role.SUPERVISOR,
    "hanport_caseworker": Role.CASEWORKER,
    "hanport_privacy": Role.PRIVACY,
    "hanport_auditor": Role.AUDITOR,
}
IMPERSONATE = "hanport_impersonate"


@dataclass(frozen=True)
class Identity:
    """The login the system vouches for, its role (None: it has none) and whether it may act
    for another person."""

    name: str
    role: Role | None
    may_impersonate: bool


def resolve(app: App, user: str | None = None) -> Actor:
    """The actor for this command: ``user`` (``--as``) or ``HANPORT_USER`` if the database
    lets the caller name one, else the login the system vouches for."""
    asked = user or app.settings.user
    if app.simulated:
        return _actor(asked or getpass.getuser(), _configured_role(app, asked))
    who = _identity(app)
    if asked is None or asked == who.name:
        if who.role is None:
            raise _no_role(who.name, app)
        return _actor(who.name, who.role)
    if not who.may_impersonate:
        raise Refused(
            f"--as / HANPORT_USER ({asked}) is refused: you are {who.name}. Acting as someone "
            "else is allowed only on a database created with a simulated clock "
            "(`hanport db init --simulated-clock`) or for a service account allowed to "
            "impersonate",
            field="user",
        )
    person = _person_role(app, asked)
    return Actor(who.name, person, person.value, on_behalf_of=asked)


def _actor(name: str, role: Role) -> Actor:
    return Actor(name, role, "system" if role is Role.SYSTEM else role.value)


def _identity(app: App) -> Identity:
    if app.backend == "sqlite":
        login = getpass.getuser()
        role = _mapped(app, login, local=True)
        return Identity(login, role, login in app.settings.impersonators)
    from hanport.storage.views import reading

    with reading(app.engine) as views:
        login, groups = views.identity.session()
    return Identity(login, _group_role(groups), IMPERSONATE in groups)


def _mapped(app: App, name: str, *, local: bool) -> Role | None:
    """``name``'s role in the roles configuration. With none configured, the embedded
    database's own (``local``) user is a caseworker: one machine, its user works the cases."""
    roles = app.settings.roles
    if name in roles:
        return roles[name]
    if local and not roles and app.backend == "sqlite":
        return Role.CASEWORKER
    return None


def _group_role(groups: list[str]) -> Role | None:
    return next((role for g, role in GROUPS.items() if g in groups), None)


def _configured_role(app: App, asked: str | None) -> Role:
    name = asked or getpass.getuser()
    role = _mapped(app, name, local=asked is None)
    if role is None:
        raise _no_role(name, app)
    return role


def _person_role(app: App, person: str) -> Role:
    """The role of the person a service account acts for: their group roles on PostgreSQL,
    the roles configuration on SQLite."""
    if app.backend == "sqlite":
        role = _mapped(app, person, local=False)
    else:
        from hanport.storage.views import reading

        with reading(app.engine) as views:
            role = _group_role(views.identity.groups(person))
    if role is None or role is Role.SYSTEM:
        raise _no_role(person, app)
    return role


def _no_role(name: str, app: App) -> Refused:
    where = (
        "the roles configuration (HANPORT_ROLES or the [roles] table of hanport.toml)"
        if app.backend == "sqlite" or app.simulated
        else "a hanport group role (" + ", ".join(GROUPS) + ")"
    )
    return Refused(
        f"user {name!r} has no role here; an administrator adds it to {where}", field="user"
    )


def require_writer(actor: Actor) -> None:
    if actor.role in (Role.AUDITOR, Role.PRIVACY):
        raise Refused(f"{actor.name} is {actor.role.value}: can look but change nothing")


def require_supervisor(actor: Actor, what: str) -> None:
    if actor.role not in (Role.SUPERVISOR, Role.SYSTEM):
        raise Refused(f"{what} needs a supervisor; {actor.name} is {actor.role.value}")
