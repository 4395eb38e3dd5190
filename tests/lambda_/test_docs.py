"""On Lambda, /docs and /openapi.json answer only when ROUTER_DOCS asks for them."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from tests.events import http_api_event

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from types import ModuleType

    from scripts.lambda_inputs import LambdaContext


@pytest.mark.parametrize(("docs", "status"), [(None, 404), ("true", 200)])
def test_the_lambda_handler_serves_docs_only_when_asked(
    import_handler: Callable[..., ModuleType],
    context: LambdaContext,
    model_root: Path,
    docs: str | None,
    status: int,
) -> None:
    module = import_handler(model_root, **({"docs": docs} if docs else {}))

    spec = module.handler(http_api_event("GET", "/openapi.json"), context)
    page = module.handler(http_api_event("GET", "/docs"), context)

    assert spec["statusCode"] == status and page["statusCode"] == status
    if status == 200:
        assert "/models/{name}/predict" in json.loads(spec["body"])["paths"]
