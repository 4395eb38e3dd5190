"""Reading the router's JSON log lines in tests."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from router.observability import PREDICTION_MESSAGE

if TYPE_CHECKING:
    import pytest

SECRET = "secret internals"


def json_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def prediction_lines(output: str) -> list[dict[str, Any]]:
    return [line for line in json_lines(output) if line.get("message") == PREDICTION_MESSAGE]


def comparable_prediction_lines(output: str) -> list[dict[str, Any]]:
    """The prediction lines without what differs between two runs of one request."""
    lines = prediction_lines(output)
    for line in lines:
        assert line.pop("latency_ms") >= 0
        del line["timestamp"]
    return lines


def fail_with_a_secret(*args: object) -> None:
    """A stand-in for a step that hits a bug, with internals in its message."""
    raise KeyError(SECRET)


def assert_the_secret_is_only_in_the_log(caplog: pytest.LogCaptureFixture, body: str) -> None:
    assert SECRET not in body
    (record,) = [r for r in caplog.records if r.exc_info is not None]
    assert SECRET in str(record.exc_info[1])
