"""The service's metrics, read by `GET /metrics` (Prometheus's text format) and the console's home (figures).

The counters and histograms are kept where things happen (runtime/metrics.py); these methods first set the
figures read at scrape time: the RUNNING executions counted in the store (the same on every worker), and the
leases this worker holds. StepFunctionsService takes these methods in as a mixin.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import generate_latest

from stepline.runtime.metrics import Metrics


class MetricsMethods:
    """Methods of StepFunctionsService that read its metrics."""

    store: Any
    runtime: Any
    metrics: Metrics

    async def scrape(self) -> bytes:
        """Every metric in Prometheus's text format."""
        await self._refresh()
        return generate_latest(self.metrics.registry)

    async def figures(self) -> dict[str, Any]:
        """The console's summary of the metrics (Metrics.figures)."""
        await self._refresh()
        return self.metrics.figures()

    async def _refresh(self) -> None:
        self.metrics.refresh(running=await self.store.count_running(),
                             leases={self.runtime.worker: len(self.runtime.leases)})
