"""Cache policies replayed on request traces: hit ratios only, no models loaded.

The registry's cache (``router.registry.cache.ModelCache``) keeps at most N models. Replaying
the benchmark's Zipf trace through its policies says which keeps more of the popular models;
a second trace, whose popular models change part-way, says whether one then holds on to
models that are no longer wanted (the failure of frequency-based policies). A policy is
worth its place only if it beats LRU on both.

* ``lru``: evict the least recently used model.
* ``tinylfu``: LRU, with TinyLFU admission: a missed model is admitted only if it was asked
  for at least as often as the model LRU would evict, by counts that are halved every
  ``10 x capacity`` requests so that old popularity fades (the registry's default).
* ``static top-k``: the bound for any policy that knows the popularity in advance: the k most
  popular models always cached, the rest never (the trace's own counts, so an oracle).

``lru`` and ``tinylfu`` replay the registry's own cache class, driven as the registry drives
it: one ``access`` per request, and ``admit`` after a miss.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from router.registry.cache import ModelCache

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from router.settings import CachePolicy


@dataclass(frozen=True, slots=True)
class _Entry:
    """A stand-in for a loaded model: all the cache reads of one is its size."""

    size_bytes: int = 1


def cache_hits(policy: CachePolicy) -> Callable[[Sequence[int], int, int], int]:
    def hits(trace: Sequence[int], capacity: int, warmup: int = 0) -> int:
        """Hits after the first ``warmup`` requests (which fill the cache)."""
        cache: ModelCache[_Entry] = ModelCache(capacity, capacity, policy=policy)
        entry = _Entry()
        found = 0
        for number, key in enumerate(trace):
            if cache.access(str(key)) is not None:
                found += number >= warmup
            else:
                cache.admit(str(key), entry)
        return found

    return hits


def static_top_hits(trace: Sequence[int], capacity: int, warmup: int = 0) -> int:
    measured = trace[warmup:]
    top = {key for key, _ in Counter(measured).most_common(capacity)}
    return sum(1 for key in measured if key in top)


POLICIES = {
    "lru": cache_hits("lru"),
    "tinylfu": cache_hits("tinylfu"),
    "static top-k": static_top_hits,
}


def shifted(trace: Sequence[int], models: int, every: int, step: int) -> list[int]:
    """The same trace with popularity moving on: every ``every`` requests, rank r's model
    becomes the one ``step`` further along, so that yesterday's popular models go cold."""
    return [(key + (index // every) * step) % models for index, key in enumerate(trace)]


def replay(trace: Sequence[int], capacity: int, warmup: int = 0) -> dict[str, float]:
    """Hit ratio of each policy on ``trace`` after its first ``warmup`` requests."""
    measured = len(trace) - warmup
    return {name: hits(trace, capacity, warmup) / measured for name, hits in POLICIES.items()}
