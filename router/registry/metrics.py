"""Counters and timings the registry and API report, kept in process and optionally
forwarded to CloudWatch as Embedded Metric Format (see ``router.observability``)."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Protocol


class MetricsSink(Protocol):
    """Where a metric goes besides the in-process totals (e.g. EMF on Lambda)."""

    def count(self, name: str, value: int) -> None: ...

    def milliseconds(self, name: str, value: float) -> None: ...


class RouterMetrics:
    """Thread-safe totals (shown by ``GET /health``) plus an optional sink."""

    def __init__(self, sink: MetricsSink | None = None) -> None:
        self._sink = sink
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def count(self, name: str, value: int = 1) -> None:
        with self._lock:
            self._counts[name] += value
        if self._sink is not None:
            self._sink.count(name, value)

    def milliseconds(self, name: str, value: float) -> None:
        if self._sink is not None:
            self._sink.milliseconds(name, value)

    def totals(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)
