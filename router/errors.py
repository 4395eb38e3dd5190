"""The router's errors. Each carries its HTTP status, a slug and a title; the API layer turns
any of them into one ``application/problem+json`` body, so no other layer knows HTTP."""

from __future__ import annotations

import re

# XGBoost prefixes its messages with the time and the C++ source location of the build that
# raised them: "[17:12:40] /workspace/src/objective/objective.cc:27: Unknown objective".
# That tells a caller about the build machine and nothing about their input.
_XGBOOST_PREFIX = re.compile(
    r"\[\d{1,2}:\d{2}:\d{2}\]\s*|(?:[\w.~+-]*/)+[\w.+-]+\.(?:cc|cu|cuh|h|hpp|cpp):\d+:\s*"
)


def scrub_detail(detail: str) -> str:
    """``detail`` without XGBoost's time stamps and build paths."""
    return _XGBOOST_PREFIX.sub("", detail)


class RouterError(Exception):
    """Base class: ``status`` is the HTTP status, ``slug`` names the problem type.

    The detail is shown to callers (problem bodies, ``last_error``), so it is scrubbed of
    XGBoost's build paths here, once, wherever it was raised."""

    status: int = 500
    slug: str = "internal-error"
    title: str = "Internal error"
    # The same request can succeed soon (a load finishing, the store coming back): the API
    # says so with Retry-After. A model that does not load, or does not fit, stays so.
    retryable: bool = False

    def __init__(self, detail: str) -> None:
        detail = scrub_detail(detail)
        super().__init__(detail)
        self.detail = detail


class InvalidModelName(RouterError):
    status, slug, title = 400, "invalid-model-name", "Invalid model name"


class MalformedRequest(RouterError):
    status, slug, title = 400, "malformed-request", "Malformed request"


class ModelOutsideRoot(RouterError):
    status, slug, title = 403, "model-outside-root", "Model path leaves the model root"


class ModelNotFound(RouterError):
    status, slug, title = 404, "model-not-found", "Model not found"


class UnknownVersion(RouterError):
    """A pinned version that is not (or no longer) in the model's publish history."""

    status, slug, title = 404, "version-not-found", "Version not found"


class RequestTimeout(RouterError):
    status, slug, title = 408, "request-timeout", "Request body not received in time"


class ClientClosedRequest(RouterError):
    """The client hung up before its body had arrived: nobody is left to answer, so this is
    for the log line (nginx's 499), not an error of the router's."""

    status, slug, title = 499, "client-closed-request", "Client closed the request"


class RequestTooLarge(RouterError):
    status, slug, title = 413, "request-too-large", "Request too large"


class AnswerTooLarge(RouterError):
    """On Lambda: the answer is over what a function may return. Lambda would fail the
    invocation, and API Gateway would give the client a bare 500."""

    status, slug, title = 413, "answer-too-large", "Answer too large for Lambda"


class UnsupportedMediaType(RouterError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class InvalidInstances(RouterError):
    status, slug, title = 422, "invalid-instances", "Invalid instances"


class ModelUnavailable(RouterError):
    """The model exists but no version of it can be served (its file fails to load)."""

    status, slug, title = 503, "model-unavailable", "Model unavailable"


class ModelTooLarge(RouterError):
    status, slug, title = 503, "model-too-large", "Model larger than the cache budget"


class LoadTimeout(RouterError):
    status, slug, title = 503, "model-load-timeout", "Model load still in progress"
    retryable = True


class ModelSettling(RouterError):
    """The model's file changed in place moments ago and nothing else can be served yet:
    its bytes are served once unchanged for ``ROUTER_SETTLE_S`` (a writer may be midway)."""

    status, slug, title = 503, "model-settling", "Model file still changing"


class StoreUnavailable(RouterError):
    status, slug, title = 503, "store-unavailable", "Model store unavailable"
    retryable = True


class MalformedEvent(RouterError):
    """A Lambda event shaped like API Gateway's that Mangum cannot turn into a request."""

    status, slug, title = 400, "malformed-event", "Malformed API Gateway event"


class NotAnHttpEvent(RouterError):
    """A Lambda event that is no API Gateway request at all (another trigger, a test)."""

    status, slug, title = 400, "not-an-http-event", "Not an API Gateway request event"


class InvalidModelFile(RouterError):
    """A file that is not a loadable XGBoost model. Raised by loaders; the registry turns it
    into ``ModelUnavailable`` for a request, the publisher into a rejection."""

    status, slug, title = 422, "invalid-model-file", "Not a loadable XGBoost model"
