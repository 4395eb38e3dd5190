"""Cache policies replayed on request traces: hit ratios only, no models loaded.

The registry's cache is an LRU of at most N models. Replaying the benchmark's Zipf trace
through other policies says whether one would keep more of the popular models; a second
trace, whose popular models change part-way, says whether it would then hold on to models
that are no longer wanted (the failure of frequency-based policies). A policy is worth
adopting only if it beats LRU on both.

* ``lru``: evict the least recently used model (the registry's policy).
* ``tinylfu``: LRU, with TinyLFU admission: a missed model is admitted only if it was asked
  for at least as often as the model LRU would evict, by counts that are halved every
  ``10 x capacity`` requests so that old popularity fades.
* ``static top-k``: the bound for any policy that knows the popularity in advance: the k most
  popular models always cached, the rest never (the trace's own counts, so an oracle).
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence


def lru_hits(trace: Sequence[int], capacity: int, warmup: int = 0) -> int:
    """Hits after the first ``warmup`` requests (which fill the cache)."""
    cache: OrderedDict[int, None] = OrderedDict()
    hits = 0
    for number, key in enumerate(trace):
        if key in cache:
            hits += number >= warmup
            cache.move_to_end(key)
            continue
        cache[key] = None
        if len(cache) > capacity:
            cache.popitem(last=False)
    return hits


def tinylfu_hits(trace: Sequence[int], capacity: int, warmup: int = 0) -> int:
    cache: OrderedDict[int, None] = OrderedDict()
    counts: Counter[int] = Counter()
    sample = 10 * capacity
    hits = 0
    for number, key in enumerate(trace):
        counts[key] += 1
        if (number + 1) % sample == 0:  # age: halve every count
            counts = Counter({k: v // 2 for k, v in counts.items() if v > 1})
        if key in cache:
            hits += number >= warmup
            cache.move_to_end(key)
            continue
        if len(cache) < capacity:
            cache[key] = None
            continue
        victim = next(iter(cache))
        if counts[key] >= counts[victim]:
            del cache[victim]
            cache[key] = None
    return hits


def static_top_hits(trace: Sequence[int], capacity: int, warmup: int = 0) -> int:
    measured = trace[warmup:]
    top = {key for key, _ in Counter(measured).most_common(capacity)}
    return sum(1 for key in measured if key in top)


POLICIES = {"lru": lru_hits, "tinylfu": tinylfu_hits, "static top-k": static_top_hits}


def shifted(trace: Sequence[int], models: int, every: int, step: int) -> list[int]:
    """The same trace with popularity moving on: every ``every`` requests, rank r's model
    becomes the one ``step`` further along, so that yesterday's popular models go cold."""
    return [(key + (index // every) * step) % models for index, key in enumerate(trace)]


def replay(trace: Sequence[int], capacity: int, warmup: int = 0) -> dict[str, float]:
    """Hit ratio of each policy on ``trace`` after its first ``warmup`` requests."""
    measured = len(trace) - warmup
    return {name: hits(trace, capacity, warmup) / measured for name, hits in POLICIES.items()}
