"""Events the real handler cannot serve get an answer, never a stack trace: 400 for what
looks like an API Gateway request, and a log line that says what arrived for the rest."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

import pytest

from tests.events import http_api_event, load_event
from tests.modelkit import train_booster, write_model

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from types import ModuleType

    from scripts.lambda_inputs import LambdaContext

BODY = '{"instances": [[5.1, 3.5, 1.4, 0.2]]}'


@pytest.fixture
def module(import_handler: Callable[..., ModuleType], model_root: Path) -> ModuleType:
    write_model(model_root, "iris", train_booster("multiclass"))
    return import_handler(model_root)


def _predict_event(**changes: Any) -> dict[str, Any]:
    event = http_api_event("POST", "/models/iris/predict", BODY)
    event.update(changes)
    return event


def _without_http(event: dict[str, Any]) -> dict[str, Any]:
    del event["requestContext"]["http"]
    return event


def _header(event: dict[str, Any], name: str, value: str) -> dict[str, Any]:
    event["headers"][name] = value
    return event


def _problem(response: dict[str, Any], slug: str) -> dict[str, Any]:
    assert response["statusCode"] == 400, response
    assert response["headers"]["content-type"] == "application/problem+json"
    assert "Traceback" not in json.dumps(response)
    body: dict[str, Any] = json.loads(response["body"])
    assert body["type"] == f"urn:model-router:problem:{slug}" and body["detail"]
    return body


@pytest.mark.parametrize(
    ("event", "detail"),
    [
        (_predict_event(body="not base64!", isBase64Encoded=True), "base64"),
        (_predict_event(body="QUJ", isBase64Encoded=True), "base64"),  # bad padding
        (_predict_event(headers=None), "headers"),
        (_predict_event(headers={"content-type": 1}), "headers"),
        (_predict_event(body=["not", "a", "string"]), "body"),
        (_predict_event(cookies="a=b"), "cookies"),
        (_without_http(_predict_event()), "requestContext.http"),
        (_header(_predict_event(), "x-forwarded-port", "443x"), "port"),
        (_header(_predict_event(), "host", "example.com:1:2"), "port"),
    ],
    ids=[
        "invalid-base64",
        "bad-padding",
        "headers-null",
        "header-not-string",
        "body-not-string",
        "cookies-not-list",
        "no-http-context",
        "port-not-a-number",
        "host-two-colons",
    ],
)
def test_a_malformed_http_api_event_is_400(
    module: ModuleType, context: LambdaContext, event: dict[str, Any], detail: str
) -> None:
    response = module.handler(event, context)

    assert detail in _problem(response, "malformed-event")["detail"]


def test_a_malformed_rest_event_is_400(module: ModuleType, context: LambdaContext) -> None:
    event = load_event("apigw_rest_v1")
    event["requestContext"]["identity"] = None

    assert "identity" in _problem(module.handler(event, context), "malformed-event")["detail"]


@pytest.mark.parametrize(
    "event",
    [{}, load_event("s3_object_created"), {"requestContext": {}}, [1, 2]],
    ids=["empty", "s3", "context-only", "a-list"],
)
def test_an_event_that_is_no_request_is_logged_and_answered(
    module: ModuleType,
    context: LambdaContext,
    event: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    response = module.handler(event, context)

    _problem(response, "not-an-http-event")
    (record,) = [r for r in caplog.records if "API Gateway requests only" in r.getMessage()]
    assert record.levelname == "ERROR" and record.exc_info is None
    assert "not an API Gateway request event (keys: " in record.getMessage()


def test_what_api_gateway_really_sends_is_still_served(
    module: ModuleType, context: LambdaContext
) -> None:
    # A REST API sends null for absent headers and query strings; a base64 body is decoded.
    rest = load_event("apigw_rest_v1")
    rest["headers"] = rest["multiValueHeaders"] = None
    encoded = _predict_event(body=base64.b64encode(BODY.encode()).decode(), isBase64Encoded=True)

    for event in (rest, encoded, load_event("apigw_http_v2")):
        response = module.handler(event, context)
        assert response["statusCode"] == 200, response
        assert len(json.loads(response["body"])["predictions"][0]) == 3


def test_the_callers_event_is_left_as_it_was(module: ModuleType, context: LambdaContext) -> None:
    # Decoding a base64 body must not change the caller's event: the same event sent again
    # (a retry, a test, a benchmark) is served again.
    event = _predict_event(body=base64.b64encode(BODY.encode()).decode(), isBase64Encoded=True)
    sent = json.dumps(event)

    answers = [module.handler(event, context)["statusCode"] for _ in range(2)]

    assert answers == [200, 200]
    assert json.dumps(event) == sent


def test_a_failure_while_serving_an_event_is_a_500_problem_with_the_trace_in_the_log(
    module: ModuleType,
    context: LambdaContext,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def failing(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        raise KeyError("secret internals")

    # Mangum, and the direct path that predict events take (router.api.lambda_predict).
    monkeypatch.setattr(module, "_adapter", failing)
    monkeypatch.setattr(module, "_direct_predict", failing)

    response = module.handler(load_event("apigw_http_v2"), context)

    assert response["statusCode"] == 500 and "secret" not in response["body"]
    assert json.loads(response["body"])["type"] == "urn:model-router:problem:internal-error"
    (record,) = [r for r in caplog.records if r.exc_info is not None]
    assert "secret internals" in str(record.exc_info[1])


def test_problems_from_the_app_come_back_as_text_not_base64(
    module: ModuleType, context: LambdaContext
) -> None:
    response = module.handler(_predict_event(body='{"instances": []}'), context)

    assert response["statusCode"] == 422 and response["isBase64Encoded"] is False
    assert json.loads(response["body"])["status"] == 422


def _rest(**changes: Any) -> dict[str, Any]:
    event = load_event("apigw_rest_v1")
    event.update(changes)
    return event


def _rest_multi_header(name: str, values: list[str]) -> dict[str, Any]:
    event = _rest()
    event["multiValueHeaders"][name] = values
    return event


def _without(event: dict[str, Any], key: str) -> dict[str, Any]:
    del event[key]
    return event


LONE_SURROGATE = "\ud800"  # JSON's "\ud800": a hand-made event can hold it


@pytest.mark.parametrize(
    ("event", "detail"),
    [
        # Mangum joins a repeated header with ", " and reads the port from it with int().
        (_rest_multi_header("X-Forwarded-Port", ["443", "443"]), "port"),
        (_rest_multi_header("Host", ["a:443", "a:443"]), "port"),
        (_without(_rest(), "resource"), "resource"),
        (_rest(body='{"instances": [["' + LONE_SURROGATE + '"]]}'), "Unicode"),
        (_rest(queryStringParameters={"q": LONE_SURROGATE}), "Unicode"),
        (_rest(path="/models/" + LONE_SURROGATE), "Unicode"),
    ],
    ids=[
        "repeated-port",
        "repeated-host",
        "no-resource",
        "surrogate-in-body",
        "surrogate-in-query",
        "surrogate-in-path",
    ],
)
def test_a_malformed_rest_event_that_mangum_would_fail_on_is_400(
    module: ModuleType, context: LambdaContext, event: dict[str, Any], detail: str
) -> None:
    assert detail in _problem(module.handler(event, context), "malformed-event")["detail"]


@pytest.mark.parametrize(
    ("event", "detail"),
    [
        (_predict_event(body='{"instances": [["' + LONE_SURROGATE + '"]]}'), "Unicode"),
        (_predict_event(rawQueryString="q=" + LONE_SURROGATE), "Unicode"),
        (_header(_predict_event(), "x-note", LONE_SURROGATE), "Unicode"),
        (_predict_event(cookies=["a=" + LONE_SURROGATE]), "Unicode"),
        (http_api_event("GET", "/models/" + LONE_SURROGATE), "Unicode"),
    ],
    ids=["body", "query", "header", "cookie", "path"],
)
def test_text_mangum_cannot_encode_is_400(
    module: ModuleType, context: LambdaContext, event: dict[str, Any], detail: str
) -> None:
    assert detail in _problem(module.handler(event, context), "malformed-event")["detail"]


@pytest.mark.parametrize(
    "headers",
    [{"host": "["}, {"host": None, "x-forwarded-proto": "HTTPS"}],
    ids=["unreadable-host", "unknown-scheme-without-host"],
)
def test_an_error_answer_does_not_depend_on_the_host_or_scheme(
    module: ModuleType, context: LambdaContext, headers: dict[str, str | None]
) -> None:
    # Starlette cannot build a URL from these; the problem's instance is the path alone.
    event = http_api_event("GET", "/nothing", None, headers)

    response = module.handler(event, context)

    assert response["statusCode"] == 404, response
    assert response["headers"]["content-type"] == "application/problem+json"
    assert json.loads(response["body"])["instance"] == "/nothing"


def test_a_load_balancers_event_is_still_left_to_mangum(
    module: ModuleType, context: LambdaContext
) -> None:
    # An Application Load Balancer's event has httpMethod, but neither resource nor version.
    event = _without(_rest(), "resource")
    event["requestContext"] = {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:..."}}

    response = module.handler(event, context)

    assert response["statusCode"] == 200, response
    assert len(json.loads(response["body"])["predictions"][0]) == 3


@pytest.mark.parametrize("kind", ["rest", "http"])
def test_a_trailing_slash_is_a_404_that_names_the_route(
    module: ModuleType, context: LambdaContext, kind: str
) -> None:
    # A redirect would be built from the Host header, without a REST API's stage.
    if kind == "rest":
        event = _rest(path="/models/iris/predict/")
    else:
        event = _predict_event()
        event["rawPath"] = event["requestContext"]["http"]["path"] = "/models/iris/predict/"

    response = module.handler(event, context)

    assert response["statusCode"] == 404, response
    assert "location" not in {name.lower() for name in response["headers"]}
    detail = json.loads(response["body"])["detail"]
    assert "'/models/iris/predict' is, without the slash" in detail
