"""``hanport audit export``: one case's evidence in one self-contained file.

HTML: opens offline (no external URL, no script, no reference outside the page), holds the
verdicts, the events with their hashes, the HES commands with their answers, the point's port
timeline with every interval open without a live consent, the cancellation and who superseded
whom (the reason, a note, only with ``--personal``), the consent, the mails as sent and an inline
SVG diagram with the case's path drawn along the edges it took, labelled; every instant in
Oslo time with its offset. JSON: the same events and hashes as ``case show --json``.

Mostly on a copy of tests/fixtures/demo-history-v1.db (real mails, consents, long paths); one test
on a history built here, on both backends.
"""

from __future__ import annotations

import html
import itertools
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from hanport.bootstrap import App
from hanport.queries.evidence import WITHHELD
from hanport.queries.evidence_html import oslo
from tests.audit.helpers import Cli, build_history
from tests.support import seed

# --- checking a page ---------------------------------------------------------------------------


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


URLISH = re.compile(r"(?:[a-z][a-z0-9+.-]*:)?//[^\s\"'<>)]", re.IGNORECASE)


def assert_self_contained(page: str) -> _Tags:
    assert page.lstrip().lower().startswith("<!doctype html>")
    assert '<meta charset="utf-8">' in page.lower()
    low = page.lower()
    for needle in ("http://", "https://", "<script", "<link", "<iframe", "<object", "<embed"):
        assert needle not in low, f"{needle!r} in the page"
    assert "@import" not in low
    assert not URLISH.search(page), URLISH.search(page)
    for m in re.finditer(r"url\(([^)]*)\)", page):
        assert m.group(1).strip("'\"").startswith("#"), m.group(0)
    parser = _Tags()
    parser.feed(page)
    parser.close()
    for tag, attrs in parser.tags:
        for name in ("src", "href", "xlink:href", "action", "data", "srcset", "poster"):
            value = attrs.get(name)
            if value is not None:
                assert value.startswith("#"), f"<{tag} {name}={value!r}> points outside the page"
        assert not any(k.startswith("on") for k in attrs), f"<{tag}> has an event handler"
    return parser


def svg_styles(page: str) -> dict[str, tuple[str | None, ...]]:
    """Each state box of the inline diagram: its name → (fill, stroke, stroke-width)."""
    start, end = page.index("<svg"), page.index("</svg>") + len("</svg>")
    root = ET.fromstring(page[start:end])
    out: dict[str, tuple[str | None, ...]] = {}
    children = list(root)
    for el, nxt in itertools.pairwise(children):
        if el.tag == "rect" and nxt.tag == "text":
            out[(nxt.text or "").strip()] = (
                el.get("fill"),
                el.get("stroke"),
                el.get("stroke-width"),
            )
    return out


def assert_path_highlighted(page: str, path_states: set[str]) -> None:
    styles = svg_styles(page)
    assert path_states <= set(styles), (path_states, sorted(styles))
    assert len(styles) > len(path_states), "the diagram shows only the path"
    on = {styles[s] for s in path_states}
    assert len(on) == 1, f"the path's states are not drawn alike: {on}"
    (hl,) = on
    off = {s for s, st in styles.items() if st == hl} - path_states
    assert not off, f"states off the path drawn highlighted: {off}"


def section(page: str, name: str) -> str:
    """The text of the page's ``<section id=name>`` (tags dropped)."""
    m = re.search(rf'<section id="{name}">(.*?)</section>', page, re.S)
    assert m, f"no section {name!r}"
    parser = _Tags()
    parser.feed(m.group(1))
    return " ".join(" ".join(parser.text).split())


# --- HTML --------------------------------------------------------------------------------------


def test_html_export_is_one_self_contained_file(fixture_cli: Cli, tmp_path: Path) -> None:
    ref = "HAN-2026-000001"
    out = tmp_path / "evidence.html"
    r = fixture_cli("audit", "export", ref, "--format", "html", "--out", out, user="revisor")
    assert r.code == 0, str(r)
    assert not r.out.strip() and str(out) in r.err
    page = out.read_text(encoding="utf-8")
    parser = assert_self_contained(page)
    text = " ".join(parser.text)

    show = fixture_cli("case", "show", ref, user="revisor")
    assert show.code == 0, str(show)
    history = show.json["history"]
    assert len(history) == 3
    for e in history:
        assert e["hash"] in page, e
        assert e["trigger"] in text
    assert "intact" in text and "replays as recorded" in text

    # The consent behind the case, and the mails as they were sent.
    ev = fixture_cli("audit", "export", ref, "--format", "json", user="revisor").json
    consent = ev["consent"]
    assert consent is not None and consent["case"] == ref
    for key in ("declaration_version", "channel", "signer_role", "address_match"):
        assert str(consent[key]) in text, key
    assert oslo(consent["received_at"]) in text
    assert [m["template"] for m in ev["mails"]] == ["request_received", "port_opened"]
    for m in ev["mails"]:
        assert m["status"] == "sent"
        assert html.escape(m["subject"]) in page, m["subject"]
        assert m["message_id"] in text
    assert "HAN-porten er åpnet" in text

    assert_path_highlighted(page, {"requested", "opening", "confirmed"})


