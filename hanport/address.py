"""Comparing the street address a customer wrote with the one in the customer register.

A consent is only accepted without review when the address matches the registered one, so the
normalisation is deliberately conservative: it removes differences that cannot change which
dwelling is meant (case, spacing, Unicode form, a few unambiguous abbreviations, how a house letter
is written) and nothing else. In particular ø, æ and å are never folded to o, ae and a:
"Honengata" and "Hønengata" are different streets, and a near miss goes to a caseworker.

Rules, applied in this order after Unicode NFC and case folding:

1. whitespace is collapsed to single spaces and trimmed;
2. a word ``gt.`` or ``gt`` becomes ``gate`` ("Kongens gt. 5" → "kongens gate 5");
3. a word ``vn.`` or ``vn`` becomes ``veien``;
4. a word ``v.`` (with the dot) becomes ``vei`` only when it ends the street name, i.e. it is not
   the first word and is followed by the house number or nothing. Elsewhere "v." may be an
   initial or "von", so it is left alone; a bare ``v`` is never expanded (it may be a house
   letter);
5. a single letter after the house number, attached or separated by spaces, is attached:
   "12 b", "12B" and "12 B" all become "12b".

Abbreviations glued to the name ("Storgt. 5") are not expanded: "-gt." could stand for "-gata" or
"-gate", and guessing would make unrelated addresses match. Other punctuation is kept as written.
"""

from __future__ import annotations

import re
import unicodedata

from hanport.identifiers import InvalidIdentifier, validate_postal_code

__all__ = ["addresses_match", "normalise_street"]

_WORD_EXPANSIONS = {"gt.": "gate", "gt": "gate", "vn.": "veien", "vn": "veien"}

# A house number followed by one letter that stands alone (not the start of a longer word).
# [^\W\d_] is "a letter" in Unicode-aware re, so æ, ø and å count as house letters too.
_HOUSE_LETTER = re.compile(r"(?<![^\W_])(\d+) ?([^\W\d_])(?![^\W_])")


def _is_house_number(word: str) -> bool:
    return word[:1].isdigit()


def normalise_street(value: str) -> str:
    """Return the comparable form of a street line (see the module docstring for the rules)."""
    # NFC first so that a decomposed "ø" (o + combining stroke) equals the precomposed one;
    # again after casefold, which may produce decomposed sequences for a few characters.
    text = unicodedata.normalize("NFC", unicodedata.normalize("NFC", value).casefold())
    words = text.split()
    expanded: list[str] = []
    for i, word in enumerate(words):
        if word in _WORD_EXPANSIONS:
            expanded.append(_WORD_EXPANSIONS[word])
        elif (
            word == "v."
            and i > 0
            and not _is_house_number(words[i - 1])
            and (i + 1 == len(words) or _is_house_number(words[i + 1]))
        ):
            expanded.append("vei")
        else:
            expanded.append(word)
    return _HOUSE_LETTER.sub(r"\1\2", " ".join(expanded))


def _postal_or_none(value: str) -> str | None:
    try:
        return validate_postal_code(value)
    except InvalidIdentifier:
        return None


def addresses_match(
    given_street: str, given_postal: str, registered_street: str, registered_postal: str
) -> bool:
    """Whether the given address is the registered one, after normalisation.

    Postal codes must be equal valid four-digit codes (surrounding spaces ignored); a malformed
    postal code never matches, so an empty given code cannot match an empty registered one.
    """
    given_code = _postal_or_none(given_postal)
    if given_code is None or given_code != _postal_or_none(registered_postal):
        return False
    return normalise_street(given_street) == normalise_street(registered_street)
