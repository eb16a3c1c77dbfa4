"""Auditing: verify the tamper-evident history, checkpoint it, replay cases, answer "was the
port of this metering point open at T, and under which consent?" (``audit export`` is in
:mod:`hanport.queries.evidence`).

Everything here reads; nothing writes. The work is in :mod:`hanport.queries.verify`,
:mod:`hanport.queries.replay` and :mod:`hanport.queries.port_timeline`; this module names it
as ``hanport audit`` does.
"""

from __future__ import annotations

from hanport.queries.port_timeline import consent_view, port
from hanport.queries.replay import Replay, replay, replay_events
from hanport.queries.verify import Problem, VerifyReport, checkpoint, verify

__all__ = [
    "Problem",
    "Replay",
    "VerifyReport",
    "checkpoint",
    "consent_view",
    "port",
    "replay",
    "replay_events",
    "verify",
]
