import pytest

from hanport.identifiers import (
    InvalidIdentifier,
    gsrn_with_check_digit,
    normalise_meter_number,
    normalise_phone,
    validate_email,
    validate_gsrn,
    validate_orgnr,
    validate_postal_code,
)

VALID_GSRNS = ["707057500053182051", "707057500032174572", "707057500042745649"]
VALID_METER_NUMBERS = ["7359992905160861", "5706567316639529", "6970631401582127"]


@pytest.mark.parametrize("gsrn", VALID_GSRNS)
def test_valid_gsrn_is_returned_as_given(gsrn: str) -> None:
    assert validate_gsrn(gsrn) == gsrn


def test_gsrn_spaces_are_removed() -> None:
    assert validate_gsrn(" 7070 5750 0053 1820 51 ") == "707057500053182051"


def test_gsrn_with_wrong_check_digit_is_rejected_with_the_expected_digit() -> None:
    with pytest.raises(InvalidIdentifier) as err:
        validate_gsrn("707057500012345678")
    assert str(err.value) == (
        "metering point ID 707057500012345678 has a wrong check digit (expected 1)"
    )


@pytest.mark.parametrize(
    "value", ["70705750005318205", "7070575000531820511", "70705750005318205X", "", "７０７"]
)
def test_gsrn_of_wrong_shape_is_rejected(value: str) -> None:
    with pytest.raises(InvalidIdentifier, match="metering point ID"):
        validate_gsrn(value)


def test_gsrn_rejects_non_ascii_digits() -> None:
    # Arabic-Indic digits are "digits" to str.isdigit(); they are not a metering point ID.
    with pytest.raises(InvalidIdentifier):
        validate_gsrn("٧" * 18)


@pytest.mark.parametrize("gsrn", VALID_GSRNS)
def test_gsrn_with_check_digit_reproduces_valid_ids(gsrn: str) -> None:
    assert gsrn_with_check_digit(gsrn[:17]) == gsrn


def test_gsrn_with_check_digit_output_validates() -> None:
    generated = gsrn_with_check_digit("70705750009999999")
    assert validate_gsrn(generated) == generated


def test_gsrn_with_check_digit_needs_17_digits() -> None:
    with pytest.raises(InvalidIdentifier, match="17 digits"):
        gsrn_with_check_digit("7070575000")


@pytest.mark.parametrize("number", VALID_METER_NUMBERS)
def test_real_meter_numbers_have_no_warning(number: str) -> None:
    assert normalise_meter_number(number) == (number, [])


def test_meter_number_spaces_are_removed() -> None:
    assert normalise_meter_number("7359 9929 0516 0861") == ("7359992905160861", [])


def test_meter_number_failing_check_digit_is_kept_with_one_warning() -> None:
    digits, warnings = normalise_meter_number("7359992905160862")
    assert digits == "7359992905160862"
    assert len(warnings) == 1
    assert "check digit" in warnings[0]
    assert "expected 1" in warnings[0]


@pytest.mark.parametrize("number", ["123456", "123456789012345678"])
def test_meter_number_length_bounds_are_accepted(number: str) -> None:
    assert normalise_meter_number(number)[0] == number


@pytest.mark.parametrize("value", ["12345", "1234567890123456789", "73599929O5160861", ""])
def test_meter_number_of_wrong_shape_is_rejected(value: str) -> None:
    with pytest.raises(InvalidIdentifier, match="meter number"):
        normalise_meter_number(value)


@pytest.mark.parametrize(("value", "expected"), [("0150", "0150"), (" 3511 ", "3511")])
def test_postal_code_keeps_leading_zero(value: str, expected: str) -> None:
    assert validate_postal_code(value) == expected


@pytest.mark.parametrize("value", ["150", "03511", "35 11", "abcd", "", "٣٥١١"])
def test_invalid_postal_code_is_rejected(value: str) -> None:
    with pytest.raises(InvalidIdentifier, match="postal code"):
        validate_postal_code(value)


@pytest.mark.parametrize(
    "value", ["91234567", "912 34 567", "+47 912 34 567", "004791234567", "+4791234567"]
)
def test_norwegian_phone_is_normalised_to_e164(value: str) -> None:
    assert normalise_phone(value) == "+4791234567"


def test_landline_is_accepted() -> None:
    assert normalise_phone("22 12 34 56") == "+4722123456"


def test_foreign_number_with_country_code_is_kept() -> None:
    assert normalise_phone("+46 70 123 45 67") == "+46701234567"


@pytest.mark.parametrize("value", ["1234", "912345678", "not a phone", ""])
def test_invalid_phone_is_refused(value: str) -> None:
    with pytest.raises(InvalidIdentifier, match="phone number"):
        normalise_phone(value)


@pytest.mark.parametrize(
    ("value", "expected"), [("974760673", "974760673"), ("923 609 016", "923609016")]
)
def test_valid_orgnr(value: str, expected: str) -> None:
    assert validate_orgnr(value) == expected


def test_orgnr_with_wrong_check_digit_is_rejected() -> None:
    with pytest.raises(InvalidIdentifier, match="wrong check digit"):
        validate_orgnr("974760674")


@pytest.mark.parametrize("value", ["97476067", "9747606731", "97476067X", ""])
def test_orgnr_of_wrong_shape_is_rejected(value: str) -> None:
    with pytest.raises(InvalidIdentifier, match="9 digits"):
        validate_orgnr(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ola.nordmann@example.no", "ola.nordmann@example.no"),
        ("  Ola.Nordmann@Example.NO ", "Ola.Nordmann@example.no"),
        ("kari+han@post.ostfold.example.com", "kari+han@post.ostfold.example.com"),
    ],
)
def test_valid_email_has_domain_lower_cased(value: str, expected: str) -> None:
    assert validate_email(value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("ola.nordmann.example.no", "exactly one @"),
        ("ola@nordmann@example.no", "exactly one @"),
        ("@example.no", "nothing before the @"),
        ("ola@localhost", "domain"),
        ("ola@example.", "domain"),
        ("ola@.example.no", "domain"),
        ("ola@example..no", "domain"),
        ("ola nordmann@example.no", "spaces"),
        ("", "exactly one @"),
    ],
)
def test_invalid_email_is_refused_with_reason(value: str, reason: str) -> None:
    with pytest.raises(InvalidIdentifier, match=reason):
        validate_email(value)
