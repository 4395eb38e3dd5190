"""An LRU cache of loaded models, bounded both by how many and by how many bytes.

cachetools' ``LRUCache`` already bounds total size through ``getsizeof``; this adds the
count bound and one place (``popitem``) where every eviction, for either bound, is seen.
Not thread-safe by itself: the registry holds its lock around every call.
"""

from __future__ import annotations

from collections.abc import Callable

from cachetools import Cache, LRUCache

from router.errors import ModelTooLarge
from router.xgb.loader import LoadedModel

EvictionListener = Callable[[str, LoadedModel], None]


def _size_of(model: LoadedModel) -> int:
    return model.size_bytes


class ModelCache(LRUCache[str, LoadedModel]):
    def __init__(
        self, max_models: int, max_bytes: int, on_evict: EvictionListener | None = None
    ) -> None:
        super().__init__(maxsize=max_bytes, getsizeof=_size_of)
        self.max_models = max_models
        self._on_evict = on_evict

    def __setitem__(self, key: str, value: LoadedModel) -> None:
        if value.size_bytes > self.maxsize:
            raise ModelTooLarge(
                f"model {key!r} needs about {value.size_bytes / 2**20:.0f} MiB, more than the "
                f"whole cache budget of {self.maxsize / 2**20:.0f} MiB (ROUTER_CACHE_MAX_BYTES)"
            )
        if key not in self:
            while len(self) >= self.max_models:
                self.popitem()
        super().__setitem__(key, value)

    def popitem(self) -> tuple[str, LoadedModel]:
        key, value = super().popitem()
        if self._on_evict is not None:
            self._on_evict(key, value)
        return key, value

    def peek(self, key: str) -> LoadedModel | None:
        """The entry without marking it recently used (for status pages)."""
        if key not in self:
            return None
        value: LoadedModel = Cache.__getitem__(self, key)
        return value
