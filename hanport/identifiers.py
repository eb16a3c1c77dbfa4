"""Validation and normalisation of the identifiers a HAN-port case carries.

Pure functions: each takes what a customer or an import file gave and returns the canonical text,
or raises :class:`InvalidIdentifier` with a message a caseworker can act on. Identifiers stay text
throughout (postal codes and meter numbers may start with 0).
"""

from __future__ import annotations

import re

from stdnum import ean
from stdnum.no import orgnr

__all__ = [
    "InvalidIdentifier",
    "gsrn_with_check_digit",
    "normalise_meter_number",
    "normalise_phone",
    "validate_email",
    "validate_gsrn",
    "validate_orgnr",
    "validate_postal_code",
]

# ASCII digits only: str.isdigit() and \d would also accept e.g. Arabic-Indic or superscript digits.
_GSRN = re.compile(r"[0-9]{18}")
_GSRN_BODY = re.compile(r"[0-9]{17}")
_METER_NUMBER = re.compile(r"[0-9]{6,18}")
_POSTAL_CODE = re.compile(r"[0-9]{4}")
_ORGNR = re.compile(r"[0-9]{9}")


class InvalidIdentifier(ValueError):
    """An identifier that cannot be accepted; the message says why in plain words."""


def _without_spaces(value: str) -> str:
    # People copy identifiers grouped ("7070 5750 0053 1820 51"), sometimes with no-break spaces.
    return "".join(value.split())


def validate_gsrn(value: str) -> str:
    """Return the 18-digit metering point ID (GSRN) in ``value``, spaces removed.

    The GS1 mod-10 check digit must be right: a wrong ID would key a case on someone else's
    metering point, so it is rejected rather than warned about.
    """
    digits = _without_spaces(value)
    if not _GSRN.fullmatch(digits):
        raise InvalidIdentifier(
            f"metering point ID {value.strip()!r} must be exactly 18 digits "
            f"(found {len(digits)} characters after removing spaces)"
        )
    expected = ean.calc_check_digit(digits[:17])
    if digits[17] != expected:
        raise InvalidIdentifier(
            f"metering point ID {digits} has a wrong check digit (expected {expected})"
        )
    return digits


def gsrn_with_check_digit(first17: str) -> str:
    """Complete 17 digits into a valid GSRN by appending the GS1 check digit (for test data)."""
    body = _without_spaces(first17)
    if not _GSRN_BODY.fullmatch(body):
        raise InvalidIdentifier(
            f"the start of a metering point ID must be exactly 17 digits, got {first17.strip()!r}"
        )
    return body + ean.calc_check_digit(body)


def normalise_meter_number(value: str) -> tuple[str, list[str]]:
    """Return ``(digits, warnings)`` for a meter number (6–18 digits, spaces removed).

    Real meter numbers pass the GS1 mod-10 check, but no standard promises it (older serials do
    not), so a failed check is a warning for the caseworker, never a rejection.
    """
    digits = _without_spaces(value)
    if not _METER_NUMBER.fullmatch(digits):
        raise InvalidIdentifier(
            f"meter number {value.strip()!r} must be 6 to 18 digits (no letters or punctuation)"
        )
    warnings: list[str] = []
    # stdnum.ean.is_valid() only accepts EAN lengths (8, 12, 13, 14, 18) and would reject every
    # 16-digit meter number, so compute the digit directly; calc_check_digit works for any length.
    expected = ean.calc_check_digit(digits[:-1])
    if digits[-1] != expected:
        warnings.append(
            f"meter number {digits} does not pass the usual check digit test "
            f"(last digit {digits[-1]}, expected {expected}); please check it against the meter"
        )
    return digits, warnings


def validate_postal_code(value: str) -> str:
    """Return the four-digit postal code as text (a leading zero is kept: ``"0150"``)."""
    code = value.strip()
    if not _POSTAL_CODE.fullmatch(code):
        raise InvalidIdentifier(f"postal code {code!r} must be exactly 4 digits")
    return code


def normalise_phone(value: str) -> str:
    """Return the phone number in E.164 (``+4791234567``); without a country code, Norway is meant.

    Numbers that ``phonenumbers`` considers invalid (wrong length, unassigned range) are refused:
    an SMS to a wrong number is a notice sent to a stranger.
    """
    text = value.strip()
    import phonenumbers  # on first use: 30 ms of start-up that `case show` does not need

    try:
        parsed = phonenumbers.parse(text, "NO")
    except phonenumbers.NumberParseException as exc:
        raise InvalidIdentifier(f"phone number {text!r} cannot be read as a phone number") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidIdentifier(
            f"phone number {text!r} is not a valid number "
            "(a Norwegian number has 8 digits, optionally preceded by +47)"
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def validate_orgnr(value: str) -> str:
    """Return the 9-digit Norwegian organisation number, spaces removed.

    Valid when the digits weighted 3,2,7,6,5,4,3,2,1 sum to a multiple of 11
    (``stdnum.no.orgnr.checksum`` computes that sum mod 11).
    """
    digits = _without_spaces(value)
    if not _ORGNR.fullmatch(digits):
        raise InvalidIdentifier(f"organisation number {value.strip()!r} must be exactly 9 digits")
    if orgnr.checksum(digits) != 0:
        raise InvalidIdentifier(f"organisation number {digits} has a wrong check digit")
    return digits


def validate_email(value: str) -> str:
    """Return the e-mail address with its domain lower-cased, after a pragmatic check.

    Deliberately not RFC 5322: exactly one ``@``, a non-empty local part, a domain with a dot and
    no empty labels, no whitespace. Only the domain is lower-cased because the local part is,
    strictly, case-sensitive. Whether the address works is only known by writing to it.
    """
    text = value.strip()
    if any(ch.isspace() for ch in text):
        raise InvalidIdentifier(f"e-mail address {text!r} must not contain spaces")
    if text.count("@") != 1:
        raise InvalidIdentifier(f"e-mail address {text!r} must contain exactly one @")
    local, domain = text.split("@")
    if not local:
        raise InvalidIdentifier(f"e-mail address {text!r} has nothing before the @")
    if "." not in domain or any(label == "" for label in domain.split(".")):
        raise InvalidIdentifier(
            f"e-mail address {text!r} needs a domain such as example.no after the @"
        )
    return f"{local}@{domain.lower()}"
