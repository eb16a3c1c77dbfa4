"""The expected wait for a meter swap, for the "swap queued" notice: from the queue length and
the recent installation rate when there is enough history, else the configured 1–2 months."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select

from hanport.config import Settings
from hanport.storage import repository as repo

RATE_WINDOW = timedelta(days=56)
MIN_INSTALLATIONS = 8  # fewer in the window: the rate says too little


def expected_wait_weeks(conn: Any, settings: Settings, now: datetime) -> tuple[int, int]:
    lo_m, hi_m = settings.swap_wait_months
    configured = (max(1, round(lo_m * 52 / 12)), max(1, round(hi_m * 52 / 12)))
    C, E = repo.CASES, repo.EVENTS
    queue = conn.execute(
        select(func.count()).where(
            and_(C.c.workflow == "meter_swap", C.c.state.in_(("queued", "visit_scheduled")))
        )
    ).scalar_one()
    installed = conn.execute(
        select(func.count()).where(
            and_(E.c.trigger == "record_installation", E.c.occurred_at >= now - RATE_WINDOW)
        )
    ).scalar_one()
    if installed < MIN_INSTALLATIONS:
        return configured
    per_week = installed / (RATE_WINDOW.days / 7)
    weeks = queue / per_week
    return max(1, math.floor(weeks * 0.8)), max(2, math.ceil(weeks * 1.25))
