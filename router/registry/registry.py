"""What is loaded: the cache, one load per model at a time, hot reload and load failures.

A request asks ``get(name)``. A cached model is returned at once while its file was checked
less than ``reload_interval_s`` ago. Otherwise the file is stat-ed: unchanged, the cached
model is returned; changed or not cached, the model is loaded. Loads happen outside the lock,
so a slow load never holds up requests for other models, and concurrent requests for the same
model share one load. While a new version loads, other requests keep getting the old one; a
version that fails to load is remembered and never replaces a working one.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from router.errors import (
    InvalidModelFile,
    LoadTimeout,
    ModelNotFound,
    ModelTooLarge,
    ModelUnavailable,
    RouterError,
    StoreUnavailable,
)
from router.registry.cache import ModelCache
from router.registry.metrics import RouterMetrics
from router.store import ModelRef, ModelStore, validate_name
from router.xgb.loader import MEMORY_PER_UBJ_BYTE, LoadedModel, load_model

if TYPE_CHECKING:
    from router.settings import Settings

logger = logging.getLogger(__name__)

Loader = Callable[[ModelRef], LoadedModel]
CacheOutcome = Literal["hit", "miss", "reload"]
VersionKey = object


@dataclass(frozen=True, slots=True)
class LoadFailure:
    """The last version of a model that failed to load, and why."""

    version_key: VersionKey
    error: RouterError
    at: float = field(default_factory=time.time)


@dataclass(slots=True)
class _PendingLoad:
    version_key: VersionKey
    done: threading.Event = field(default_factory=threading.Event)
    result: LoadedModel | None = None
    error: BaseException | None = None


@dataclass(frozen=True, slots=True)
class ModelStatus:
    """What ``GET /models/{name}`` shows: the file on disk and the loaded version, if any."""

    ref: ModelRef
    loaded: LoadedModel | None
    failure: LoadFailure | None

    @property
    def stale(self) -> bool:
        """A newer file is on disk than the version being served (it failed to load)."""
        return self.loaded is not None and self.loaded.version_key != self.ref.version_key


class ModelRegistry:
    def __init__(
        self,
        store: ModelStore,
        *,
        max_models: int,
        max_bytes: int,
        reload_interval_s: float,
        load_wait_s: float,
        loader: Loader,
        metrics: RouterMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.reload_interval_s = reload_interval_s
        self.load_wait_s = load_wait_s
        self.metrics = metrics or RouterMetrics()
        self._loader = loader
        self._clock = clock
        self._lock = threading.Lock()
        self._cache = ModelCache(max_models, max_bytes, on_evict=self._evicted)
        self._checked_at: dict[str, float] = {}
        self._failures: dict[str, LoadFailure] = {}
        self._pending: dict[str, _PendingLoad] = {}

    @classmethod
    def from_settings(
        cls, settings: Settings, metrics: RouterMetrics | None = None
    ) -> ModelRegistry:
        """The registry of XGBoost files under ``settings.model_root``."""
        nthread = settings.nthread
        return cls(
            ModelStore(settings.model_root),
            max_models=settings.cache_max_models,
            max_bytes=settings.cache_max_bytes,
            reload_interval_s=settings.reload_interval_s,
            load_wait_s=settings.load_wait_s,
            loader=lambda ref: load_model(ref, nthread=nthread),
            metrics=metrics,
        )

    # -- serving -------------------------------------------------------------------------

    def fresh(self, name: str) -> LoadedModel | None:
        """The cached model if its file needs no check yet; does no I/O, so it is safe to call
        on the event loop. ``None`` means: call ``get`` (from a worker thread)."""
        validate_name(name)
        now = self._clock()
        with self._lock:
            cached = self._cache.get(name)
            if cached is None or now - self._checked_at[name] >= self.reload_interval_s:
                return None
        self.metrics.count("CacheHit")
        return cached

    def get(self, name: str) -> LoadedModel:
        """The model to predict with now; checks its file, and loads or reloads when needed."""
        return self.lookup(name)[0]

    def lookup(self, name: str) -> tuple[LoadedModel, CacheOutcome]:
        """``get``, and what the cache had: ``hit`` (the file's version, or a broken file's
        working predecessor), ``miss`` (nothing: loaded now) or ``reload`` (an older version:
        the new one loaded now, or the old one served while another request loads it)."""
        found = self.fresh(name)
        if found is not None:
            return found, "hit"
        now = self._clock()
        with self._lock:
            cached = self._cache.get(name)
        try:
            ref = self.store.resolve(name)
        except ModelNotFound:
            self._forget(name)
            raise
        if cached is not None and cached.version_key == ref.version_key:
            with self._lock:
                self._checked_at[name] = now
            self.metrics.count("CacheHit")
            return cached, "hit"
        failure = self._failures.get(name)
        if failure is not None and failure.version_key == ref.version_key:
            # This exact file already failed: don't parse it again on every request.
            if cached is not None:
                with self._lock:
                    self._checked_at[name] = now
                return cached, "hit"
            raise type(failure.error)(failure.error.detail)
        self.metrics.count("CacheMiss")
        return self._load(ref, cached), "miss" if cached is None else "reload"

    def preload(self, names: Iterable[str]) -> None:
        """Load models ahead of traffic; a failure is logged and left for requests to see."""
        for name in names:
            try:
                self.get(name)
            except RouterError as exc:
                logger.warning("preload failed", extra={"model": name, "error": exc.detail})

    def _load(self, ref: ModelRef, cached: LoadedModel | None) -> LoadedModel:
        name = ref.name
        with self._lock:
            # Another request may have finished loading this very version since our miss.
            current = self._cache.peek(name)
            if current is not None and current.version_key == ref.version_key:
                return current
            pending = self._pending.get(name)
            leader = pending is None
            if pending is None:
                pending = self._pending[name] = _PendingLoad(ref.version_key)
        if not leader:
            if cached is not None:
                return cached  # another request is loading the new version: keep serving
            if not pending.done.wait(self.load_wait_s):
                raise LoadTimeout(
                    f"model {name!r} is still loading after {self.load_wait_s:g} s; retry"
                )
            if pending.error is not None:
                raise pending.error
            assert pending.result is not None
            return pending.result
        try:
            pending.result = self._load_as_leader(ref, cached)
            return pending.result
        except BaseException as exc:
            pending.error = exc
            raise
        finally:
            with self._lock:
                del self._pending[name]
            pending.done.set()

    def _load_as_leader(self, ref: ModelRef, cached: LoadedModel | None) -> LoadedModel:
        name = ref.name
        started = time.perf_counter()
        try:
            self._refuse_oversized_file(ref)
            model = self._loader(ref)
            with self._lock:
                self._cache[name] = model
                self._checked_at[name] = self._clock()
                self._failures.pop(name, None)
        except (InvalidModelFile, ModelTooLarge) as exc:
            return self._failed(ref, cached, exc)
        except OSError as exc:
            # An I/O error (EFS unreachable, permissions) says nothing about the file's
            # content: report it without remembering the version as broken.
            raise StoreUnavailable(f"cannot read model {name!r}: {exc.strerror}") from exc
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.metrics.count("ModelLoad")
        self.metrics.milliseconds("LoadTime", elapsed_ms)
        logger.info(
            "model loaded",
            extra={
                "model": name,
                "version": model.version,
                "replaced": cached.version if cached is not None else None,
                "load_ms": round(elapsed_ms, 1),
                "size_bytes": model.size_bytes,
            },
        )
        return model

    def _refuse_oversized_file(self, ref: ModelRef) -> None:
        """Refuse before parsing a file whose model could not fit the budget anyway."""
        if ref.format != "ubj":
            return  # JSON is larger on disk than in memory: only the loaded size tells
        estimate = ref.fingerprint.size * MEMORY_PER_UBJ_BYTE
        if estimate > self._cache.maxsize:
            raise ModelTooLarge(
                f"model {ref.name!r} needs about {estimate / 2**20:.0f} MiB, more than the "
                f"whole cache budget of {self._cache.maxsize / 2**20:.0f} MiB "
                "(ROUTER_CACHE_MAX_BYTES)"
            )

    def _failed(
        self, ref: ModelRef, cached: LoadedModel | None, exc: InvalidModelFile | ModelTooLarge
    ) -> LoadedModel:
        error: RouterError = exc
        if isinstance(exc, InvalidModelFile):
            error = ModelUnavailable(f"model {ref.name!r} has no loadable version: {exc.detail}")
        with self._lock:
            self._failures[ref.name] = LoadFailure(ref.version_key, error)
            if cached is not None:
                self._checked_at[ref.name] = self._clock()
        self.metrics.count("LoadFailure")
        logger.error(
            "model load failed",
            extra={
                "model": ref.name,
                "file": ref.path.name,
                "error": exc.detail,
                "serving": cached.version if cached is not None else None,
            },
        )
        if cached is not None:
            return cached
        raise error from exc

    def _forget(self, name: str) -> None:
        with self._lock:
            if self._cache.pop(name, None) is not None:
                logger.info("model removed from the store; unloaded", extra={"model": name})
            self._checked_at.pop(name, None)
            self._failures.pop(name, None)

    def _evicted(self, name: str, model: LoadedModel) -> None:
        # Called under self._lock, from the cache's popitem.
        self._checked_at.pop(name, None)
        self.metrics.count("CacheEviction")
        logger.info("model evicted", extra={"model": name, "version": model.version})

    # -- status --------------------------------------------------------------------------

    def status(self, name: str) -> ModelStatus:
        """Load the model if possible, then describe it; a load failure is shown, not raised."""
        with contextlib.suppress(ModelUnavailable, ModelTooLarge, LoadTimeout):
            self.get(name)
        ref = self.store.resolve(name)
        with self._lock:
            return ModelStatus(ref, self._cache.peek(name), self._failures.get(name))

    def statuses(self) -> list[ModelStatus]:
        """Every model on disk, loaded or not; loads nothing."""
        refs = self.store.list()
        with self._lock:
            return [
                ModelStatus(ref, self._cache.peek(ref.name), self._failures.get(ref.name))
                for ref in refs
            ]

    def cache_usage(self) -> dict[str, int]:
        with self._lock:
            return {
                "models": len(self._cache),
                "max_models": self._cache.max_models,
                "bytes": int(self._cache.currsize),
                "max_bytes": int(self._cache.maxsize),
            }
