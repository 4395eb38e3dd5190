"""AWS Lambda entry point: ``router.lambda_handler.handler``.

Everything is built at import, during Lambda's init phase (which runs at full CPU and, with
provisioned concurrency, before any request): settings, logging, the registry and the app,
and the models named in ``ROUTER_PRELOAD``. Mangum runs with ``lifespan="off"`` because it
would otherwise enter the app's lifespan on every invocation.
"""

from __future__ import annotations

import gc

# Init allocates hundreds of thousands of objects (the imports, the app, preloaded models)
# that live as long as the execution environment, and the collector scanned them again and
# again while they were made: a sizeable share of a cold start (docs/benchmarks.md). So it
# is off until init is done, and then they are frozen out of every later collection. The
# imports below come after it on purpose.
# ruff: noqa: E402
gc.disable()

import functools
from typing import TYPE_CHECKING, Any

from mangum import Mangum
from mangum.handlers.api_gateway import HTTPGateway

from router.api.app import create_app
from router.api.gateway_events import check_event, event_problem
from router.api.lambda_limits import refuse_oversized, text_mime_types
from router.api.lambda_predict import DirectPredict
from router.errors import AnswerTooLarge, MalformedEvent, NotAnHttpEvent, RouterError
from router.observability import EmfMetricsSink, configure_logging
from router.registry.metrics import RouterMetrics
from router.registry.registry import ModelRegistry
from router.settings import get_settings

if TYPE_CHECKING:
    from mangum.types import Scope


class HTTPGatewayOnce(HTTPGateway):
    """Mangum's handler for API Gateway HTTP API events, building each event's ASGI scope
    once. Mangum's own builds it again when it answers, only to read the payload version:
    39 of the ~550 Python calls of a one-row predict, by cProfile. Passed to Mangum through
    ``custom_handlers``, which it tries first, with HTTPGateway's own test for the event."""

    @functools.cached_property
    def scope(self) -> Scope:
        return super().scope


settings = get_settings()
logger = configure_logging(settings)
metrics_sink = EmfMetricsSink(settings.metrics_namespace)
registry = ModelRegistry.from_settings(settings, RouterMetrics(metrics_sink))
app = create_app(settings, registry, one_request_at_a_time=True)
registry.preload(settings.preload)
# Problem bodies (application/problem+json) as text: Mangum base64-encodes any type it does
# not know as text.
_adapter = Mangum(
    app, lifespan="off", custom_handlers=[HTTPGatewayOnce], text_mime_types=text_mime_types()
)
# Predict events skip Mangum (router.api.lambda_predict); every other event goes through it.
_direct_predict = DirectPredict(app)
_cold_start = True
gc.freeze()
gc.enable()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Serve one API Gateway event (HTTP API payload 2.0, or REST API)."""
    global _cold_start
    logger.append_keys(request_id=getattr(context, "aws_request_id", None), cold_start=_cold_start)
    if _cold_start:
        metrics_sink.count("ColdStart", 1)
        _cold_start = False
    try:
        checked = check_event(event)
        response = _direct_predict(checked, context) or _adapter(checked, context)
        refuse_oversized(response)
    except AnswerTooLarge as exc:
        # The app answered (and logged) 200; Lambda would have failed it instead.
        logger.warning("answer refused: %s", exc.detail)
        response = event_problem(exc, event)
    except NotAnHttpEvent as exc:
        # A trigger wired to the wrong function, or a hand-made test event: nobody waits on
        # an HTTP answer, so the log line is what tells the operator.
        logger.error("event ignored: the router serves API Gateway requests only: %s", exc.detail)
        response = event_problem(exc, event)
    except MalformedEvent as exc:
        logger.warning("malformed API Gateway event: %s", exc.detail)
        response = event_problem(exc, event)
    except Exception:
        # A bug reading an event the checks let through: the trace for us, not the caller.
        logger.exception("the event could not be served")
        response = event_problem(RouterError("the router failed; see its logs"), event)
    finally:
        metrics_sink.flush()
    return response
