"""The cache of loaded models: LRU, bounded both by how many and by how many bytes, with
TinyLFU admission.

cachetools' ``Cache`` keeps the byte total through ``getsizeof``; this adds the recency
order, the count bound, one place (``popitem``) where every eviction, for either bound, is
seen, and the admission decision. Under ``tinylfu`` a key that is not cached is let in only
if it was asked for at least as often, lately, as every entry LRU would evict to make room
for it: on a skewed workload most misses are one-off requests for unpopular models, and
plain LRU lets each of them push out a popular one. A tie admits (the newcomer is the more
recent, so ties fall back to LRU, and a process whose counts are all young behaves like LRU);
a cache with room admits whatever fits; a new version of a cached key always replaces the
old one. ``lru`` admits everything. ``docs/benchmarks.md`` replays request traces through
this very class (``scripts/bench/policy.py``).

Not thread-safe by itself: the registry holds its lock around every call. Knows nothing of
what it caches beyond ``size_bytes``.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from cachetools import Cache

from router.errors import ModelTooLarge

if TYPE_CHECKING:
    from collections.abc import Callable

    from router.settings import CachePolicy

# Counts are halved every this many accesses per cached model (TinyLFU's "sample"): long
# enough that a popular model's count outweighs one-off requests, short enough that a model
# no longer asked for loses its place within a few rounds.
AGING_PER_MODEL = 10


class Sized(Protocol):
    """What the cache needs to know about an entry: the memory it takes."""

    @property
    def size_bytes(self) -> int: ...


V = TypeVar("V", bound=Sized)


class Frequencies:
    """How often each key was asked for lately: exact counts, all halved (rounding down,
    zeros dropped) every ``sample`` accesses.

    Bounded without a cap of its own: each access adds at most one key and one to the sum of
    the counts, and halving at least halves that sum, so the sum, and with it the number of
    keys, never exceeds ``2 * sample``, however many distinct keys are asked for.
    """

    def __init__(self, sample: int) -> None:
        if sample < 1:
            raise ValueError("sample must be at least 1")
        self.sample = sample
        self._counts: dict[str, int] = {}
        self._since_aging = 0

    def record(self, key: str) -> None:
        self._counts[key] = self._counts.get(key, 0) + 1
        self._since_aging += 1
        if self._since_aging >= self.sample:
            self._since_aging = 0
            self._counts = {k: n // 2 for k, n in self._counts.items() if n > 1}

    def __getitem__(self, key: str) -> int:
        return self._counts.get(key, 0)

    def __len__(self) -> int:
        return len(self._counts)


class ModelCache(Cache[str, V], Generic[V]):
    def __init__(
        self,
        max_models: int,
        max_bytes: int,
        *,
        policy: CachePolicy = "tinylfu",
        on_evict: Callable[[str, V], None] | None = None,
    ) -> None:
        super().__init__(maxsize=max_bytes, getsizeof=_size_of)
        self.max_models = max_models
        self.policy = policy
        self.frequencies = Frequencies(AGING_PER_MODEL * max_models)
        self._order: OrderedDict[str, None] = OrderedDict()  # least recently used first
        self._on_evict = on_evict

    # -- a request's access, and admission ---------------------------------------------

    def access(self, key: str) -> V | None:
        """One request for ``key``, cached or not: counts it (for admission) and, when it is
        cached, marks it most recently used and returns it."""
        self.frequencies.record(key)
        return self.get(key)

    def admit(self, key: str, value: V) -> bool:
        """Cache ``value`` under ``key`` unless the policy refuses it: ``False`` means it was
        not cached and nothing was evicted. Raises :class:`ModelTooLarge` for a value larger
        than the whole byte budget, whatever the policy."""
        self._refuse_too_large(key, value)
        if key not in self and self.policy == "tinylfu":
            wanted = self.frequencies[key]
            if any(self.frequencies[victim] > wanted for victim in self.victims(value)):
                return False
        self[key] = value
        return True

    def victims(self, value: V) -> list[str]:
        """The keys, least recently used first, that caching ``value`` under a new key would
        evict to keep both bounds."""
        count, size = len(self) + 1, self.currsize + value.size_bytes
        found: list[str] = []
        for key in self._order:
            if count <= self.max_models and size <= self.maxsize:
                break
            found.append(key)
            count -= 1
            size -= self.getsizeof(Cache.__getitem__(self, key))
        return found

    def peek(self, key: str) -> V | None:
        """The entry without marking it recently used or counting a request (status pages)."""
        if key not in self:
            return None
        value: V = Cache.__getitem__(self, key)
        return value

    # -- the mapping: LRU order, both bounds, evictions --------------------------------

    def __getitem__(self, key: str) -> V:
        value: V = Cache.__getitem__(self, key)
        self._order.move_to_end(key)
        return value

    def __setitem__(self, key: str, value: V) -> None:
        self._refuse_too_large(key, value)
        if key in self:
            self._order.move_to_end(key)  # a new version never evicts its own predecessor
        else:
            while len(self) >= self.max_models:
                self.popitem()
        super().__setitem__(key, value)
        self._order[key] = None
        self._order.move_to_end(key)

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        del self._order[key]

    def popitem(self) -> tuple[str, V]:
        """Evict the least recently used entry."""
        if not self._order:
            raise KeyError("the cache is empty")
        key = next(iter(self._order))
        value: V = Cache.__getitem__(self, key)
        del self[key]
        if self._on_evict is not None:
            self._on_evict(key, value)
        return key, value

    def clear(self) -> None:
        super().clear()
        self._order.clear()

    def _refuse_too_large(self, key: str, value: V) -> None:
        if value.size_bytes > self.maxsize:
            raise ModelTooLarge(
                f"model {key!r} needs about {value.size_bytes / 2**20:.0f} MiB, more than the "
                f"whole cache budget of {self.maxsize / 2**20:.0f} MiB (ROUTER_CACHE_MAX_BYTES)"
            )


def _size_of(value: Sized) -> int:
    return value.size_bytes
