"""The real Lambda handler, API Gateway HTTP API (payload 2.0) events: the same answers as
the estimators, for every model kind, through one warm handler."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from tests.events import http_api_event

from .compare import assert_same, requests_for

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from types import ModuleType

    from scripts.lambda_inputs import LambdaContext

    from .estimators import Case


def test_the_lambda_handler_answers_what_each_estimator_answers(
    import_handler: Callable[..., ModuleType],
    context: LambdaContext,
    store: Path,
    cases: dict[str, Case],
) -> None:
    module = import_handler(store)
    for case in cases.values():
        for form, output, request in requests_for(case):
            event = http_api_event(
                "POST",
                f"/models/{case.name}/predict",
                request,
                headers={"content-type": "application/json"},
            )
            response = module.handler(event, context)
            assert response["statusCode"] == 200, (case.name, form, output, response["body"])
            assert_same(case, output, json.loads(response["body"]))
