from __future__ import annotations

import gc
import importlib
import logging
import sys
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path
    from types import ModuleType

from router.observability import JSON_LOGGERS
from router.settings import get_settings
from scripts.lambda_inputs import LambdaContext


def _reset_router_loggers() -> None:
    # configure_logging makes the router's loggers print JSON and stop propagating; undo
    # that so later tests' caplog sees their records again.
    configured = [n for n in logging.root.manager.loggerDict if n.split(".")[0] in JSON_LOGGERS]
    for name in [*configured, *JSON_LOGGERS]:  # "py.warnings" is not under a top name
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)


@pytest.fixture
def import_handler(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[..., ModuleType]]:
    """Import ``router.lambda_handler`` afresh, as a new Lambda environment would, with
    Lambda's own environment variables plus the given ``ROUTER_*`` ones."""

    def load(model_root: Path, **router_env: str) -> ModuleType:
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "model-router")
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "2048")
        monkeypatch.setenv("AWS_REGION", "eu-west-1")
        monkeypatch.setenv("ROUTER_MODEL_ROOT", str(model_root))
        for key, value in router_env.items():
            monkeypatch.setenv(f"ROUTER_{key.upper()}", value)
        get_settings.cache_clear()
        sys.modules.pop("router.lambda_handler", None)
        return importlib.import_module("router.lambda_handler")

    yield load
    # The entry freezes what init made (see its top); in a test process that is other
    # tests' garbage too, which must stay collectable.
    gc.unfreeze()
    sys.modules.pop("router.lambda_handler", None)
    get_settings.cache_clear()
    _reset_router_loggers()


@pytest.fixture
def context() -> LambdaContext:
    return LambdaContext()
