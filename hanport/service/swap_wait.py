"""The expected wait for a meter swap, for the "swap queued" notice: from the queue length and
the recent installation rate when there is enough history, else the configured 1–2 months."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from hanport.config import Settings
from hanport.storage.uow import Repositories

RATE_WINDOW = timedelta(days=56)
MIN_INSTALLATIONS = 8  # fewer in the window: the rate says too little


def expected_wait_weeks(uow: Repositories, settings: Settings, now: datetime) -> tuple[int, int]:
    lo_m, hi_m = settings.swap_wait_months
    configured = (max(1, round(lo_m * 52 / 12)), max(1, round(hi_m * 52 / 12)))
    queue, installed = uow.cases.swap_queue(now - RATE_WINDOW)
    if installed < MIN_INSTALLATIONS:
        return configured
    per_week = installed / (RATE_WINDOW.days / 7)
    weeks = queue / per_week
    return max(1, math.floor(weeks * 0.8)), max(2, math.ceil(weeks * 1.25))
