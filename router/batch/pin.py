"""One model version per job: resolved once at the start, used by every part.

A local job holds the loaded model for its whole run. Parts of a job on AWS run in many
Lambda environments, possibly after a retrain went live, so each part asks for the job's
version by its content hash: the live model while it is still that version, else the same
version from the publish history (``<root>/<name>/.history/``, kept by ``publish`` and the
inbox function). ``pinned_model`` is the one place that knows how; when the registry can
load a given version itself, only this function changes.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from cachetools import LRUCache

from router.batch.errors import PinnedVersionUnavailable
from router.errors import ModelNotFound
from router.publish.local import list_versions
from router.store import Fingerprint, ModelRef
from router.xgb.loader import load_model

if TYPE_CHECKING:
    from router.registry.registry import ModelRegistry
    from router.xgb.loader import LoadedModel

# Earlier versions loaded from the history, per environment: a job's parts keep asking for
# the same one, and a second job may still run on the version before.
_HISTORY_MODELS: LRUCache[tuple[str, str, str], LoadedModel] = LRUCache(maxsize=2)
_LOCK = threading.Lock()


def pinned_model(
    registry: ModelRegistry, name: str, version: str | None = None, *, nthread: int = 1
) -> LoadedModel:
    """The live model when ``version`` is None (a job's start); else that version of it."""
    if version is None:
        return registry.get(name)
    try:
        live = registry.get(name)
    except ModelNotFound:
        live = None  # unpublished meanwhile: the history may still hold the version
    if live is not None and live.version == version:
        return live
    return _from_history(registry, name, version, nthread)


def _from_history(registry: ModelRegistry, name: str, version: str, nthread: int) -> LoadedModel:
    root = registry.store.root
    key = (str(root), name, version)
    with _LOCK:
        cached = _HISTORY_MODELS.get(key)
    if cached is not None:
        return cached
    entry = next((v for v in list_versions(root, name) if v.sha256.startswith(version)), None)
    if entry is None:
        raise PinnedVersionUnavailable(
            f"model {name!r} version {version} is no longer live and not in its publish "
            "history (ROUTER_HISTORY_LIMIT keeps that many earlier versions); start the job "
            "again to use the live version"
        )
    ref = ModelRef(
        name=name,
        path=entry.path,
        format="ubj",
        layout="directory",
        fingerprint=Fingerprint.of(entry.path.stat()),
    )
    model = load_model(ref, nthread=nthread)
    if model.version != version:  # the file is not what its history name says
        raise PinnedVersionUnavailable(
            f"model {name!r} version {version}: its history file has other content"
        )
    with _LOCK:
        _HISTORY_MODELS[key] = model
    return model
