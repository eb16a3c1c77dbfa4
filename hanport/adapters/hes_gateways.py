"""Head-end system (HES) gateways: one interface, an adapter per area.

- ``simulated``: answers after a configurable delay and fails a configurable share,
  deterministic with a seed (or scripted per metering point, for demos). The answer is stored on
  the command row at dispatch and applied by a later tick when the (injected) clock has reached
  it — never inside the dispatch call.
- ``manual``: a caseworker sends the request to the vendor and records the answer with
  ``hanport case advance CASE confirm_open|confirm_close|report_failure``.

Vendor HES protocols are not public; a real adapter implements ``Gateway.send``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from hanport.config import Settings


@dataclass(frozen=True)
class Sent:
    """What dispatching a command produced: an answer to apply later, or none (manual)."""

    ack_due_at: datetime | None = None
    outcome: str | None = None  # opened | closed | failed
    error: str | None = None


class Gateway(Protocol):
    name: str

    def send(self, command: dict[str, Any], now: datetime) -> Sent: ...


class ManualGateway:
    name = "manual"

    def send(self, command: dict[str, Any], now: datetime) -> Sent:
        return Sent()


@dataclass
class SimulatedGateway:
    """Deterministic: the outcome of a command depends only on the seed, its id and attempt —
    or on a script per metering point (outcomes of its 1st, 2nd, … command), for demos."""

    delay: timedelta = timedelta(minutes=10)
    failure_share: float = 0.0
    seed: int = 0
    script: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    name: str = "simulated"

    def send(self, command: dict[str, Any], now: datetime) -> Sent:
        planned = self.script.get(command.get("gsrn", ""), ())
        n = int(command.get("sequence", 0))
        if n < len(planned):
            if planned[n] == "fail":
                return Sent(now + self.delay, "failed", "simulated: meter unreachable (scripted)")
            return Sent(now + self.delay, "opened" if command["action"] == "open" else "closed")
        digest = hashlib.sha256(
            f"{self.seed}:{command['id']}:{command['attempt']}".encode()
        ).digest()
        draw = int.from_bytes(digest[:8], "big") / 2**64
        if draw < self.failure_share:
            return Sent(now + self.delay, "failed", "simulated: meter unreachable")
        return Sent(now + self.delay, "opened" if command["action"] == "open" else "closed")


def gateways(s: Settings) -> dict[str, Gateway]:
    return {
        "manual": ManualGateway(),
        "simulated": SimulatedGateway(
            timedelta(minutes=s.hes_sim_delay_minutes),
            s.hes_sim_failure_share,
            s.hes_sim_seed,
            s.hes_sim_script,
        ),
    }
