import unicodedata

import pytest

from hanport.address import addresses_match, normalise_street

SAME_POSTAL = "3511"


@pytest.mark.parametrize(
    ("given_street", "given_postal", "registered_street", "registered_postal", "match"),
    [
        ("storgata  12 b", SAME_POSTAL, "Storgata 12B", SAME_POSTAL, True),
        ("STORGATA 12B", SAME_POSTAL, "Storgata 12B", SAME_POSTAL, True),
        ("Kongens gt. 5", SAME_POSTAL, "Kongens gate 5", SAME_POSTAL, True),
        ("Storgata 12", SAME_POSTAL, "Storgata 12B", SAME_POSTAL, False),  # another dwelling
        ("Honengata 7", SAME_POSTAL, "Hønengata 7", SAME_POSTAL, False),  # ø is not o
        ("Storgata 12B", "3511", "Storgata 12B", "3510", False),
    ],
)
def test_design_normalisation_table(
    given_street: str,
    given_postal: str,
    registered_street: str,
    registered_postal: str,
    match: bool,
) -> None:
    assert (
        addresses_match(given_street, given_postal, registered_street, registered_postal) is match
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("storgata  12 b", "storgata 12b"),
        ("Storgata 12B", "storgata 12b"),
        ("Storgata 12 B", "storgata 12b"),
        ("  Storgata\t12\u00a0B  ", "storgata 12b"),
        ("Kongens gt. 5", "kongens gate 5"),
        ("Kongens gt 5", "kongens gate 5"),
        ("Kongens GT. 5 A", "kongens gate 5a"),
        ("Ringvn. 3", "ringvn. 3"),  # glued abbreviation: not expanded
        ("Nedre vn. 3", "nedre veien 3"),
        ("Nedre vn 3", "nedre veien 3"),
        ("Kirke v. 3", "kirke vei 3"),
        ("Kirke v.", "kirke vei"),
        ("Peder v. Cappelens vei 4", "peder v. cappelens vei 4"),  # "v." mid-name: left alone
        ("V. Slottsgate 2", "v. slottsgate 2"),  # first word: left alone
        ("Hønengata 7 Æ", "hønengata 7æ"),
        ("Storgt. 5", "storgt. 5"),  # could be -gata or -gate: not guessed
        ("Storgata 12", "storgata 12"),
        ("Storgata 12 Bakgården", "storgata 12 bakgården"),  # a word, not a house letter
    ],
)
def test_normalise_street(value: str, expected: str) -> None:
    assert normalise_street(value) == expected


def test_norwegian_letters_are_not_folded() -> None:
    assert normalise_street("Ærfuglveien 1") != normalise_street("Aerfuglveien 1")
    assert normalise_street("Åsveien 1") != normalise_street("Asveien 1")
    assert normalise_street("ØVRE gate 1") == "øvre gate 1"


def test_decomposed_unicode_matches_precomposed() -> None:
    # å decomposes to a + combining ring (ø has no decomposition, so it cannot be used here).
    decomposed = unicodedata.normalize("NFD", "Åsgata 7")
    assert decomposed != "Åsgata 7"
    assert addresses_match(decomposed, "3511", "Åsgata 7", "3511")


def test_postal_codes_are_compared_after_trimming() -> None:
    assert addresses_match("Storgata 12B", " 0150", "Storgata 12B", "0150 ")


@pytest.mark.parametrize(("given", "registered"), [("", ""), ("150", "150"), ("abcd", "abcd")])
def test_malformed_postal_codes_never_match(given: str, registered: str) -> None:
    assert not addresses_match("Storgata 12B", given, "Storgata 12B", registered)
