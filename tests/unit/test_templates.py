"""Mail templates: every notice the workflows declare has a template in every language, and each
renders cleanly — subject, plain text and HTML — with the footer advice, the case reference, no
leftover template syntax, correct escaping and never the full meter number."""

from __future__ import annotations

import re
import textwrap
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jinja2 import nodes

from hanport.notifications.render import (
    LANGUAGES,
    MissingTemplate,
    Rendered,
    _env,
    notices,
    render,
    wrap,
)
from hanport.workflows import WORKFLOWS

MAIL_DIR = Path(__file__).resolve().parents[2] / "templates" / "mail"

FULL_METER = "7359992905160861"
PLAIN_NAME = "Åse Ødegård Lærum"
NASTY_NAME = "Ærlig <b>& Sønn"
WORKFLOW_NAMES = ("nore_open", "meter_swap", "close_port")
AUTO_REASONS = ("move_out", "end_of_supply", "move_in", "meter_replaced")

# What every notice is given.
BASE: dict[str, Any] = {
    "case_ref": "HAN-2026-000042",
    "customer_name": PLAIN_NAME,
    "meter_last4": FULL_METER[-4:],
    "meter_number_full": FULL_METER,
    "sender_name": "Føie kundesenter",
    "contact_address": "kontakt@foie.no",
    "workflow": "nore_open",
}
# Plus every optional key some notices use.
FULL: dict[str, Any] = {
    **BASE,
    "close_reason": "move_out",
    "effective_at": "2026-03-29T00:00:00+01:00",
    "visit_date": "2026-05-06",
    "wait_weeks_min": 5,
    "wait_weeks_max": 9,
}

FOOTER_PHRASES = {"nb": ("trekke tilbake", "ukryptert"), "en": ("withdraw", "not encrypted")}
LAST4_PHRASE = {"nb": "slutter på 0861", "en": "ending in 0861"}
TAG = re.compile(r"</?[A-Za-z][^>]*>")
ENTITY = re.compile(r"&(?:[A-Za-z]+|#\d+|#x[0-9A-Fa-f]+);")


def _flat(s: str) -> str:
    """Whitespace collapsed (the text part is word-wrapped)."""
    return " ".join(s.split())


def _body(text: str) -> str:
    """The text part without the footer (which follows the ``--`` line)."""
    return _flat(text.split("\n--\n", 1)[0])


def _privacy_notices() -> Any:
    wf = WORKFLOWS[("privacy_request", 1)]
    yield from wf.open_notices
    for state in wf.states:
        yield from state.notices
    for transition in wf.transitions:
        yield from (n for n in transition.notices if n.template != "case_cancelled")


def _declared_notices() -> set[str]:
    names: set[str] = set()
    for wf in WORKFLOWS.values():
        names.update(n.template for n in wf.open_notices)
        for state in wf.states:
            names.update(n.template for n in state.notices)
        for transition in wf.transitions:
            names.update(n.template for n in transition.notices)
    return names


DECLARED = sorted(_declared_notices())
ALL_NOTICES = sorted(set(notices()) | set(DECLARED))
# A data subject's request's notices: about their personal data, not a meter or its port.
PRIVACY_NOTICES = sorted({n.template for n in _privacy_notices()})
PORT_NOTICES = [n for n in ALL_NOTICES if n not in PRIVACY_NOTICES]
PRIVACY_FOOTER = {"nb": "Datatilsynet", "en": "Datatilsynet"}


def test_every_declared_notice_has_a_template_in_every_language() -> None:
    assert DECLARED, "the workflows declare no notices at all?"
    missing = set(DECLARED) - set(notices())
    assert not missing, f"notices without a template in every language {LANGUAGES}: {missing}"


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("notice", ALL_NOTICES)
def test_template_follows_the_pattern(notice: str, lang: str) -> None:
    """Extends ``<lang>/_base.j2`` and defines exactly the blocks ``subject`` and ``body``."""
    source = (MAIL_DIR / lang / f"{notice}.j2").read_text(encoding="utf-8")
    tree = _env(False).parse(source)
    extends = tree.find(nodes.Extends)
    assert extends is not None
    assert isinstance(extends.template, nodes.Const)
    assert extends.template.value == f"{lang}/_base.j2"
    assert {b.name for b in tree.find_all(nodes.Block)} == {"subject", "body"}


def _check_rendered(out: Rendered, lang: str, name: str, *, port: bool = True) -> None:
    subject, text, html = out.subject, out.text, out.html

    assert subject.strip()
    assert "\n" not in subject
    assert BASE["case_ref"] in subject

    for part in (subject, text, html):
        for syntax in ("{{", "}}", "{%", "%}", "{#", "#}"):
            assert syntax not in part
        assert FULL_METER not in part
        assert FULL_METER not in part.replace(" ", "")

    # Plain text: no markup of our own, nothing escaped, the name exactly as given.
    assert not TAG.search(text.replace(name, "")), text
    assert not ENTITY.search(text), text
    assert name in _flat(text)

    # HTML: the name escaped, never raw; æ/ø/å kept as characters.
    if "<b>&" in name:
        assert "<b>" not in html
        assert "&lt;b&gt;&amp;" in html
    else:
        assert name in html
    for letter in "ÆØÅ":
        if letter in name:
            assert letter in html

    if not port:  # a data subject's request: no meter, the privacy footer
        assert PRIVACY_FOOTER[lang] in _flat(text) and PRIVACY_FOOTER[lang] in html
        assert not any(p in _flat(text) for p in FOOTER_PHRASES[lang])
        return
    assert LAST4_PHRASE[lang] in _flat(text)
    assert LAST4_PHRASE[lang] in html
    for phrase in FOOTER_PHRASES[lang]:
        assert phrase in _flat(text)
        assert phrase in html


