"""The customer's door: Hanne orders the opening on the web form (the form as the web layer
hands it to the engine, after its validation), sends it twice, and mistypes her meter number
once; the intake pass opens one nore_open v2 case, merges the repeat, and leaves the mistyped
form to a caseworker; Hanne's notices carry her signed links."""

from __future__ import annotations

from hanport.declarations import current
from hanport.demo.stage import Story
from hanport.queries.intakes import listed
from hanport.service import run
from hanport.service.commands import ResolveIntake
from hanport.web.engine import Engine

HANNE_METER = "7359992905160953"
FORM = {
    "signer_name": "Hanne Lie",
    "signer_role": "customer",
    "address": "Bakkevegen 11",
    "postal_code": "3630",
    "meter": HANNE_METER,
    "email": "hanne.lie@example.no",
    "security": "locked_cabinet",
    "accept": "yes",
}


def web_door(s: Story) -> None:
    app = s.app
    web = Engine(app)
    decl = current("nore_order", "nb")
    s.say("The customer's door: Hanne fills in the order-and-consent form on the web (bokmål)")
    for token, fields, what in (
        ("demo-form-token-hanne-0001", FORM, "her order and consent"),
        ("demo-form-token-hanne-0001", FORM, "a double click: the same form token"),
        ("demo-form-token-hanne-0002", FORM, "the same order again, a new form"),
        ("demo-form-token-hanne-0003", {**FORM, "meter": "7359992905169999"}, "a mistyped meter"),
    ):
        done = web.submit(
            "nore_order", fields, form_token=token, language="nb", declaration=decl, client=None
        )
        kept = "kept once already" if done.duplicate else "kept"
        s.say(f"  {what} → intake #{done.intake_id} {kept}; the same receipt for every form")
    s.tick(minutes=1)  # the intake pass: every tick takes the kept intakes first
    for i in listed(app, ()):
        s.say(f"  intake #{i.id} {i.status}: {i.outcome}")
    review = [i for i in listed(app, ("review",))]
    opened = [i for i in listed(app, ("done",))]
    if len(review) != 1 or len(opened) != 1 or not opened[0].case_ref:
        s.problems.append("the web intakes did not become one case and one review")
        return
    run(
        app,
        s.actor(),
        ResolveIntake(review[0].id, "Hanne's second form: the meter number was mistyped"),
    )
    s.say(f"  anne.saksbehandler: intake resolve {review[0].id} (a mistyped meter number)")
    ref = opened[0].case_ref
    s.say("  ... the objection window ends without an objection")
    s.tick(days=1, minutes=1)
    s.tick(minutes=15)
    s.expect(ref, "confirmed", "Nore v2 from the web form: objection window, then open")
