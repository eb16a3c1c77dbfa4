"""Reading one setting's value: durations, roles, timer overrides, workflow pins, the simulated
HES script, the nightly slot, retention periods — each refused with a ``ConfigError`` that says
what would be accepted (:mod:`hanport.config` reads the settings)."""

from __future__ import annotations

from typing import Any

from hanport.errors import Refused
from hanport.retention import Keep, parse_keep, periods
from hanport.workflows.definition import Duration, Role


class ConfigError(Refused, ValueError):
    """A setting that cannot be used: refused (exit 4), saying what would be accepted."""


def parse_duration(text: str) -> Duration:
    """``24h``, ``7d``, ``3wd`` (working days)."""
    t = text.strip().lower()
    for suffix, kw in (("wd", "working_days"), ("d", "days"), ("h", "hours")):
        if t.endswith(suffix) and t[: -len(suffix)].isdigit():
            return Duration(**{kw: int(t[: -len(suffix)])})
    raise ConfigError(f"duration {text!r}: use a number and h, d or wd (e.g. 24h, 7d, 3wd)")


def parse_roles(value: Any) -> dict[str, Role]:
    pairs: dict[str, str]
    if isinstance(value, str):
        pairs = {}
        for item in filter(None, (p.strip() for p in value.split(","))):
            if "=" not in item:
                raise ConfigError(f"roles: {item!r} is not user=role")
            user, role = item.split("=", 1)
            pairs[user.strip()] = role.strip()
    else:
        pairs = dict(value)
    out = {}
    for user, role in pairs.items():
        try:
            out[user] = Role(role)
        except ValueError:
            out[user] = Role.CUSTOMER  # refused below, with the same message
        if out[user] is Role.CUSTOMER:
            valid = ", ".join(r.value for r in Role if r is not Role.CUSTOMER)
            raise ConfigError(f"roles: {user} has unknown role {role!r} (roles: {valid})")
    return out


def parse_timers(value: Any) -> dict[str, Duration]:
    if isinstance(value, str):
        items = dict(p.split("=", 1) for p in value.split(",") if "=" in p)
    else:
        items = dict(value)
    return {k.strip(): parse_duration(str(v)) for k, v in items.items()}


def parse_pins(value: Any) -> dict[str, int]:
    """``nore_open=1,meter_swap=1`` or a TOML table: each a declared workflow version."""
    from hanport import workflows

    if isinstance(value, str):
        items = [p.partition("=") for p in value.split(",") if p.strip()]
        pairs = {name: version for name, _, version in items}
    else:
        pairs = dict(value)
    out = {}
    for name, version in pairs.items():
        wf = workflows.canonical_name(str(name))
        known = workflows.versions_of(wf)
        if not known:
            names = ", ".join(sorted({n for n, _ in workflows.WORKFLOWS}))
            raise ConfigError(f"workflow_versions: no workflow {name!r} (workflows: {names})")
        try:
            v = int(str(version).strip())
        except ValueError:
            v = -1
        if v not in known:
            have = ", ".join(str(k) for k in known)
            raise ConfigError(
                f"workflow_versions: {wf} has no version {str(version).strip()!r} (versions: {have})"
            )
        out[wf] = v
    return out


def as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def parse_script(value: Any) -> dict[str, tuple[str, ...]]:
    """``GSRN=fail,ok;GSRN=fail`` or a TOML table of lists."""
    items = (
        dict(p.split("=", 1) for p in value.split(";") if "=" in p)
        if isinstance(value, str)
        else dict(value)
    )
    out = {}
    for gsrn, outcomes in items.items():
        seq = outcomes.split(",") if isinstance(outcomes, str) else list(outcomes)
        seq = [o.strip() for o in seq]
        if any(o not in ("ok", "fail") for o in seq):
            raise ConfigError(f"hes_sim_script: outcomes for {gsrn} must be ok or fail")
        out[gsrn.strip()] = tuple(seq)
    return out


def nightly(value: str) -> str:
    """HH:MM local time, outside 02:00–03:00 (which does not exist, or happens twice, on DST
    days)."""
    try:
        hh, mm = (int(x) for x in value.split(":"))
    except ValueError:
        raise ConfigError(f"nightly_at: {value!r} is not HH:MM") from None
    if not (0 <= hh < 24 and 0 <= mm < 60):
        raise ConfigError(f"nightly_at: {value!r} is not a time of day")
    if hh == 2:
        raise ConfigError(f"nightly_at: {value} falls in 02:00–03:00, which DST skips or repeats")
    return f"{hh:02d}:{mm:02d}"


def parse_retention(value: Any) -> dict[str, Keep]:
    """``consent=5y,mail_body=6m`` or a TOML table: each a kind of ``hanport.retention``."""
    if isinstance(value, str):
        items = dict(p.split("=", 1) for p in value.split(",") if "=" in p)
    else:
        items = dict(value)
    try:
        out = {k.strip(): parse_keep(str(v)) for k, v in items.items()}
        periods(out)
    except Refused as exc:
        raise ConfigError(str(exc)) from None
    return out


_KEY_HINT = "(e.g. the output of `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"


def checked_keys(kw: dict[str, Any]) -> None:
    """Refuse a link key or pepper too short to be a secret, and a web address that is not
    one; the base address loses its trailing slash."""
    if "link_secret" in kw:
        keys = [k.strip() for k in str(kw["link_secret"]).split(",")]
        if not keys or any(len(k) < 32 for k in keys):
            raise ConfigError(
                "link_secret (HANPORT_LINK_SECRET): each key (comma-separated, the signing one "
                f"first) must be at least 32 characters {_KEY_HINT}"
            )
    if "pepper" in kw and len(str(kw["pepper"]).strip()) < 32:
        raise ConfigError(
            "pepper (HANPORT_PEPPER) must be at least 32 characters, kept outside the database "
            + _KEY_HINT
        )
    if "web_base_url" in kw:
        base = str(kw["web_base_url"]).rstrip("/")
        if not base.startswith(("https://", "http://")):
            raise ConfigError(
                f"web_base_url (HANPORT_WEB_BASE_URL): {base!r} is not an http(s):// address"
            )
        kw["web_base_url"] = base
