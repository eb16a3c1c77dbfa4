"""Configuration, read in one place: ``HANPORT_*`` environment variables over an optional
``hanport.toml`` (``HANPORT_CONFIG`` names it; else ``./hanport.toml`` if present) over defaults.

Environment variables:

==============================  =============================================================
``HANPORT_DATABASE_URL``        ``sqlite:///hanport.db`` (default) or ``postgresql://…``
``HANPORT_CONFIG``              path of a TOML file with the same keys (see ``Settings``)
``HANPORT_USER``                act as this user: only on a simulated-clock database, or for
                                a service account allowed to impersonate (``--as`` likewise)
``HANPORT_ROLES``               ``alice=caseworker,bob=supervisor,eve=auditor`` (SQLite, and
                                simulated databases; PostgreSQL takes roles from group roles)
``HANPORT_IMPERSONATORS``       SQLite: service logins that may act for a person (``--as``)
``HANPORT_NOW``                 the simulated time (only on a simulated-clock database)
``HANPORT_WORKING_DAYS``        ``mon-fri`` (default) or ``mon-sat``
``HANPORT_TIMERS``              overrides, e.g. ``remind_consent=7d,hes_timeout=24h,sla=3wd``
``HANPORT_HES_MAX_ATTEMPTS``    failures before ``needs_attention`` (default 3)
``HANPORT_HES_BACKOFF_MINUTES`` first retry delay, doubled per failure (default 15)
``HANPORT_HES_ADAPTER``         ``manual`` or ``simulated`` for every area (else per area)
``HANPORT_HES_SIM_*``           simulated HES: ``DELAY_MINUTES`` (10), ``FAILURE_SHARE`` (0),
                                ``SEED`` (0), ``SCRIPT`` (``GSRN=fail,ok;…`` per point)
``HANPORT_NIGHTLY_AT``          the scheduler's nightly slot, local time (04:15; not 02:xx)
``HANPORT_BATCH_INBOX``         folder the nightly slot takes termination files from
``HANPORT_SMTP_HOST`` …         SMTP delivery (see the notices); unset: a Maildir folder
``HANPORT_MAILDIR``             the Maildir folder (default beside the database)
``HANPORT_MAIL_MAX_ATTEMPTS``   delivery attempts before a mail is dead (default 8)
``HANPORT_SENDER_NAME``         sender's display name
``HANPORT_SENDER_ADDRESS``      sender's address (also the contact address in notices)
``HANPORT_PEPPER``              the pepper every personal value's hash in the events is keyed
                                with (with the customer's own key): at least 32 characters,
                                kept outside the database — needed by the commands that hash
                                (a simulated-clock demo or test database has its own)
``HANPORT_LINK_SECRET``         the keys the customer's signed links in notices are made with
                                (status, object, withdraw, confirm a close), comma-separated:
                                the first signs, every one verifies (rotation); unset: notices
                                carry no links. Keep them outside the database
``HANPORT_WEB_BASE_URL``        where the customer's pages are served, as links show it
                                (default ``http://127.0.0.1:8080``)
``HANPORT_WORKFLOW_VERSIONS``   pin the version new cases start on, e.g. ``nore_open=1``
                                (default: each workflow's newest version)
``HANPORT_RETENTION``           retention periods over the defaults of
                                ``hanport.retention``, e.g. ``consent=5y,mail_body=6m``
``HANPORT_ERASURE_LEDGER``      the erasure ledger's copy outside the database (JSON lines):
                                every erasure is appended to it; ``privacy reapply`` reads it
                                after a restore. Keep it where the database's backups are not
==============================  =============================================================
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hanport.config_values import ConfigError as ConfigError
from hanport.config_values import (
    as_bool,
    checked_keys,
    nightly,
    parse_pins,
    parse_retention,
    parse_roles,
    parse_script,
    parse_timers,
)
from hanport.config_values import parse_duration as parse_duration
from hanport.retention import Keep
from hanport.workflows.definition import Duration, Role

DEFAULT_DATABASE_URL = "sqlite:///hanport.db"


@dataclass(frozen=True)
class Area:
    """A municipality's process: which workflow, which meter vendor, which HES adapter."""

    name: str
    workflow: str
    vendor: str
    hes_adapter: str = "manual"


def _default_areas() -> dict[str, Area]:
    nore = Area("Nore og Uvdal", "nore_open", "aidon")
    ringerike = Area("Ringerike", "meter_swap", "kamstrup")
    hole = Area("Hole", "meter_swap", "kamstrup")
    # Municipality numbers changed in the 2020 and 2024 county reforms; all occur in data.
    return {
        "3338": nore,
        "3050": nore,
        "0633": nore,
        "3305": ringerike,
        "3007": ringerike,
        "0605": ringerike,
        "3310": hole,
        "3038": hole,
        "0612": hole,
    }