def test_html_to_stdout_and_a_longer_path(fixture_cli: Cli) -> None:
    """HAN-2026-000005 (meter swap, HES failures, needs_attention, retry): every state it
    passed through is highlighted, and the page is the same file printed on stdout."""
    r = fixture_cli("audit", "export", "han-2026-000005", user="revisor", as_json=False)
    assert r.code == 0, str(r)
    page = r.out
    assert_self_contained(page)
    assert_path_highlighted(
        page,
        {"requested", "queued", "awaiting_consent", "opening", "needs_attention", "confirmed"},
    )
    assert page.count("<svg") == 1


def test_html_export_of_a_case_without_consent(fixture_cli: Cli) -> None:
    r = fixture_cli("audit", "export", "HAN-2026-000014", "--format", "html", user="revisor")
    assert r.code == 0, str(r)
    page = r.out
    assert_self_contained(page)
    assert "Vi kunne ikke stenge HAN-porten" in page  # the close_rejected mail's subject
    assert_path_highlighted(page, {"requested", "rejected"})


def test_export_of_unknown_case(fixture_cli: Cli) -> None:
    r = fixture_cli("audit", "export", "HAN-2026-999999", user="revisor")
    assert r.code == 3, str(r)


# --- JSON --------------------------------------------------------------------------------------


@pytest.mark.parametrize("ref", ["HAN-2026-000001", "HAN-2026-000005", "HAN-2026-000012"])
def test_json_export_has_the_events_and_hashes_of_case_show(fixture_cli: Cli, ref: str) -> None:
    r = fixture_cli("audit", "export", ref, "--format", "json", user="revisor", as_json=False)
    assert r.code == 0, str(r)
    ev = json.loads(r.out)
    show = fixture_cli("case", "show", ref, user="revisor").json
    assert ev["kind"] == "hanport-case-evidence"
    assert ev["case"]["case"] == ref
    assert ev["case"]["state"] == show["state"]
    assert ev["events"] == show["history"]
    assert [(e["seq"], e["hash"]) for e in ev["events"]] == [
        (h["seq"], h["hash"]) for h in show["history"]
    ]
    assert ev["verification"]["ok"] is True
    assert ev["replay"]["ok"] is True
    assert [m["id"] for m in ev["mails"]] == [m["id"] for m in show["mail"]]


# --- on both backends --------------------------------------------------------------------------


def test_export_on_each_backend(app: App, tmp_path: Path) -> None:
    seed(app, tmp_path / "registry")
    hist = build_history(app)
    cli = Cli(app.settings.database_url, tmp_path / "cli")
    sent = cli("mail", "send", user="cw")
    assert sent.code == 0, str(sent)
    r = cli("audit", "export", hist.nore, "--format", "html")
    assert r.code == 0, str(r)
    page = r.out
    assert_self_contained(page)
    show = cli("case", "show", hist.nore).json
    for e in show["history"]:
        assert e["hash"] in page
    ev = cli("audit", "export", hist.nore, "--format", "json").json
    assert ev["events"] == show["history"]
    assert ev["consent"]["case"] == hist.nore
    assert ev["mails"] and all(m["status"] == "sent" for m in ev["mails"]), ev["mails"]
    for m in ev["mails"]:
        assert html.escape(m["subject"]) in page
    assert_path_highlighted(page, {"requested", "awaiting_consent", "opening", "confirmed"})
    # The customer with no e-mail address: the mail is kept, marked no_address.
    ev3 = cli("audit", "export", hist.cancelled, "--format", "json").json
    assert {m["status"] for m in ev3["mails"]} == {"no_address"}
    assert ev3["consent"] is None
    page3 = cli("audit", "export", hist.cancelled).out
    assert_self_contained(page3)
    assert_path_highlighted(page3, {"requested", "awaiting_consent", "cancelled"})
    # The cancel reason is a note: withheld unless asked for, on either backend.
    assert WITHHELD in section(page3, "ending") and "asked twice" not in page3
    shown = cli("audit", "export", hist.cancelled, "--personal").out
    assert "asked twice" in section(shown, "ending") and WITHHELD not in shown
    assert ev["hes_commands"] and ev["hes_commands"][0]["action"] == "open", ev["hes_commands"]


# --- what an auditor stands on (HAN-2026-000008: a swap cancelled in opening by a close) ----

SECTIONS = ("summary", "verdicts", "path", "events", "hes", "port", "ending", "consent", "mail")
BOX_W, BOX_H = 150, 34


def _svg(page: str) -> ET.Element:
    return ET.fromstring(page[page.index("<svg") : page.index("</svg>") + len("</svg>")])


def _boxes(root: ET.Element) -> dict[str, tuple[float, float, float, float]]:
    out = {}
    for r, t in itertools.pairwise(list(root)):
        if r.tag == "rect" and t.tag == "text":
            x, y = float(r.get("x", 0)), float(r.get("y", 0))
            out[(t.text or "").strip()] = (x, y, x + BOX_W, y + BOX_H)
    return out


