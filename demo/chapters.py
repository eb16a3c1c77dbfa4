"""The demo's chapters, in the order they happen."""

from __future__ import annotations

from hanport.demo.closes import close_by_email, close_by_phone, close_overtakes, nightly, refusals
from hanport.demo.door import web_door
from hanport.demo.openings import (
    kari_opens,
    late_and_never,
    openings_that_wait,
    overdue_swap,
    per_and_timers,
    swaps_ordered,
)
from hanport.demo.privacy import ola_asks_and_is_forgotten
from hanport.demo.release import release_v2
from hanport.demo.stage import Story


def scenarios(s: Story) -> None:
    kari = kari_opens(s)
    nils, eva = openings_that_wait(s)
    ola, per = swaps_ordered(s)
    per_and_timers(s, nils, per)
    late_and_never(s, nils, eva)
    overdue_swap(s, ola)
    close_by_email(s, kari)
    close_by_phone(s)
    close_overtakes(s)
    nightly(s, ola.case, per.case)
    refusals(s, ola)
    release_v2(s)
    web_door(s)
    ola_asks_and_is_forgotten(s)
