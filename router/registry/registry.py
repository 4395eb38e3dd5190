"""What is loaded: the cache, one load per model at a time, hot reload and load failures.

A request asks ``get(name)``. A cached model is returned at once while its file was checked
less than ``reload_interval_s`` ago. Otherwise the file is stat-ed: unchanged, the cached
model is returned; changed or not cached, the model is loaded. Loads happen outside the lock,
so a slow load never holds up requests for other models, and concurrent requests for the same
model share one load. While a new version loads, other requests keep getting the old one; a
version that fails to load is remembered and never replaces a working one.

Only bytes somebody finished writing are served. Bytes a publisher recorded (their SHA-256
is in the model's history) are served at once. Other bytes are served once settled: they
arrived under a new inode (an atomic rename, or a file this process never read), or their
file has not changed for ``settle_s`` seconds. A file rewritten in place (``rsync
--inplace``, ``dd conv=notrunc``) is mid-write whenever it is read, so its bytes wait.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from router import history
from router.errors import (
    InvalidModelFile,
    LoadTimeout,
    ModelNotFound,
    ModelSettling,
    ModelTooLarge,
    ModelUnavailable,
    RouterError,
    StoreUnavailable,
    UnknownVersion,
)
from router.registry.cache import ModelCache
from router.registry.metrics import RouterMetrics
from router.store import (
    FileRefused,
    FileTooLarge,
    ModelFiles,
    ModelFormat,
    ModelRef,
    ModelStore,
    pickle_hint,
    validate_name,
)

# The model file and its metadata file as read (ModelRef.version_key); VersionKey here is
# the cache's key, pinned versions' too.
from router.store import VersionKey as FilesRead
from router.xgb.formats import FORMATS
from router.xgb.loader import LoadedModel, load_model

if TYPE_CHECKING:
    from router.settings import CachePolicy, Settings

logger = logging.getLogger(__name__)

Loader = Callable[[ModelFiles], LoadedModel]
CacheOutcome = Literal["hit", "miss", "reload"]
VersionKey = object


@dataclass(frozen=True, slots=True)
class LoadFailure:
    """The last version of a model that failed to load, and why: ``error`` is what a request
    that has no older version to fall back on gets; ``cause``, what is wrong with the file
    (the same detail without the model's name), where a load said so."""

    version_key: VersionKey
    error: RouterError
    at: float = field(default_factory=time.time)
    cause: str | None = None


@dataclass(slots=True)
class _PendingLoad:
    version_key: VersionKey
    done: threading.Event = field(default_factory=threading.Event)
    result: LoadedModel | None = None
    error: BaseException | None = None


@dataclass(frozen=True, slots=True)
class ModelStatus:
    """What ``GET /models/{name}`` shows: the file on disk and the loaded version, if any.
    ``ref`` is ``None`` when the model's files cannot be read (``failure`` says why).
    ``cached`` says whether the cache keeps ``loaded``: a model it did not admit was loaded
    to answer, and is described, but not kept."""

    name: str
    ref: ModelRef | None
    loaded: LoadedModel | None
    failure: LoadFailure | None
    cached: bool = True

    @property
    def stale(self) -> bool:
        """A newer file is on disk than the version being served (it failed to load)."""
        if self.loaded is None or self.ref is None:
            return False
        return self.loaded.version_key != self.ref.version_key


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
        settle_s: float = 0.0,
        cache_policy: CachePolicy = "tinylfu",
        metrics: RouterMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.reload_interval_s = reload_interval_s
        self.load_wait_s = load_wait_s
        self.settle_s = settle_s
        self.metrics = metrics or RouterMetrics()
        self._loader = loader
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._checked_at: dict[str, float] = {}
        # The cache's callback holds what it updates, not the registry: a registry that
        # is dropped (tests, benchmarks, an embedding app's reload) then frees its models at
        # once, not at the collector's next full pass.
        evicted = functools.partial(_forget_evicted, self._checked_at, self.metrics)
        self._cache: ModelCache[LoadedModel] = ModelCache(
            max_models, max_bytes, policy=cache_policy, on_evict=evicted
        )
        self._failures: dict[str, LoadFailure] = {}
        # The version of live files this process hashed to match them to a pinned version,
        # by what was opened: each file is hashed once, not on every pinned request.
        self._live_versions: dict[FilesRead, str] = {}
        self._pending: dict[str, _PendingLoad] = {}
        # Settling: when each model's current version key was first seen, and which inodes
        # its bytes were last read from (kept across evictions, dropped when it is removed).
        self._first_seen: dict[str, tuple[VersionKey, float]] = {}
        # The version each model last loaded: unchanged since, it has settled, even after an
        # eviction dropped it from the cache.
        self._last_loaded: dict[str, VersionKey] = {}
        self._read_files: dict[str, FilesRead] = {}

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
            settle_s=settings.settle_s,
            cache_policy=settings.cache_policy,
            loader=lambda files: load_model(files, nthread=nthread),
            metrics=metrics,
        )

    # -- serving -------------------------------------------------------------------------

    def cached_if_fresh(self, name: str) -> LoadedModel | None:
        """The cached model if its file needs no check yet; does no I/O, so it is safe to call
        on the event loop. ``None`` means: call ``get`` (from a worker thread), which counts
        the request for the cache's admission; a hit counts it here."""
        validate_name(name)
        now = self._clock()
        with self._lock:
            if not self._fresh(name, now):
                return None
            cached = self._cache.access(name)
        self.metrics.count("CacheHit")
        return cached

    def get(self, name: str) -> LoadedModel:
        """The model to predict with now; checks its file, and loads or reloads when needed."""
        return self.lookup(name)[0]

    def lookup(self, name: str) -> tuple[LoadedModel, CacheOutcome]:
        """``get``, and what the cache had: ``hit`` (the file's version, or a broken file's
        working predecessor), ``miss`` (nothing: loaded now) or ``reload`` (an older version:
        the new one loaded now, or the old one served while another request loads it)."""
        validate_name(name)
        now = self._clock()
        with self._lock:
            fresh = self._fresh(name, now)
            cached = self._cache.access(name)  # once per request, cached or not
        if fresh and cached is not None:
            self.metrics.count("CacheHit")
            return cached, "hit"
        try:
            ref = self.store.resolve(name)
        except ModelNotFound as exc:
            self._forget(name)
            hint = pickle_hint(self.store.root, name)  # only a request's 404 pays its stats
            if not hint:
                raise
            raise ModelNotFound(exc.detail + hint) from exc
        if cached is not None and cached.version_key == ref.version_key:
            with self._lock:
                self._checked_at[name] = now
            self.metrics.count("CacheHit")
            return cached, "hit"
        with self._lock:
            self._note_seen(name, ref.version_key, now)
        failure = self._failures.get(name)
        if failure is not None and failure.version_key == ref.version_key:
            # This exact file already failed: don't parse it again on every request.
            if cached is not None:
                with self._lock:
                    self._checked_at[name] = now
                return cached, "hit"
            return self._fall_back(ref, type(failure.error)(failure.error.detail)), "miss"
        self.metrics.count("CacheMiss")
        try:
            return self._load(ref, cached), "miss" if cached is None else "reload"
        except (ModelUnavailable, ModelTooLarge) as exc:
            return self._fall_back(ref, exc), "miss"

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
            try:
                files = self.store.read(ref, size_limit=self._size_limit)
            except (FileRefused, FileTooLarge) as exc:
                # Remembered under what was opened, which need not be what was stat-ed.
                return self._remember_failure(ref, exc.version_key, cached, exc)
            read_before = self._note_read(files.ref)
            if not files.published and not self._settled(files.ref, read_before):
                return self._unsettled(files.ref, cached)
            try:
                model = self._loader(files)
                with self._lock:
                    cached_now = self._admit(name, model)
                    self._failures.pop(name, None)
                    self._last_loaded[name] = files.ref.version_key
            except (InvalidModelFile, ModelTooLarge) as exc:
                return self._remember_failure(ref, files.ref.version_key, cached, exc)
        except OSError as exc:
            # An I/O error (EFS unreachable, permissions) says nothing about the file's
            # content: report it without remembering the version as broken.
            raise StoreUnavailable(f"cannot read model {name!r}: {exc.strerror}") from exc
        except MemoryError as exc:
            # Not remembered either: the same file may load once other loads are done.
            raise ModelTooLarge(f"not enough memory to load model {name!r} now; retry") from exc
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
                "cached": cached_now,
            },
        )
        return model

    def _fresh(self, key: str, now: float) -> bool:
        """Cached and checked less than ``reload_interval_s`` ago; call with the lock held."""
        return key in self._cache and now - self._checked_at[key] < self.reload_interval_s

    def _admit(self, key: str, model: LoadedModel) -> bool:
        """Offer ``model`` to the cache; call with the lock held. Not admitted, it is served
        to the requests that loaded it and not kept (``router.registry.cache``)."""
        if not self._cache.admit(key, model):
            self.metrics.count("CacheAdmissionRefused")
            return False
        self._checked_at[key] = self._clock()
        return True

    def _size_limit(self, fmt: ModelFormat) -> int:
        """The largest file worth reading: one whose model could fit the budget, by the
        format's estimate of memory from file size. Where the file size bounds nothing,
        reading the file still takes its whole size."""
        return _largest_file(FORMATS[fmt].memory_before_parse, int(self._cache.maxsize))

    def _note_seen(self, name: str, version_key: VersionKey, now: float) -> None:
        """Remember when ``version_key`` was first seen; call with the lock held."""
        seen = self._first_seen.get(name)
        if seen is None or seen[0] != version_key:
            self._first_seen[name] = (version_key, now)

    def _note_read(self, ref: ModelRef) -> FilesRead | None:
        """Remember which files ``ref``'s bytes were read from (published or not); returns
        the ones read before, if any."""
        with self._lock:
            read_before = self._read_files.get(ref.name)
            self._read_files[ref.name] = ref.version_key
        return read_before

    def _settled(self, ref: ModelRef, read_before: FilesRead | None) -> bool:
        """Whether the bytes just read from ``ref`` (not published ones) may be served."""
        now = self._clock()
        metadata = ref.metadata_fingerprint
        with self._lock:
            self._note_seen(ref.name, ref.version_key, now)
            first_seen = self._first_seen[ref.name][1]
            if self._last_loaded.get(ref.name) == ref.version_key:
                return True  # loaded and served before, unchanged since: evicted meanwhile
        files = ref.version_key
        if read_before is None or (
            read_before != files and not _rewritten_in_place(read_before, files)
        ):
            return True  # each changed file is one this process never read: renamed into place
        if now - first_seen >= self.settle_s:
            return True  # unchanged across two checks settle_s apart
        changed_ns = max(ref.fingerprint.ctime_ns, metadata.ctime_ns if metadata else 0)
        # Unchanged for settle_s by its own change time (a process that just started).
        return self._wall_clock() - changed_ns / 1e9 >= self.settle_s

    def _unsettled(self, ref: ModelRef, cached: LoadedModel | None) -> LoadedModel:
        if cached is not None:
            with self._lock:
                self._checked_at[ref.name] = self._clock()
            return cached
        raise ModelSettling(
            f"model {ref.name!r} was changed in place less than {self.settle_s:g} s ago; its "
            "file is served once unchanged that long (ROUTER_SETTLE_S)"
        )

    def _remember_failure(
        self,
        ref: ModelRef,
        version_key: VersionKey,
        cached: LoadedModel | None,
        exc: InvalidModelFile | ModelTooLarge,
    ) -> LoadedModel:
        # Stored as the base classes: a remembered error is raised again by its class and
        # detail alone (see get), and FileTooLarge needs more to be built.
        error: RouterError = ModelTooLarge(exc.detail)
        if isinstance(exc, InvalidModelFile):
            error = ModelUnavailable(f"model {ref.name!r} has no loadable version: {exc.detail}")
        with self._lock:
            self._failures[ref.name] = LoadFailure(version_key, error, cause=exc.detail)
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
            self._first_seen.pop(name, None)
            self._read_files.pop(name, None)
            self._last_loaded.pop(name, None)

    # -- versions: the model's publish history (router.history) --------------------------

    def cached_version_if_fresh(self, name: str, version: str) -> LoadedModel | None:
        """``cached_if_fresh`` for one pinned version: no I/O; ``None``: call ``get_version``."""
        validate_name(name)
        now = self._clock()
        with self._lock:
            for key in (_pinned_key(name, version), name):
                cached = self._cache.peek(key)
                if (
                    cached is not None
                    and cached.version == version
                    and now - self._checked_at[key] < self.reload_interval_s
                ):
                    self._cache.access(key)
                    break
            else:
                return None
        self.metrics.count("CacheHit")
        return cached

    def get_version(self, name: str, version: str) -> LoadedModel:
        """Version ``version`` of ``name``, while the store still has it: an entry of the
        model's history, or its live file. Cached, counted and evicted like any model, and
        never reloaded: a version's content cannot change, so it is only looked up again
        (every ``reload_interval_s``) to stop serving it once it leaves the history."""
        found = self.cached_version_if_fresh(name, version)
        if found is not None:
            return found
        entry = history.find(self.store, name, version)
        if entry is None or self._is_live_file(entry):
            # The live file (a hand-made model has no other version) holds that version:
            # the live path's model serves it, one load and one cache entry for both,
            # unless the file changed or is broken meanwhile.
            live = self._live_or_none(name)
            if live is not None and live.version == version:
                return live
            if entry is None:
                with self._lock:  # it left the history: free its memory too
                    self._cache.pop(_pinned_key(name, version), None)
                    self._checked_at.pop(_pinned_key(name, version), None)
                raise UnknownVersion(self._unknown_version(name, version))
        return self._get_pinned(entry)

    def _get_pinned(self, entry: history.HistoryEntry) -> LoadedModel:
        name, version = entry.ref.name, entry.version
        key = _pinned_key(name, version)
        with self._lock:
            cached = self._cache.access(key)
            if cached is not None:
                self._checked_at[key] = self._clock()
                return cached
        failure = self._failures.get(key)
        if failure is not None and failure.version_key == entry.ref.version_key:
            raise type(failure.error)(failure.error.detail)
        self.metrics.count("CacheMiss")
        model = self._load(dataclasses.replace(entry.ref, name=key), None)
        if model.version != version:
            # The history file's content is not what its name says (damaged on the store).
            error = ModelUnavailable(
                f"version {version} of {name!r} is damaged on the store: its content is "
                f"version {model.version}"
            )
            with self._lock:
                self._cache.pop(key, None)
                self._checked_at.pop(key, None)
                self._failures[key] = LoadFailure(entry.ref.version_key, error)
            raise error
        return model

    def versions(self, name: str) -> list[history.ModelVersion]:
        """Every version of ``name`` that can be served, newest first (``router.history``)."""
        validate_name(name)

        def loaded_version(ref: ModelRef) -> str | None:
            with self._lock:
                cached = self._cache.peek(ref.name)
            return cached.version if cached and cached.version_key == ref.version_key else None

        def fails_to_load(ref: ModelRef) -> bool:
            with self._lock:
                failure = self._failures.get(ref.name)
            return failure is not None and failure.version_key == ref.version_key

        return history.versions(
            self.store, name, live_version=loaded_version, fails_to_load=fails_to_load
        )

    def _fall_back(self, ref: ModelRef, error: RouterError) -> LoadedModel:
        """The live file does not load and no working version of it is cached (it was
        evicted, or this is a new process, such as every new Lambda environment): serve the
        newest version of the model's history that loads, as if it were live, until the
        live file changes. ``error`` is raised when none does."""
        entries = history.history(self.store, ref.name)
        # The broken live file itself, linked into the history, and any copy of it.
        broken = {entry.version for entry in entries if entry.is_file_of(ref)}
        tried = 0
        for entry in entries:
            if entry.version in broken:
                continue
            tried += 1
            try:
                model = self._get_pinned(entry)
            except (ModelUnavailable, ModelTooLarge, UnknownVersion):
                continue
            with self._lock:
                current = self._cache.peek(ref.name)
                if current is not None:
                    return current  # another request got there first (or the file was fixed)
                # Served under the live name from now on; the live file's failure stays
                # recorded, so status shows why (stale) and the broken file is not parsed again.
                self._cache.pop(_pinned_key(ref.name, model.version), None)
                self._checked_at.pop(_pinned_key(ref.name, model.version), None)
                cached_now = self._admit(ref.name, model)
            logger.warning(
                "live file does not load; serving an earlier version from the history",
                extra={
                    "model": ref.name,
                    "version": model.version,
                    "error": error.detail,
                    "cached": cached_now,
                },
            )
            return model
        if tried:
            raise type(error)(f"{error.detail}; no earlier version in its history loads either")
        raise error

    def _is_live_file(self, entry: history.HistoryEntry) -> bool:
        """Whether the live file holds ``entry``'s version. Entries are copies of what was
        published (router.publish.local), so the live file is known by its content: the
        cached live model's version when it is this very file, else the file's hash. Only
        folders published when entries were hard links still match by inode."""
        try:
            ref = self.store.resolve(entry.ref.name)
        except ModelNotFound:
            return False
        if entry.is_file_of(ref):
            return True
        with self._lock:
            cached = self._cache.peek(ref.name)
        if cached is not None and cached.version_key == ref.version_key:
            return cached.version == entry.version
        with self._lock:
            version = self._live_versions.get(ref.version_key)
        if version is None:
            try:
                version = history.file_version(ref)
            except ModelNotFound:  # removed since it was resolved
                return False
            with self._lock:
                if len(self._live_versions) >= _MAX_LIVE_VERSIONS:
                    self._live_versions.clear()
                self._live_versions[ref.version_key] = version
        return version == entry.version

    def _live_or_none(self, name: str) -> LoadedModel | None:
        try:
            return self.get(name)
        except (ModelNotFound, ModelUnavailable, ModelTooLarge):
            return None

    def _unknown_version(self, name: str, version: str) -> str:
        known = [v.version + (" (live)" if v.live else "") for v in self.versions(name)]
        listed = ", ".join(known[:20]) if known else "none"
        return f"model {name!r} has no version {version[:64]!r}; its versions are: {listed}"

    # -- status --------------------------------------------------------------------------

    def load_and_describe(self, name: str) -> ModelStatus:
        """Load the model if possible, then describe it; a load failure is shown, not raised."""
        answered: LoadedModel | None = None
        with contextlib.suppress(ModelUnavailable, ModelTooLarge, LoadTimeout, ModelSettling):
            answered = self.get(name)
        ref = self.store.resolve(name)
        with self._lock:
            cached = self._cache.peek(name)
            failure = self._failures.get(name)
        # A model the cache did not admit (TinyLFU) still answered this request: describe it.
        return ModelStatus(name, ref, cached or answered, failure, cached=cached is not None)

    def statuses(self) -> list[ModelStatus]:
        """Every model on disk, loaded or not; loads nothing. A model whose files cannot be
        read is listed with that error, and the others as usual."""
        listing = self.store.scan()
        with self._lock:
            found = [
                ModelStatus(ref.name, ref, self._cache.peek(ref.name), self._failures.get(ref.name))
                for ref in listing.refs
            ]
            found += [
                ModelStatus(name, None, self._cache.peek(name), LoadFailure(None, error))
                for name, error in listing.errors.items()
            ]
        return sorted(found, key=lambda status: status.name)

    def cache_usage(self) -> dict[str, int]:
        with self._lock:
            return {
                "models": len(self._cache),
                "max_models": self._cache.max_models,
                "bytes": int(self._cache.currsize),
                "max_bytes": int(self._cache.maxsize),
            }


