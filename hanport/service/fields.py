"""Validating the fields a trigger takes (``--set name=value``) against its declaration."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from functools import cache
from typing import Any

from hanport.errors import Refused
from hanport.workflows.definition import Field, FieldKind, Workflow

MAX_TEXT = 2000


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
    wf: Workflow, trigger: str, payload: Mapping[str, Any], state: str, *, strict: bool = True
) -> tuple[dict[str, Any], set[str]]:
    """Return the cleaned values and the names of the personal ones. ``strict`` refuses fields
    the trigger does not take."""
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
    personal = {k for k in clean if declared[k].personal}
    return clean, personal
