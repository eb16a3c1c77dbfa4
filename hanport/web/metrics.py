"""Prometheus metrics (the official client). The web workers count; the metrics listener, a
separate port opened by ``hanport serve`` itself, gathers the workers' counts (the client's
multiprocess mode) and reads the engine's gauges from the database when scraped."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry()
INTAKES = Counter(
    "hanport_web_intakes",
    "Form submissions by form and outcome (accepted, duplicate, invalid, honeypot, busy).",
    ["form", "outcome"],
    registry=REGISTRY,
)
VALIDATION = Counter(
    "hanport_web_validation_failures",
    "Fields refused by validation, by form and field.",
    ["form", "field"],
    registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "hanport_web_rate_limited", "Requests refused by the per-address rate limit.", registry=REGISTRY
)
LATENCY = Histogram(
    "hanport_web_request_seconds",
    "Time to answer a request, by method and route (tokens and languages folded).",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=REGISTRY,
)


class EngineGauges(Collector):
    """The duty officer's gauges, read through the storage layer's one read at scrape time."""

    def __init__(self, read: Callable[[], Any], backlog: Callable[[], int | None]) -> None:
        self._read = read
        self._backlog = backlog

    def collect(self) -> Iterator[GaugeMetricFamily]:
        g = self._read()
        cases = GaugeMetricFamily(
            "hanport_cases", "Cases by workflow and state.", labels=["workflow", "state"]
        )
        for (workflow, state), n in sorted(g.cases.items()):
            cases.add_metric([workflow, state], n)
        yield cases
        yield GaugeMetricFamily(
            "hanport_timers_overdue", "Pending timers past due.", value=g.overdue_timers
        )
        yield GaugeMetricFamily("hanport_mail_dead", "Mail given up (dead).", value=g.dead_mail)
        hes = GaugeMetricFamily(
            "hanport_hes_commands_out", "HES commands not yet answered.", labels=["status"]
        )
        for status in ("pending", "sent"):
            hes.add_metric([status], g.hes_out.get(status, 0))
        yield hes
        backlog = self._backlog()
        if backlog is not None:
            yield GaugeMetricFamily(
                "hanport_intake_backlog", "Intakes not yet processed.", value=backlog
            )


def listener_registry(multiproc_dir: str | None, gauges: Collector | None) -> CollectorRegistry:
    """The metrics listener's registry: the workers' counts (multiprocess files) and the gauges."""
    registry = CollectorRegistry()
    if multiproc_dir:
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry, path=multiproc_dir)
    else:
        registry = REGISTRY
    if gauges is not None:
        registry.register(gauges)
    return registry
