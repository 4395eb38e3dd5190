"""An LRU cache of loaded models, bounded both by how many and by how many bytes.

cachetools' ``LRUCache`` already bounds total size through ``getsizeof``; this adds the
count bound and one place (``popitem``) where every eviction, for either bound, is seen.
Not thread-safe by itself: the registry holds its lock around every call. Knows nothing of
what it caches beyond ``size_bytes``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from cachetools import Cache, LRUCache

from router.errors import ModelTooLarge

if TYPE_CHECKING:
    from collections.abc import Callable


class Sized(Protocol):
    """What the cache needs to know about an entry: the memory it takes."""

    @property
    def size_bytes(self) -> int: ...


V = TypeVar("V", bound=Sized)


def _size_of(value: Sized) -> int:
    return value.size_bytes


class ModelCache(LRUCache[str, V], Generic[V]):
    def __init__(
        self, max_models: int, max_bytes: int, on_evict: Callable[[str, V], None] | None = None
    ) -> None:
        super().__init__(maxsize=max_bytes, getsizeof=_size_of)
        self.max_models = max_models
        self._on_evict = on_evict

    def __setitem__(self, key: str, value: V) -> None:
        if value.size_bytes > self.maxsize:
            raise ModelTooLarge(
                f"model {key!r} needs about {value.size_bytes / 2**20:.0f} MiB, more than the "
                f"whole cache budget of {self.maxsize / 2**20:.0f} MiB (ROUTER_CACHE_MAX_BYTES)"
            )
        if key not in self:
            while len(self) >= self.max_models:
                self.popitem()
        super().__setitem__(key, value)

    def popitem(self) -> tuple[str, V]:
        key, value = super().popitem()
        if self._on_evict is not None:
            self._on_evict(key, value)
        return key, value

    def peek(self, key: str) -> V | None:
        """The entry without marking it recently used (for status pages)."""
        if key not in self:
            return None
        value: V = Cache.__getitem__(self, key)
        return value