def _crosses(a: tuple[float, float], b: tuple[float, float], box: tuple[float, ...]) -> bool:
    """Whether the axis-parallel segment a–b runs through the box's inside."""
    x0, y0, x1, y1 = box
    lo_x, hi_x, lo_y, hi_y = min(a[0], b[0]), max(a[0], b[0]), min(a[1], b[1]), max(a[1], b[1])
    return lo_x < x1 and hi_x > x0 and lo_y < y1 and hi_y > y0


def test_evidence_of_a_case_cancelled_in_opening(fixture_cli: Cli, tmp_path: Path) -> None:
    ref, close = "HAN-2026-000008", "HAN-2026-000009"
    out = tmp_path / "e.html"
    assert fixture_cli("audit", "export", ref, "--out", out, user="revisor").code == 0
    page = out.read_text(encoding="utf-8")
    assert_self_contained(page)
    text = {name: section(page, name) for name in SECTIONS}
    ev = fixture_cli("audit", "export", ref, "--format", "json", user="revisor").json
    history = ev["events"]
    assert [e["trigger"] for e in history][-1] == "cancel" and history[-1]["from"] == "opening"
    assert "intact" in text["verdicts"] and "replays as recorded" in text["verdicts"]

    # HES commands and their answers.
    (cmd,) = ev["hes_commands"]
    assert (cmd["action"], cmd["answer"]) == ("open", "acknowledged: opened")
    assert f"{cmd['id']} open simulated" in text["hes"] and cmd["answer"] in text["hes"]
    assert oslo(cmd["done_at"]) in text["hes"]

    # The port timeline, with every interval open without a live consent that audit port shows.
    port = fixture_cli("audit", "port", ev["case"]["metering_point"], user="revisor").json
    intervals = [t["open_without_live_consent"] for t in port["timeline"]]
    intervals = [i for i in intervals if i]
    assert intervals  # the late open acknowledgement after the cancel
    assert [
        {k: i[k] for k in ("from", "until")} for i in ev["port"]["open_without_live_consent"]
    ] == intervals
    for i in intervals:
        assert f"{oslo(i['from'])} – {oslo(i['until'])}" in text["port"]
    assert text["port"].count("OPEN WITHOUT LIVE CONSENT") == len(intervals)

    # How it ended: superseded by the close, the reason (a note) withheld without --personal.
    assert f"Superseded by {close}" in text["ending"] and "from opening" in text["ending"]
    assert WITHHELD in text["ending"] and "superseded by close" not in text["ending"]
    assert ev["ending"]["cancelled"]["reason_withheld"] is True
    shown = fixture_cli("audit", "export", ref, "--personal", user="revisor", as_json=False).out
    assert f"Reason: superseded by close {close}" in section(shown, "ending")
    assert WITHHELD not in shown
    other = fixture_cli("audit", "export", close, user="revisor", as_json=False).out
    assert f"This case superseded {ref}" in section(other, "ending")

    # Every instant in Oslo time with its offset, to the minute: no UTC ISO text, no seconds.
    body = " ".join(text.values())
    stamps = re.findall(
        r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?: ?[+-]\d\d:\d\d| C?ES?T)?", body
    )
    assert stamps and all(
        re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d [+-]\d\d:\d\d", s) for s in stamps
    ), {s for s in stamps if not re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d [+-]\d\d:\d\d", s)}
    assert "2026-05-07 12:57 +02:00" in text["events"]  # seq 5, 10:57 UTC


def test_diagram_draws_the_path_along_the_edges_taken(fixture_cli: Cli) -> None:
    """The cancelled-in-opening case's path: one labelled edge per step, none through a box
    (least of all confirmed, which it never entered)."""
    page = fixture_cli("audit", "export", "HAN-2026-000008", user="revisor", as_json=False).out
    ev = fixture_cli("audit", "export", "HAN-2026-000008", "--format", "json", user="revisor").json
    root = _svg(page)
    boxes = _boxes(root)
    steps = {(p["from"], p["to"]): f"{p['seq']} {p['trigger']}" for p in ev["path"]}
    assert ("opening", "cancelled") in steps and not any("confirmed" in s for s in steps)
    assert_path_highlighted(page, {s for pair in steps for s in pair})
    taken = [el for el in root if el.tag == "path" and "taken" in (el.get("class") or "")]
    assert {(el.get("data-from"), el.get("data-to")) for el in taken} == set(steps)
    labels = {
        (el.get("data-from"), el.get("data-to")): el.text
        for el in root
        if el.tag == "text" and "label taken" in (el.get("class") or "")
    }
    assert labels == steps
    for el in root:
        if el.tag != "path" or "edge" not in (el.get("class") or ""):
            continue
        pts = [
            tuple(map(float, p.split(","))) for p in re.findall(r"[\d.]+,[\d.]+", el.get("d", ""))
        ]
        ends = {el.get("data-from"), el.get("data-to")}
        for a, b in itertools.pairwise(pts):
            for name, box in boxes.items():
                if name not in ends:
                    assert not _crosses(a, b, box), (el.get("data-from"), el.get("data-to"), name)
