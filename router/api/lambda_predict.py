"""The Lambda entry's direct path: API Gateway HTTP API events for
``POST /models/{name}/predict``, answered without an ASGI round trip.

Under Mangum a one-row prediction spent most of its time outside the router and outside
XGBoost: an event loop, a task and a queue per invocation, the ASGI scope, the app's
middleware, Starlette's request and response objects, and Mangum's translation back
(docs/benchmarks.md has the breakdown). The body of a Lambda event is already in memory and
one event runs at a time, so none of that buys anything for predict. This path runs the
endpoint's own steps (``router.api.body``, ``router.api.models``, the same problems and the
same log line) straight on the event, and answers what Mangum would have answered: a test
holds the two equal, headers and bytes, over a corpus of events, errors included.

It takes only the events whose reading it shares with Mangum exactly: payload 2.0, ``POST``,
a path that Starlette's rule for the route matches. Everything else (other routes and
methods, REST API and payload 1.0 events, pinned versions) goes through Mangum and the app.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from starlette.responses import Response
from starlette.routing import compile_path

from router.api.body import (
    check_content_encoding,
    check_content_type,
    parse_encoded_request,
    refuse_declared_size,
    refuse_received_size,
)
from router.api.lambda_limits import proxy_response, refuse_oversized
from router.api.models import PREDICT_PATH, answer_body, predict_now
from router.api.problems import internal_problem, router_problem
from router.api.request_log import write_prediction_line
from router.errors import RouterError
from router.names import validate_name

if TYPE_CHECKING:
    from fastapi import FastAPI

    from router.api.request_log import PredictionFacts
    from router.registry.registry import CacheOutcome
    from router.xgb.loader import LoadedModel

JSON_MEDIA_TYPE = "application/json"


class DirectPredict:
    """``direct(event, context)``: the Lambda proxy response for a predict event, or
    ``None`` for an event Mangum must serve. ``event`` has passed ``check_event``."""

    def __init__(self, app: FastAPI) -> None:
        self.state = app.state
        self.path = compile_path(PREDICT_PATH)[0]

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any] | None:
        if event.get("version") != "2.0":
            return None
        http = event["requestContext"]["http"]
        # Mangum's reading of the path (mangum.handlers.utils.strip_api_gateway_path).
        path = unquote(http["path"]) or "/"
        match = self.path.match(path) if http["method"] == "POST" else None
        if match is None:
            return None
        # Mangum's reading of the body (maybe_encode_body); check_event decoded base64.
        body = event.get("body") or b""
        body = body if isinstance(body, bytes) else body.encode()
        headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
        started = time.perf_counter()
        status = 500
        facts: PredictionFacts | None = None
        try:
            content, facts = self._predict(match["name"], headers, body)
            answer = proxy_response(Response(content, media_type=JSON_MEDIA_TYPE))
            refuse_oversized(answer)  # here, so that the prediction line says 413
            status = 200
        except RouterError as exc:
            status = exc.status
            answer = proxy_response(router_problem(exc, path, self.state.settings))
        except Exception:
            answer = proxy_response(internal_problem(path))
        finally:
            latency_ms = (time.perf_counter() - started) * 1000
            request_id = getattr(context, "aws_request_id", None)
            write_prediction_line(self.state, match["name"], facts, request_id, status, latency_ms)
        return answer

    def _predict(
        self, name: str, headers: dict[str, str], body: bytes
    ) -> tuple[bytes, PredictionFacts]:
        """``router.api.models.predict`` for one request at a time: nothing to wait for, so
        the body is parsed, the model loaded and the rows predicted inline, as the app does
        under Lambda (``create_app``'s ``one_request_at_a_time``)."""
        settings = self.state.settings
        registry = self.state.registry
        validate_name(name)
        check_content_type(headers.get("content-type"))
        encoding = headers.get("content-encoding")
        check_content_encoding(encoding)
        refuse_declared_size(headers.get("content-length"), settings.max_body_bytes)
        refuse_received_size(len(body), settings.max_body_bytes)
        payload = parse_encoded_request(body, encoding, settings.max_body_bytes, settings.max_rows)
        model: LoadedModel | None = registry.cached_if_fresh(name)
        cache: CacheOutcome = "hit"
        if model is None:
            model, cache = registry.lookup(name)
        predictions = predict_now(registry, model, payload)
        facts = (model.version, len(payload.instances), payload.output, cache)
        return answer_body(name, model, payload, predictions), facts
