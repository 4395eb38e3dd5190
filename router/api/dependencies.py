"""The app's collaborators, handed to endpoints through ``Depends`` (tests pass their own to
``create_app`` instead of patching globals).

The getters are ``async`` although they do not await: FastAPI runs a plain ``def`` dependency
in its thread pool, and under Mangum, with a new event loop per invocation, that started a
worker thread per request (about 1 ms of a 1.8 ms call, measured by scripts/bench_router.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, ParamSpec, TypeVar

from fastapi import Depends, Request

from router.registry.registry import ModelRegistry
from router.settings import Settings


def app_registry(request: Request) -> ModelRegistry:
    registry: ModelRegistry = request.app.state.registry
    return registry


def app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_registry(request: Request) -> ModelRegistry:
    return app_registry(request)


async def get_settings(request: Request) -> Settings:
    return app_settings(request)


RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


P = ParamSpec("P")
T = TypeVar("T")
RunBlocking = Callable[..., Awaitable[Any]]


async def run_inline(func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``run_in_threadpool``'s signature, on the calling thread (see ``create_app``)."""
    return func(*args, **kwargs)


def app_run_blocking(request: Request) -> RunBlocking:
    """How this app runs blocking work: a worker thread, or inline (see ``create_app``)."""
    run_blocking: RunBlocking = request.app.state.run_blocking
    return run_blocking