@pytest.mark.parametrize("name", [PLAIN_NAME, NASTY_NAME], ids=["plain", "nasty"])
@pytest.mark.parametrize("workflow", WORKFLOW_NAMES)
@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("notice", PORT_NOTICES)
def test_notice_renders_cleanly(notice: str, lang: str, workflow: str, name: str) -> None:
    out = render(notice, lang, {**FULL, "workflow": workflow, "customer_name": name})
    _check_rendered(out, lang, name)


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("notice", PORT_NOTICES)
def test_notice_renders_without_optional_keys(notice: str, lang: str) -> None:
    """Optional keys are guarded: StrictUndefined never fires on the base context."""
    _check_rendered(render(notice, lang, BASE), lang, PLAIN_NAME)


@pytest.mark.parametrize("name", [PLAIN_NAME, NASTY_NAME], ids=["plain", "nasty"])
@pytest.mark.parametrize("kind", ["access", "rectification", "erasure", "restriction", None])
@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("notice", PRIVACY_NOTICES)
def test_privacy_notice_renders_cleanly(
    notice: str, lang: str, kind: str | None, name: str
) -> None:
    context: dict[str, Any] = {**BASE, "workflow": "privacy_request", "customer_name": name}
    if kind is not None:  # None: the optional keys missing
        context.update(request_kind=kind, answer_by="2026-04-02")
    out = render(notice, lang, context)
    _check_rendered(out, lang, name, port=False)
    if kind is not None and notice in ("privacy_request_received", "privacy_request_extended"):
        assert ("2. april 2026" if lang == "nb" else "2 April 2026") in _flat(out.text)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_withdrawn_privacy_request_says_so(lang: str) -> None:
    out = render("case_cancelled", lang, {**BASE, "workflow": "privacy_request"})
    _check_rendered(out, lang, PLAIN_NAME, port=False)
    assert ("personopplysning" if lang == "nb" else "personal data") in _body(out.text)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_privacy_notices_name_each_kind(lang: str) -> None:
    for notice in PRIVACY_NOTICES:
        if notice.startswith("privacy_restrict") or notice == "case_cancelled":
            continue
        bodies = {
            kind: _body(render(notice, lang, {**BASE, "request_kind": kind}).text)
            for kind in ("access", "rectification", "erasure", "restriction")
        }
        assert len(set(bodies.values())) == 4, notice


@pytest.mark.parametrize("lang", LANGUAGES)
def test_auto_closed_names_each_reason(lang: str) -> None:
    bodies = {
        reason: _body(render("auto_closed", lang, {**FULL, "close_reason": reason}).text)
        for reason in (*AUTO_REASONS, "something_else")
    }
    for a, b in combinations(bodies, 2):
        assert bodies[a] != bodies[b], (a, b)
    when = "29. mars 2026 kl. 00.00" if lang == "nb" else "29 March 2026 at 00:00"
    for reason in AUTO_REASONS:
        assert when in bodies[reason]


@pytest.mark.parametrize(
    ("lang", "expected"), [("nb", "mellom 5 og 9 uker"), ("en", "between 5 and 9 weeks")]
)
def test_swap_queued_shows_the_wait(lang: str, expected: str) -> None:
    out = render("swap_queued", lang, FULL)
    assert expected in _flat(out.text)
    assert expected in out.html


@pytest.mark.parametrize(
    ("notice", "lang", "expected"),
    [
        ("visit_scheduled", "nb", "6. mai 2026"),
        ("visit_scheduled", "en", "6 May 2026"),
        ("close_cancelled_rollback", "nb", "29. mars 2026"),
        ("close_cancelled_rollback", "en", "29 March 2026"),
    ],
)
def test_dates_are_shown_in_the_customers_language(notice: str, lang: str, expected: str) -> None:
    out = render(notice, lang, FULL)
    assert expected in _flat(out.text)
    assert expected in out.html


@pytest.mark.parametrize("workflow", WORKFLOW_NAMES)
def test_hes_delay_says_open_or_close(workflow: str) -> None:
    subject = render("hes_delay", "nb", {**FULL, "workflow": workflow}).subject
    assert ("Stengingen" in subject) is (workflow == "close_port")
    subject = render("hes_delay", "en", {**FULL, "workflow": workflow}).subject
    assert ("Closing" in subject) is (workflow == "close_port")


def test_languages_differ() -> None:
    nb = render("request_received", "nb", FULL).text
    en = render("request_received", "en", FULL).text
    assert nb.startswith("Hei ")
    assert en.startswith("Dear ")


def test_unknown_notice_is_missing() -> None:
    with pytest.raises(MissingTemplate):
        render("no_such_notice", "nb", FULL)


_WORDS = st.text(alphabet="abcæøå-./:ABC", min_size=1, max_size=90)


@given(
    lines=st.lists(
        st.tuples(st.sampled_from(["", "", "  "]), st.lists(_WORDS, max_size=30)), max_size=4
    )
)
def test_wrap_matches_textwrap_on_mail_paragraphs(lines: list[tuple[str, list[str]]]) -> None:
    """The plain-text part's fast ``wrap`` filter gives textwrap's result (no broken words, no
    breaks at hyphens, a kept indentation) on single-spaced lines."""
    text = "\n".join(indent + " ".join(words) for indent, words in lines)
    expected = "\n".join(
        "\n".join(textwrap.wrap(line, 76, break_long_words=False, break_on_hyphens=False))
        for line in text.splitlines()
    )
    assert wrap(text) == expected
