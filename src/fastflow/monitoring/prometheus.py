"""Prometheus metrics for one server, in its own registry (several servers may share a process).

Figures the database or the live parts already know are read at scrape time (runs by status,
queue depth, stream clients); the run duration histogram is observed as runs finish.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from fastflow import __version__
from fastflow.models import RunStatus
from fastflow.monitoring.counters import ALL_COUNTERS
from fastflow.monitoring.health import HealthRegistry
from fastflow.records import Run

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Runs range from sub-second scripts to hour-long jobs.
_DURATION_BUCKETS = (0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600)


class Monitoring:
    """The metrics of one fastflow server."""

    def __init__(
        self,
        count_by_status: Callable[[], dict[str, int]],
        subscriber_counts: Callable[[], dict[str, int]],
        executing: Callable[[], int],
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=False)  # never query the DB on register
        self.health = HealthRegistry()
        self.run_duration = Histogram(
            "fastflow_run_duration_seconds",
            "Run duration from start to end, by final status",
            ["status"],
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(
            _LiveCollector(count_by_status, subscriber_counts, executing, self.health)
        )

    def observe_finished(self, run: Run) -> None:
        """Engine hook: a run reached its final state."""
        if run.started_at is not None and run.finished_at is not None:
            seconds = (run.finished_at - run.started_at).total_seconds()
            self.run_duration.labels(status=run.status).observe(max(seconds, 0.0))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _LiveCollector(Collector):
    def __init__(
        self,
        count_by_status: Callable[[], dict[str, int]],
        subscriber_counts: Callable[[], dict[str, int]],
        executing: Callable[[], int],
        health: HealthRegistry,
    ) -> None:
        self._count_by_status = count_by_status
        self._subscriber_counts = subscriber_counts
        self._executing = executing
        self._health = health

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily("fastflow_info", "fastflow version", labels=["version"])
        info.add_metric([__version__], 1)
        yield info

        counts = self._count_by_status()
        runs = GaugeMetricFamily(
            "fastflow_runs", "Runs in the database by status", labels=["status"]
        )
        for status in RunStatus:
            runs.add_metric([status.value], counts.get(status.value, 0))
        yield runs
        yield GaugeMetricFamily(
            "fastflow_queue_depth",
            "Runs accepted and waiting for a slot (PENDING)",
            value=counts.get(RunStatus.PENDING.value, 0),
        )
        yield GaugeMetricFamily(
            "fastflow_runs_executing", "Runs executing on this server", value=self._executing()
        )

        viewers = self._subscriber_counts()
        yield GaugeMetricFamily(
            "fastflow_stream_clients",
            "Live stream clients (SSE and WebSocket) connected",
            value=sum(viewers.values()),
        )
        yield GaugeMetricFamily(
            "fastflow_streamed_runs", "Runs with at least one live client", value=len(viewers)
        )

        for counter in ALL_COUNTERS:
            family = CounterMetricFamily(counter.name, counter.documentation)
            family.add_metric([], counter.value)
            yield family

        up = GaugeMetricFamily(
            "fastflow_component_up",
            "1 when a background part's last round succeeded (scheduler, sync, cleanup)",
            labels=["component"],
        )
        last_ok = GaugeMetricFamily(
            "fastflow_component_last_success_timestamp_seconds",
            "Unix time of a background part's last successful round",
            labels=["component"],
        )
        for name, state in sorted(self._health.snapshot().items()):
            up.add_metric([name], 1 if state.ok else 0)
            if state.last_success_at is not None:
                last_ok.add_metric([name], state.last_success_at)
        yield up
        yield last_ok
