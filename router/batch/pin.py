"""One model version per job: resolved once at the start, used by every part.

A local job holds the loaded model for its whole run. Parts of a job on AWS run in many
Lambda environments, possibly after a retrain went live, so each part asks the registry for
the job's version by its content hash: the live model while it is still that version, else
the same version from the model's publish history, cached and evicted like any model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from router.batch.errors import PinnedVersionUnavailable
from router.errors import UnknownVersion

if TYPE_CHECKING:
    from router.registry.registry import ModelRegistry
    from router.xgb.loader import LoadedModel


def pinned_model(registry: ModelRegistry, name: str, version: str | None = None) -> LoadedModel:
    """The live model when ``version`` is None (a job's start); else that version of it."""
    if version is None:
        return registry.get(name)
    try:
        return registry.get_version(name, version)
    except UnknownVersion as exc:
        raise PinnedVersionUnavailable(
            f"model {name!r} version {version} is no longer live and not in its publish "
            "history (ROUTER_HISTORY_LIMIT keeps that many earlier versions); start the job "
            "again to use the live version"
        ) from exc
