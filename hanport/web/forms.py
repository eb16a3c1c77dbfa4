"""The three forms as data (their fields, in the order shown) and their validation: each error
names its field and a message key in the page's language (:mod:`hanport.web.texts`)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from stdnum import ean

from hanport.identifiers import InvalidIdentifier, normalise_phone

HONEYPOT = "website"
FORM_TOKEN = "form_token"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{22,64}")
_DIGITS = re.compile(r"[0-9]{6,18}")
_POSTAL = re.compile(r"[0-9]{4}")
GSRN_PREFIX = "707057"


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: str  # text | email | phone | postal_code | meter | choice | check
    required: bool = True
    max_len: int = 200
    choices: tuple[str, ...] = ()
    autocomplete: str = "off"


@dataclass(frozen=True)
class Form:
    name: str  # the intake's form name (the contract's)
    slug: str  # its path: /{lang}/{slug}
    fields: tuple[FieldSpec, ...]

    def field(self, name: str) -> FieldSpec:
        return next(f for f in self.fields if f.name == name)


NORE = Form(
    "nore_order",
    "nore",
    (
        FieldSpec("signer_name", "text", autocomplete="name"),
        FieldSpec("signer_role", "choice", choices=("customer", "representative", "organisation")),
        FieldSpec("organisation", "text", required=False, autocomplete="organization"),
        FieldSpec("address", "text", autocomplete="street-address"),
        FieldSpec("postal_code", "postal_code", max_len=4, autocomplete="postal-code"),
        FieldSpec("meter", "meter", max_len=40),
        FieldSpec("email", "email", max_len=254, autocomplete="email"),
        FieldSpec("phone", "phone", required=False, max_len=32, autocomplete="tel"),
        FieldSpec("security", "choice"),  # the declaration's options
        FieldSpec("accept", "check"),
    ),
)
SWAP = Form(
    "swap_order",
    "swap",
    (
        FieldSpec("name", "text", autocomplete="name"),
        FieldSpec("address", "text", autocomplete="street-address"),
        FieldSpec("postal_code", "postal_code", max_len=4, autocomplete="postal-code"),
        FieldSpec("meter", "meter", max_len=40),
        FieldSpec("email", "email", max_len=254, autocomplete="email"),
        FieldSpec("phone", "phone", required=False, max_len=32, autocomplete="tel"),
        FieldSpec("energipilot", "choice", choices=("no", "yes")),
        FieldSpec("energipilot_ack", "check", required=False),
    ),
)
CLOSE = Form(
    "close_request",
    "close",
    (
        FieldSpec("meter", "meter", max_len=40),
        FieldSpec("name", "text", required=False, autocomplete="name"),
        FieldSpec("email", "email", required=False, max_len=254, autocomplete="email"),
        FieldSpec("phone", "phone", required=False, max_len=32, autocomplete="tel"),
    ),
)
FORMS = {f.slug: f for f in (NORE, SWAP, CLOSE)}


def valid_form_token(token: str) -> bool:
    return bool(_TOKEN.fullmatch(token))


def _bad_chars(value: str) -> bool:
    return any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co") for c in value)


def check_meter(value: str) -> str | None:
    """The error key for a meter number or metering point ID (GSRN), or None."""
    digits = "".join(value.split())
    if not _DIGITS.fullmatch(digits):
        return "meter_format"
    gsrn = len(digits) == 18 and digits.startswith(GSRN_PREFIX)
    if gsrn and ean.calc_check_digit(digits[:17]) != digits[17]:
        return "gsrn_check"
    return None  # a meter number's check digit is not promised: not refused here


def _check(spec: FieldSpec, value: str, choices: tuple[str, ...]) -> str | None:
    if len(value) > spec.max_len:
        return "too_long"
    if _bad_chars(value):
        return "control"
    if spec.kind == "postal_code" and not _POSTAL.fullmatch(value):
        return "postal_code"
    if spec.kind == "meter":
        return check_meter(value)
    if spec.kind == "email":
        try:
            validate_email(value, check_deliverability=False)
        except EmailNotValidError:
            return "email"
    if spec.kind == "phone":
        try:
            normalise_phone(value)
        except InvalidIdentifier:
            return "phone"
    if spec.kind == "choice" and value not in choices:
        return "choice"
    if spec.kind == "check" and value != "yes":
        return "accept"
    return None


def validate(
    form: Form, given: Mapping[str, str], security: tuple[str, ...] = ()
) -> tuple[dict[str, str], dict[str, str]]:
    """(the fields as typed, stripped; {field: error key}) — the errors in the form's order."""
    values = {f.name: given.get(f.name, "").strip() for f in form.fields}
    errors: dict[str, str] = {}
    for spec in form.fields:
        value = values[spec.name]
        if not value:
            if spec.required:
                errors[spec.name] = "accept" if spec.kind == "check" else "required"
            continue
        problem = _check(spec, value, security if spec.name == "security" else spec.choices)
        if problem:
            errors[spec.name] = problem
    _cross(form, values, errors)
    ordered = [f.name for f in form.fields]
    return values, {k: errors[k] for k in ordered if k in errors}


def _cross(form: Form, values: dict[str, str], errors: dict[str, str]) -> None:
    if form is NORE and values["signer_role"] == "organisation" and not values["organisation"]:
        errors["organisation"] = "organisation"
    if form is SWAP and values["energipilot"] == "yes" and values["energipilot_ack"] != "yes":
        errors["energipilot_ack"] = "energipilot_ack"
    if form is SWAP and values["energipilot"] != "yes":
        values["energipilot_ack"] = ""
    if form is NORE and values["signer_role"] != "organisation":
        values["organisation"] = ""
