from tests.support import NORE_POINT, actor, advance, consent, open_case


def test_nore_open_main_path(seeded):
    app = seeded
    r = open_case(app, actor(app), "nore_open", customer="1001", metering_point=NORE_POINT)
    assert r.state == "requested"
    r = advance(app, actor(app), r.case, "record_consent", consent())
    assert r.state == "opening"
    r = advance(app, actor(app), r.case, "confirm_open")
    assert r.state == "confirmed"
