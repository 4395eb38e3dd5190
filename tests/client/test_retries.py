"""Retries against a local server that throttles or is unavailable first: Retry-After is
waited exactly, otherwise a jittered backoff; timeouts and other errors are not retried."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest

from router.client import ConnectionFailed, RequestFailed, RetryPolicy, RouterClient
from scripts.loopback import free_port
from tests.client.servers import HANG, Reply, ScriptedServer, serving

PREDICTION = b'{"model":"m","version":"0123456789ab","output":"value","predictions":[1.0]}'
PROBLEM = (
    b'{"type":"urn:model-router:problem:model-load-timeout",'
    b'"title":"Model load still in progress","status":503,"detail":"still loading"}'
)


# What the router answers them with (router.api.problems), and what API Gateway answers
# when the function itself is unavailable: no problem body.
PROBLEM_TYPE = {"Content-Type": "application/problem+json"}
GATEWAY_UNAVAILABLE = b'{"message":"Service Unavailable"}'


def must_not_sleep(seconds: float) -> None:
    pytest.fail(f"the client waited {seconds} s to retry")


def test_retry_after_seconds_and_dates_are_waited_exactly() -> None:
    in_a_minute = formatdate(time.time() + 60, usegmt=True)
    server = ScriptedServer(
        [
            Reply(503, PROBLEM, {"Retry-After": "2", **PROBLEM_TYPE}),
            Reply(429, b'{"message":"Too Many Requests"}', {"Retry-After": in_a_minute}),
            Reply(200, PREDICTION),
        ]
    )
    waits: list[float] = []
    policy = RetryPolicy(retries=3, max_retry_after_s=90)

    with serving(server), RouterClient(server.url, retry=policy, sleep=waits.append) as client:
        result = client.predict("m", [[1.0]])

    assert result.predictions == [1.0]
    assert len(server.received) == 3
    assert waits[0] == 2.0
    assert 58 <= waits[1] <= 60  # the date, less the time it took to get here


def test_without_retry_after_the_backoff_is_jittered_and_bounded() -> None:
    server = ScriptedServer([Reply(503, GATEWAY_UNAVAILABLE)] * 3 + [Reply(200, PREDICTION)])
    waits: list[float] = []
    policy = RetryPolicy(retries=3, backoff_s=0.5, max_backoff_s=1.5)

    with serving(server), RouterClient(server.url, retry=policy, sleep=waits.append) as client:
        client.predict("m", [[1.0]])

    assert len(waits) == 3
    for attempt, wait in enumerate(waits):
        assert 0 <= wait <= min(1.5, 0.5 * 2**attempt)


def test_when_retries_run_out_the_last_problem_is_raised() -> None:
    gateway_id = {"apigw-requestid": "Ab1CdE2fGhI3jKl="}  # as API Gateway answers
    server = ScriptedServer(
        [Reply(503, PROBLEM, {"Retry-After": "1", **gateway_id, **PROBLEM_TYPE})]
    )
    waits: list[float] = []

    with (
        serving(server),
        RouterClient(server.url, retry=RetryPolicy(retries=2), sleep=waits.append) as client,
        pytest.raises(RequestFailed) as failed,
    ):
        client.predict("m", [[1.0]])

    assert len(server.received) == 3 and waits == [1.0, 1.0]
    assert failed.value.status == 503
    assert failed.value.detail == "still loading"
    assert failed.value.retry_after_s == 1.0
    assert str(failed.value).endswith("still loading (request id Ab1CdE2fGhI3jKl=)")


def test_a_retry_after_beyond_the_limit_is_not_waited_for() -> None:
    server = ScriptedServer(
        [Reply(429, b'{"message":"Too Many Requests"}', {"Retry-After": "120"})]
    )
    waits: list[float] = []

    with (
        serving(server),
        RouterClient(server.url, sleep=waits.append) as client,
        pytest.raises(RequestFailed) as failed,
    ):
        client.predict("m", [[1.0]])

    assert len(server.received) == 1 and waits == []
    assert (failed.value.status, failed.value.retry_after_s) == (429, 120.0)


def test_client_errors_are_not_retried() -> None:
    server = ScriptedServer([Reply(422, PROBLEM.replace(b"503", b"422"), PROBLEM_TYPE)])

    with (
        serving(server),
        RouterClient(server.url, sleep=must_not_sleep) as client,
        pytest.raises(RequestFailed),
    ):
        client.predict("m", [[1.0]])

    assert len(server.received) == 1


def test_a_model_the_router_cannot_serve_is_not_retried() -> None:
    # No version of the model loads: a 503 without Retry-After, which only a new file ends.
    unavailable = (
        b'{"type":"urn:model-router:problem:model-unavailable","title":"Model unavailable",'
        b'"status":503,"detail":"model \'m\' has no loadable version: not a valid model"}'
    )
    server = ScriptedServer([Reply(503, unavailable, PROBLEM_TYPE), Reply(200, PREDICTION)])

    with (
        serving(server),
        RouterClient(server.url, sleep=must_not_sleep) as client,
        pytest.raises(RequestFailed) as failed,
    ):
        client.predict("m", [[1.0]])

    assert len(server.received) == 1
    assert failed.value.status == 503 and "no loadable version" in failed.value.detail


def test_a_refused_connection_is_retried_then_reported() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    waits: list[float] = []

    with (
        RouterClient(url, retry=RetryPolicy(retries=2), sleep=waits.append) as client,
        pytest.raises(ConnectionFailed, match=r"cannot reach 127\.0\.0\.1"),
    ):
        client.predict("m", [[1.0]])

    assert len(waits) == 2


def test_a_timeout_is_reported_and_not_retried() -> None:
    server = ScriptedServer([Reply(HANG)])

    with serving(server), RouterClient(server.url, timeout_s=0.3, sleep=must_not_sleep) as client:
        started = time.monotonic()
        with pytest.raises(ConnectionFailed, match=r"no answer .* within 0.3 s"):
            client.predict("m", [[1.0]])

    assert time.monotonic() - started < 5
    assert len(server.received) == 1


def test_a_kept_alive_connection_the_server_dropped_is_reopened_at_no_cost() -> None:
    server = ScriptedServer([Reply(200, PREDICTION, hang_up=True)])

    with serving(server), RouterClient(server.url, sleep=must_not_sleep) as client:
        results = [client.predict("m", [[1.0]]) for _ in range(3)]

    assert [result.predictions for result in results] == [[1.0]] * 3
    assert len(server.received) == 3
