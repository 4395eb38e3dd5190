"""Latency samples and their summaries; every timing in the benchmark is kept in nanoseconds."""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence


@dataclass(frozen=True, slots=True)
class Summary:
    """Order statistics of one series of samples, in nanoseconds."""

    count: int
    p50_ns: float
    p99_ns: float
    min_ns: float
    max_ns: float
    mean_ns: float

    @property
    def p50_us(self) -> float:
        return self.p50_ns / 1000

    @property
    def p99_us(self) -> float:
        return self.p99_ns / 1000

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Summary:
        return cls(**data)


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (numpy's default) on sorted samples."""
    if not ordered:
        raise ValueError("no samples")
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(samples_ns: Sequence[float]) -> Summary:
    ordered = sorted(samples_ns)
    return Summary(
        count=len(ordered),
        p50_ns=percentile(ordered, 0.50),
        p99_ns=percentile(ordered, 0.99),
        min_ns=ordered[0],
        max_ns=ordered[-1],
        mean_ns=statistics.fmean(ordered),
    )


def time_calls(
    call: Callable[[], object],
    *,
    count: int,
    deadline: float,
    samples: list[int] | None = None,
    cpu_samples: list[int] | None = None,
) -> list[int]:
    """Time ``call`` one call at a time, ``count`` times or until ``time.monotonic()`` passes
    ``deadline``, whichever comes first; appends wall ns to ``samples`` and returns it, and
    the process's CPU ns (all threads) to ``cpu_samples`` when given.

    On a shared machine wall time includes waiting for a core; CPU time does not, so it
    tells what a call costs even then (though not time spent blocked, e.g. on a lock).
    """
    out = [] if samples is None else samples
    clock = time.perf_counter_ns
    cpu_clock = time.process_time_ns
    monotonic = time.monotonic
    for _ in range(count):
        cpu_started = cpu_clock()
        started = clock()
        call()
        out.append(clock() - started)
        if cpu_samples is not None:
            cpu_samples.append(cpu_clock() - cpu_started)
        if monotonic() > deadline:
            break
    return out


def us(value_ns: float) -> str:
    """Microseconds for a table: ``1234.5 ns`` -> ``1.2``; large values without decimals."""
    value = value_ns / 1000
    return f"{value:,.0f}" if value >= 1000 else f"{value:.1f}"


def signed_us(value_ns: float) -> str:
    """``us`` with its sign, for a difference: ``+55.6``, ``-37.6``."""
    value = value_ns / 1000
    return f"{value:+,.0f}" if abs(value) >= 1000 else f"{value:+.1f}"


def ms(value_ns: float) -> str:
    return f"{value_ns / 1e6:,.1f}"


def ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}x" if baseline > 0 else "n/a"
