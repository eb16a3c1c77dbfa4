"""Validating the fields a trigger takes (``--set name=value``) against its declaration.

Instants are checked for plausibility too, against the command's clock (the application's, which
tests move): a field declared ``not_future`` may not lie after now beyond ``CLOCK_SKEW``;
``in_tenure``, not before the case's customer held its metering point (as far as the records
tell: ``Sources.customer_since``); ``not_after="other"``, not after that other instant of the
same trigger. Nothing bounds an instant by the case's opening: a consent form received before
its case was registered is normal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

from hanport.calendar import OSLO
from hanport.errors import Refused
from hanport.workflows.definition import Field, FieldKind, Workflow

MAX_TEXT = 2000
# How far after the application's clock an instant may lie and still count as "now": the
# caseworker's watch, a scanner's or a vendor portal's clock may run a little ahead.
CLOCK_SKEW = timedelta(minutes=5)


@cache
def declaration_versions() -> tuple[str, ...]:
    """Versions with a declaration text in ``templates/declarations`` (``<version>.nb.txt``)."""
    from importlib.resources import files

    folder = files("hanport.templates").joinpath("declarations")
    names = {p.name.split(".")[0] for p in folder.iterdir() if p.name.endswith(".txt")}
    return tuple(sorted(names))


def clean_value(f: Field, raw: Any, trigger: str) -> Any:
    """Normalise one value or raise ``Refused`` naming the field."""
    from hanport import identifiers
    from hanport.calendar import isoformat_utc, parse_instant

    text = str(raw).strip()
    where = f"{trigger}: field {f.name}"
    if not text:
        raise Refused(f"{where} is empty", field=f.name)
    try:
        match f.kind:
            case FieldKind.TEXT:
                if len(text) > MAX_TEXT:
                    raise Refused(f"{where} is longer than {MAX_TEXT} characters", field=f.name)
                return text
            case FieldKind.CHOICE:
                value = text.replace("-", "_")
                if value not in f.choices:
                    raise Refused(
                        f"{where}: {text!r} is not one of {', '.join(f.choices)}", field=f.name
                    )
                return value
            case FieldKind.INSTANT:
                return isoformat_utc(parse_instant(text))
            case FieldKind.DATE:
                return date.fromisoformat(text).isoformat()
            case FieldKind.EMAIL:
                return identifiers.validate_email(text)
            case FieldKind.METER_NUMBER:
                return identifiers.normalise_meter_number(text)[0]
            case FieldKind.POSTAL_CODE:
                return identifiers.validate_postal_code(text)
            case FieldKind.DECLARATION:
                versions = declaration_versions()
                if text not in versions:
                    raise Refused(
                        f"{where}: no declaration text {text!r} (known: {', '.join(versions)})",
                        field=f.name,
                    )
                return text
    except ValueError as exc:  # InvalidInstant and InvalidIdentifier are ValueErrors
        raise Refused(f"{where}: {exc}", field=f.name) from None
    raise AssertionError(f.kind)  # pragma: no cover


def clean_fields(
    wf: Workflow,
    trigger: str,
    payload: Mapping[str, Any],
    state: str,
    *,
    now: datetime,
    customer_since: Callable[[], datetime | None] = lambda: None,
    strict: bool = True,
) -> tuple[dict[str, Any], set[str]]:
    """Return the cleaned values and the names of the personal ones. ``strict`` refuses fields
    the trigger does not take; ``now`` and ``customer_since`` (asked only when a field needs it)
    bound its instants."""
    declared = {f.name: f for f in wf.fields_for(trigger)}
    clean: dict[str, Any] = {}
    for name, raw in payload.items():
        key = name.replace("-", "_")
        f = declared.get(key)
        if f is None:
            if strict:
                known = ", ".join(declared) or "no fields"
                raise Refused(f"{trigger} takes no field {name!r} (it takes: {known})", field=name)
            continue
        if raw is None or (isinstance(raw, str) and not raw.strip() and not f.required):
            continue
        clean[key] = clean_value(f, raw, trigger)
    check_instants(declared, clean, trigger, now, customer_since)
    personal = {k for k in clean if declared[k].personal}
    return clean, personal


def _local(at: datetime) -> str:
    return at.astimezone(OSLO).isoformat(timespec="minutes")


def check_instants(
    declared: Mapping[str, Field],
    clean: Mapping[str, Any],
    trigger: str,
    now: datetime,
    customer_since: Callable[[], datetime | None],
) -> None:
    """Refuse, naming the field, an instant that cannot have happened when it says."""
    given = {
        k: datetime.fromisoformat(v)
        for k, v in clean.items()
        if declared[k].kind is FieldKind.INSTANT
    }
    for name, at in given.items():
        f = declared[name]
        where = f"{trigger}: field {name}: {_local(at)}"
        if f.not_future and at > now + CLOCK_SKEW:
            skew = int(CLOCK_SKEW.total_seconds() // 60)
            raise Refused(
                f"{where} is in the future (now {_local(now)}; allowed skew {skew} min)",
                field=name,
            )
        since = customer_since() if f.in_tenure else None
        if since is not None and at < since:
            raise Refused(
                f"{where} is before the customer held the metering point (the previous "
                f"customer's supply there ended {_local(since)})",
                field=name,
            )
        if f.not_after and f.not_after in given and at > given[f.not_after]:
            raise Refused(
                f"{where} is after {f.not_after} ({_local(given[f.not_after])})", field=name
            )