@dataclass(frozen=True)
class SmtpSettings:
    host: str | None = None
    port: int = 587
    username: str | None = None
    password: str | None = None
    starttls: bool = True
    implicit_tls: bool = False
    verify: bool = True
    ca_file: str | None = None
    timeout: float = 30.0


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    user: str | None = None  # asked for (HANPORT_USER); who acts is settled in service.roles
    roles: Mapping[str, Role] = field(default_factory=dict)
    impersonators: tuple[str, ...] = ()
    now: str | None = None
    saturday_is_working_day: bool = False
    timer_overrides: Mapping[str, Duration] = field(default_factory=dict)
    hes_max_attempts: int = 3
    hes_backoff_minutes: int = 15
    hes_sim_delay_minutes: int = 10
    hes_sim_failure_share: float = 0.0
    hes_sim_seed: int = 0
    # Per metering point, the outcomes ("ok"/"fail") of its successive commands (demos, tests).
    hes_sim_script: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    nightly_at: str = "04:15"  # local Oslo time; never 02:00–03:00 (DST)
    batch_inbox: str | None = None
    areas: Mapping[str, Area] = field(default_factory=_default_areas)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    maildir: str | None = None
    mail_max_attempts: int = 8
    sender_name: str = "Føie kundesenter"
    sender_address: str = "kontakt@foie.no"
    link_secret: str | None = None  # the signed links' key (never stored in the database)
    pepper: str | None = None  # the personal hashes' pepper (never stored in the database)
    web_base_url: str = "http://127.0.0.1:8080"
    swap_wait_months: tuple[int, int] = (1, 2)
    # The version new cases of a workflow start on, where it is not the newest (a case stays on
    # the version it started on until ``workflow migrate`` moves it).
    workflow_versions: Mapping[str, int] = field(default_factory=dict)
    # Retention periods that differ from hanport.retention's defaults (kind → period).
    retention: Mapping[str, Keep] = field(default_factory=dict)
    erasure_ledger: str | None = None  # the ledger's copy outside the database

    def area(self, municipality: str) -> Area | None:
        return self.areas.get(municipality)

    def timer_duration(self, key: str | None, default: Duration) -> Duration:
        if key and key in self.timer_overrides:
            return self.timer_overrides[key]
        return default


def _areas(value: Mapping[str, Any]) -> dict[str, Area]:
    areas = {}
    for code, spec in value.items():
        codes = [code, *spec.get("former_codes", [])]
        area = Area(
            spec["name"],
            spec["workflow"],
            spec.get("vendor", ""),
            spec.get("hes_adapter", "manual"),
        )
        for c in codes:
            areas[str(c)] = area
    return areas


