"""The prediction log line (``router.observability.log_prediction``) around the predict
endpoint: its latency and status, failures included.

The endpoint notes what only it knows (version, rows, output, cache outcome) with
``note_prediction``; ``logs_predictions`` wraps it, times it, and writes the line whether it
answered or raised. A wrapper rather than middleware: Starlette middleware costs tens of
microseconds per request on every route, this a few on one.
"""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING

# FastAPI reads the wrapped endpoint's annotations in this module's namespace: a real import.
from fastapi import Request  # noqa: TC002

from router.errors import RouterError
from router.names import NAME_PATTERN
from router.observability import log_prediction, prediction_level

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from starlette.datastructures import State
    from starlette.responses import Response
    from starlette.types import Scope

    from router.registry.registry import CacheOutcome

    # What only the endpoint knows: the version it served, rows, output, cache outcome.
    PredictionFacts = tuple[str, int, str, CacheOutcome]

# Where the endpoint leaves its facts for the wrapper, in the request's ASGI scope.
_FACTS = "router.prediction"
_SERVED = "served_a_prediction"  # on app.state
_MAX_REQUEST_ID = 128


def note_prediction(request: Request, facts: PredictionFacts) -> None:
    request.scope[_FACTS] = facts


def logs_predictions(
    endpoint: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    @functools.wraps(endpoint)
    async def logged(request: Request) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await endpoint(request)
            status = response.status_code
            return response
        except RouterError as exc:
            status = exc.status
            raise
        finally:
            _log(request, status, (time.perf_counter() - started) * 1000)

    return logged


def _log(request: Request, status: int, latency_ms: float) -> None:
    write_prediction_line(
        request.app.state,
        request.path_params.get("name"),
        request.scope.get(_FACTS),
        request_id(request.scope, request.headers.get("x-request-id")),
        status,
        latency_ms,
    )


def request_id(scope: Scope, header: str | None) -> str | None:
    """The request's id for its line: the Lambda invocation's under Mangum, else what the
    caller sent as ``X-Request-Id`` (``header``), cut to a bound."""
    context = scope.get("aws.context")  # Mangum's: the Lambda invocation
    if context is not None:
        return getattr(context, "aws_request_id", None)
    return header[:_MAX_REQUEST_ID] if header else None


def write_prediction_line(
    state: State,
    name: object,
    facts: PredictionFacts | None,
    request_id: str | None,
    status: int,
    latency_ms: float,
) -> None:
    """The line about one predict request, however it was served (the app's route, the
    direct path ahead of the app, router.api.asgi_predict, or the Lambda entry's,
    router.api.lambda_predict): ``name`` as the path had it,
    ``facts`` as the endpoint noted them (``None`` when it failed before knowing them)."""
    # The first prediction this app serves (on Lambda: this execution environment's), the
    # one that meets an empty cache. Noted whether or not its line is sampled.
    cold_start = not getattr(state, _SERVED, False)
    if cold_start:
        setattr(state, _SERVED, True)
    sample = state.settings.request_log_sample
    level = prediction_level(sample, status)
    if not level:
        return
    version, rows, output, cache = facts or (None, None, None, None)
    if not (isinstance(name, str) and NAME_PATTERN.fullmatch(name)):
        name = None  # an invalid name is the caller's text: keep it out of the logs
    log_prediction(
        level,
        sample,
        model=name,
        version=version,
        rows=rows,
        output=output,
        status=status,
        latency_ms=latency_ms,
        cache=cache,
        cold_start=cold_start,
        request_id=request_id,
    )
