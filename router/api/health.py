"""``GET /health``: is the model store reachable, and how full is the cache.

It does not say where the store is: callers have no use for the server's paths."""

from __future__ import annotations

from fastapi import APIRouter

from router.api.dependencies import RegistryDep
from router.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"description": "The model store is not reachable"}},
)
def health(registry: RegistryDep) -> Health:
    registry.store.check()
    return Health(
        status="ok",
        cache=registry.cache_usage(),
        counters=registry.metrics.totals(),
    )