def load(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build the settings from the TOML file, the environment, then explicit overrides."""
    env = os.environ if env is None else env
    raw = _file(env)
    smtp_raw = dict(raw.pop("smtp", {}))
    kw = _scalars(raw, env)
    kw.update(_tables(raw, env))
    if env.get("HANPORT_CLOCK") or "clock" in raw:
        raise ConfigError(
            "HANPORT_CLOCK / clock is not read: a database's clock is chosen once, when it is "
            "created (`hanport db init --simulated-clock` for a demo or test database)"
        )
    smtp = _smtp(smtp_raw, env)
    if smtp is not None:
        kw["smtp"] = smtp
    kw.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**kw)


# Settings read from a key of the file or, over it, an environment variable.
_SCALARS = {
    "database_url": "HANPORT_DATABASE_URL",
    "user": "HANPORT_USER",
    "now": "HANPORT_NOW",
    "maildir": "HANPORT_MAILDIR",
    "sender_name": "HANPORT_SENDER_NAME",
    "sender_address": "HANPORT_SENDER_ADDRESS",
    "link_secret": "HANPORT_LINK_SECRET",
    "pepper": "HANPORT_PEPPER",
    "web_base_url": "HANPORT_WEB_BASE_URL",
    "hes_max_attempts": "HANPORT_HES_MAX_ATTEMPTS",
    "hes_backoff_minutes": "HANPORT_HES_BACKOFF_MINUTES",
    "hes_sim_delay_minutes": "HANPORT_HES_SIM_DELAY_MINUTES",
    "hes_sim_failure_share": "HANPORT_HES_SIM_FAILURE_SHARE",
    "hes_sim_seed": "HANPORT_HES_SIM_SEED",
    "nightly_at": "HANPORT_NIGHTLY_AT",
    "batch_inbox": "HANPORT_BATCH_INBOX",
    "mail_max_attempts": "HANPORT_MAIL_MAX_ATTEMPTS",
    "erasure_ledger": "HANPORT_ERASURE_LEDGER",
}
_INTEGERS = (
    "hes_max_attempts",
    "hes_backoff_minutes",
    "hes_sim_delay_minutes",
    "hes_sim_seed",
    "mail_max_attempts",
)
_SMTP_ENV = {
    "host": "HANPORT_SMTP_HOST",
    "port": "HANPORT_SMTP_PORT",
    "username": "HANPORT_SMTP_USERNAME",
    "password": "HANPORT_SMTP_PASSWORD",
    "starttls": "HANPORT_SMTP_STARTTLS",
    "implicit_tls": "HANPORT_SMTP_TLS",
    "verify": "HANPORT_SMTP_VERIFY",
    "ca_file": "HANPORT_SMTP_CA_FILE",
    "timeout": "HANPORT_SMTP_TIMEOUT",
}


def _file(env: Mapping[str, str]) -> dict[str, Any]:
    """The TOML file: ``HANPORT_CONFIG``, else ``hanport.toml`` if there is one."""
    path = env.get("HANPORT_CONFIG")
    if not (path or Path("hanport.toml").exists()):
        return {}
    p = Path(path or "hanport.toml")
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"configuration file {p}: {exc}") from exc


def _scalars(raw: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    for key, var in _SCALARS.items():
        if key in raw:
            kw[key] = raw[key]
        if env.get(var):
            kw[key] = env[var]
    for key in (*_INTEGERS, "hes_sim_failure_share"):
        if key in kw:
            kw[key] = _number(key, kw[key], int if key in _INTEGERS else float)
    if "nightly_at" in kw:
        kw["nightly_at"] = nightly(str(kw["nightly_at"]))
    checked_keys(kw)
    return kw


def _number(key: str, value: Any, kind: type[int] | type[float]) -> int | float:
    try:
        return kind(value)
    except (TypeError, ValueError):
        what = "a whole number" if kind is int else "a number"
        raise ConfigError(f"{key} ({_SCALARS[key]}): {value!r} is not {what}") from None


def _tables(raw: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """Roles, timers, the working week, the HES script and the areas."""
    kw: dict[str, Any] = {}
    roles = env.get("HANPORT_ROLES") or raw.get("roles")
    if roles:
        kw["roles"] = parse_roles(roles)
    impersonators = env.get("HANPORT_IMPERSONATORS") or raw.get("impersonators")
    if impersonators:
        if isinstance(impersonators, str):
            impersonators = impersonators.split(",")
        kw["impersonators"] = tuple(n.strip() for n in impersonators if n.strip())
    timers = env.get("HANPORT_TIMERS") or raw.get("timers")
    if timers:
        kw["timer_overrides"] = parse_timers(timers)
    pins = env.get("HANPORT_WORKFLOW_VERSIONS") or raw.get("workflow_versions")
    if pins:
        kw["workflow_versions"] = parse_pins(pins)
    days = env.get("HANPORT_WORKING_DAYS") or raw.get("working_days")
    if days:
        if days not in ("mon-fri", "mon-sat"):
            raise ConfigError(f"working_days: {days!r} must be mon-fri or mon-sat")
        kw["saturday_is_working_day"] = days == "mon-sat"
    script = env.get("HANPORT_HES_SIM_SCRIPT") or raw.get("hes_sim_script")
    if script:
        kw["hes_sim_script"] = parse_script(script)
    retention = env.get("HANPORT_RETENTION") or raw.get("retention")
    if retention:
        kw["retention"] = parse_retention(retention)
    areas = {**_default_areas(), **_areas(raw.get("areas", {}))}
    adapter = env.get("HANPORT_HES_ADAPTER") or raw.get("hes_adapter")
    if adapter:
        if adapter not in ("manual", "simulated"):
            raise ConfigError(f"hes_adapter: {adapter!r} must be manual or simulated")
        areas = {code: replace(a, hes_adapter=adapter) for code, a in areas.items()}
    kw["areas"] = areas
    return kw


def _smtp(smtp_raw: dict[str, Any], env: Mapping[str, str]) -> SmtpSettings | None:
    smtp_raw.update({k: env[var] for k, var in _SMTP_ENV.items() if env.get(var)})
    if not smtp_raw:
        return None
    for k in ("starttls", "implicit_tls", "verify"):
        if k in smtp_raw:
            smtp_raw[k] = as_bool(smtp_raw[k])
    if "port" in smtp_raw:
        smtp_raw["port"] = int(smtp_raw["port"])
    if "timeout" in smtp_raw:
        smtp_raw["timeout"] = float(smtp_raw["timeout"])
    return SmtpSettings(**smtp_raw)
