"""The open event records the point's area as it was when the case opened (both backends)."""

from __future__ import annotations

import json

from hanport.bootstrap import App
from hanport.storage.views import reading
from tests import support as s


def _open_event(app: App, ref: str) -> dict[str, object]:
    with reading(app.engine) as views:
        pk = views.events.case_pk(ref)
        assert pk is not None
        first = views.events.of_case(pk)[0]
    assert first.trigger == "open"
    data: dict[str, object] = json.loads(first.data)
    return data


def test_open_event_names_the_area_of_every_generation(seeded: App) -> None:
    cw = s.actor(seeded)
    nore = s.open_case(seeded, cw, "nore_open", customer="1001", metering_point=s.NORE_POINT)
    hole = s.open_case(seeded, cw, "meter_swap", customer="1003", metering_point=s.HOLE_POINT)
    close = s.open_case(
        seeded,
        cw,
        "close_port",
        customer="1004",
        meter_number=s.NORE_OPEN_METER,
        channel="phone",
    )
    assert _open_event(seeded, nore.case)["area"] == {
        "municipality": "3338",
        "name": "Nore og Uvdal",
        "vendor": "aidon",
    }
    # Hole's point carries the number before the 2020 reform: the area is still Hole.
    assert _open_event(seeded, hole.case)["area"] == {
        "municipality": "0612",
        "name": "Hole",
        "vendor": "kamstrup",
    }
    assert _open_event(seeded, close.case)["area"] == {
        "municipality": "0633",
        "name": "Nore og Uvdal",
        "vendor": "aidon",
    }
