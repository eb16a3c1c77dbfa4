"""``hanport intake list/show/resolve`` at the command line, after ``hanport tick`` took the web
forms kept by the service layer: the caseworkers see what matched nothing and settle it."""

from __future__ import annotations

from hanport.declarations import current
from hanport.service import run
from hanport.service.commands import SubmitIntake
from hanport.web.engine import WEB
from tests.e2e.cli import Hanport
from tests.support import make_app, nore_form


def _submit(hp: Hanport) -> None:
    app = make_app(hp.url)
    decl = current("nore_order", "nb")
    nore = nore_form(security="locked_room")
    run(app, WEB, SubmitIntake("nore_order", nore, "a" * 24, "nb", decl.version, decl.sha256))
    run(app, WEB, SubmitIntake("close_request", {"meter": "99999999"}, "b" * 24, "nn"))
    app.close()


def test_intakes_listed_shown_and_resolved(hp: Hanport) -> None:
    _submit(hp)
    ticked = hp.call("tick").ok().json
    assert (ticked["intakes_opened"], ticked["intakes_review"]) == (1, 1)

    review = hp.call("intake", "list").ok().json
    assert [(r["intake"], r["form"], r["status"]) for r in review] == [
        (2, "close_request", "review")
    ]
    every = hp.call("intake", "list", "--status", "all", as_json=False).ok().out
    assert every.startswith("INTAKE") and "HAN-2026-000001" in every and "done" in every

    shown = hp.call("intake", "show", "2").ok().json
    assert shown["fields"] == {"meter": "99999999"} and shown["status"] == "review"
    hidden = hp.call("intake", "show", "2", user="aud", as_json=False).ok().out
    assert "99999999" not in hidden and "withheld" in hidden

    hp.refused(2, "intake", "resolve", "2")  # --note is required
    hp.refused(4, "intake", "resolve", "2", "--note", "x", user="aud")
    hp.refused(3, "intake", "resolve", "9", "--note", "x")
    hp.call("intake", "resolve", "2", "--note", "Rang the customer: meter number mistyped").ok()
    hp.refused(4, "intake", "resolve", "2", "--note", "again", says="not under review")
    assert hp.call("intake", "list").ok().json == []