def _forget_evicted(
    checked_at: dict[str, float], metrics: RouterMetrics, name: str, model: LoadedModel
) -> None:
    """The cache evicted ``model``; called under the registry's lock, from its popitem."""
    checked_at.pop(name, None)
    metrics.count("CacheEviction")
    logger.info("model evicted", extra={"model": name, "version": model.version})


def _largest_file(memory_of: Callable[[int], float | None], budget: int) -> int:
    """The largest file size whose memory estimate (``memory_of``, increasing with the size;
    ``None`` when the size bounds nothing) fits ``budget``; at most ``budget``."""
    if (memory_of(budget) or 0) <= budget:
        return budget
    low, high = 0, budget  # high does not fit; low is 0 or fits
    while high - low > 1:
        middle = (low + high) // 2
        if (memory_of(middle) or 0) <= budget:
            low = middle
        else:
            high = middle
    return low


# Live files whose version is remembered (a few hundred bytes each) before starting over.
_MAX_LIVE_VERSIONS = 1024


def _pinned_key(name: str, version: str) -> str:
    """The cache key of a pinned version; no model name contains ``@``, so it cannot
    collide with a live model's key."""
    return f"{name}@{version}"


def _rewritten_in_place(before: FilesRead, now: FilesRead) -> bool:
    """Whether a file (the model, or its metadata) is the same file as read before but with
    other content: written in place (``rsync --inplace``, XGBoost's ``save_model``), so what
    was read may be half of it. One file renamed into place beside another written in
    place does not make the other whole."""
    for old, new in zip(before, now, strict=True):
        same_file = (
            old is not None
            and new is not None
            and ((old.device, old.inode) == (new.device, new.inode))
        )
        if same_file and old != new:
            return True
    return False
