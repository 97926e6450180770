"""Prometheus metrics of one stepline: what its runtime did and what its server answered.

    metrics = Metrics()                             # a registry of its own: servers in one process never mix
    metrics.started.labels("orders").inc()          # where it happens: a counter increment, no lock held across awaits
    generate_latest(metrics.registry)               # the Prometheus text format (served at GET /metrics)

Counters and histograms count what this process did since it started; a Prometheus server sums them over the
processes sharing a store. `stepline_executions_running` is read from the store when scraped (one count query),
so every process reports the whole store's figure. The console's home shows the same figures (`figures`).
"""

from __future__ import annotations

from collections.abc import Mapping
from operator import itemgetter
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.metrics_core import Metric

from stepline.engine.resources import Resource

disable_created_metrics()  # no `_created` series beside each counter and histogram (the process's setting)

TASK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
TIMER_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    """The instruments of one service (its runtime, its Express runs and its server), in a registry of its own."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.started = Counter("stepline_executions_started", "Executions started, by state machine name",
                               ["state_machine"], registry=registry)
        self.finished = Counter("stepline_executions_finished", "Executions that ended, by state machine name and "
                                "status", ["state_machine", "status"], registry=registry)
        self.transitions = Counter("stepline_state_transitions", "States entered (AWS's state transitions)",
                                   registry=registry)
        self.running = Gauge("stepline_executions_running", "Standard executions RUNNING in the store (counted in "
                             "the store when scraped)", registry=registry)
        self.task_seconds = Histogram("stepline_task_duration_seconds", "Task calls made by stepline, from the call "
                                      "to its result (a .sync job's end), by integration", ["integration"],
                                      buckets=TASK_BUCKETS, registry=registry)
        self.timer_lag = Histogram("stepline_timer_lag_seconds", "How late a due timer (Wait, Retry interval, "
                                   "timeout) was claimed to fire", buckets=TIMER_BUCKETS, registry=registry)
        self.commit_seconds = Histogram("stepline_store_commit_seconds", "Time of the runtime's commits (a batch of "
                                        "steps in one transaction)", buckets=COMMIT_BUCKETS, registry=registry)
        self.leases = Gauge("stepline_worker_leases", "Executions this worker holds a lease on", ["worker"],
                            registry=registry)
        self.requests = Counter("stepline_http_requests", "HTTP requests answered, by action (the X-Amz-Target "
                                "action for the API, the route for the console) and status", ["action", "status"],
                                registry=registry)
        self.request_seconds = Histogram("stepline_http_request_duration_seconds", "Time to answer an HTTP request, "
                                         "by action", ["action"], buckets=REQUEST_BUCKETS, registry=registry)

    def count_step(self, execution_arn: str, events: list[dict[str, Any]], status: str | None) -> None:
        """Count what a step of an execution recorded: the states it entered, and its end when the step ended it
        (`status`, the execution's status after the step)."""
        if not events:
            return
        entered = " ".join(map(_type, events)).count("StateEntered")  # in C: a step may record a Map's thousands
        if entered:
            self.transitions.inc(entered)
        if status in ENDED:
            self.finished.labels(state_machine_of(execution_arn), status).inc()

    def refresh(self, *, running: int, leases: Mapping[str, int]) -> None:
        """Set the gauges read when scraped: the RUNNING executions, the leases by worker."""
        self.running.set(running)
        self.leases.clear()
        for worker, count in leases.items():
            self.leases.labels(worker).set(count)

    def figures(self) -> dict[str, Any]:
        """The console's summary: executions started and finished (by status), running, transitions, and the
        task durations' p50 and p95 (estimated from the histogram's buckets, as Prometheus does), or None."""
        families = {family.name: family for family in self.registry.collect()}
        finished: dict[str, float] = {}
        for sample in _samples(families, "stepline_executions_finished", "_total"):
            finished[sample.labels["status"]] = finished.get(sample.labels["status"], 0) + sample.value
        buckets: dict[float, float] = {}
        for sample in _samples(families, "stepline_task_duration_seconds", "_bucket"):
            bound = float(sample.labels["le"])
            buckets[bound] = buckets.get(bound, 0) + sample.value
        cumulative = sorted(buckets.items())
        return {
            "started": int(sum(s.value for s in _samples(families, "stepline_executions_started", "_total"))),
            "finished": {status: int(count) for status, count in sorted(finished.items())},
            "running": int(sum(s.value for s in _samples(families, "stepline_executions_running", ""))),
            "transitions": int(sum(s.value for s in _samples(families, "stepline_state_transitions", "_total"))),
            "tasks": int(cumulative[-1][1]) if cumulative else 0,
            "taskSecondsP50": quantile(0.5, cumulative),
            "taskSecondsP95": quantile(0.95, cumulative),
        }


_type = itemgetter("type")
ENDED = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


def _samples(families: dict[str, Metric], name: str, suffix: str) -> list[Any]:
    family = families.get(name)
    return [s for s in family.samples if s.name == name + suffix] if family is not None else []


def quantile(q: float, cumulative: list[tuple[float, float]]) -> float | None:
    """The q-quantile of a histogram from its cumulative buckets [(upper bound, count)], interpolated within its
    bucket as Prometheus's histogram_quantile does (the highest finite bound when it falls in +Inf); None when
    it counted nothing."""
    if not cumulative or cumulative[-1][1] == 0:
        return None
    rank = q * cumulative[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in cumulative:
        if count >= rank:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * (rank - below) / (count - below) if count > below else bound
        lower, below = bound, count
    return lower


def state_machine_of(execution_arn: str) -> str:
    """The state machine's name in an execution's ARN (a Map Run's child executions count under their machine's)."""
    parts = execution_arn.split(":")
    return parts[6].partition("/")[0] if len(parts) > 6 else ""


def integration_of(resource: Resource) -> str:
    """The integration a Task's resource uses: lambda, activity, aws-sdk, http, or the optimized service's name."""
    return resource.resource_type.partition(":")[0]
