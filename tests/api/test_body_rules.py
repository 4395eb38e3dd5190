"""One body, one reading: what a gateway, a browser or another parser could read differently
is refused, and every output gives the same verdict on the same rows."""

from __future__ import annotations

import gzip
from typing import TYPE_CHECKING

import pytest

from tests.api.test_errors import GOOD_ROW, assert_problem
from tests.modelkit import train_booster, write_model

if TYPE_CHECKING:
    from pathlib import Path

    from fastapi.testclient import TestClient

OUTPUTS = ["value", "margin", "contributions"]
JSON = {"content-type": "application/json"}


@pytest.fixture
def served(client: TestClient, model_root: Path) -> TestClient:
    write_model(model_root, "m", train_booster(feature_names=["a", "b", "c", "d"]))
    return client


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize(
    "instances",
    [
        [[1e300, 0.2, 0.3, 0.4]],
        [GOOD_ROW, [0.1, -1e300, 0.3, 0.4]],
        [{"a": 0.1, "d": 1e39}],
        [[2**200, 0.2, 0.3, 0.4]],
    ],
    ids=["array", "second-row-negative", "object", "big-integer"],
)
def test_numbers_beyond_float32_are_422_for_every_output(
    served: TestClient, output: str, instances: list[object]
) -> None:
    response = served.post("/models/m/predict", json={"instances": instances, "output": output})

    assert "float32" in assert_problem(response, 422, "invalid-instances")["detail"]


def test_the_largest_float32_and_missing_values_still_predict(served: TestClient) -> None:
    for output in OUTPUTS:
        response = served.post(
            "/models/m/predict",
            json={"instances": [[3.4028e38, None, -3.4028e38, 0.0]], "output": output},
        )
        assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "raw",
    [
        b'{"instances": [[1, 2, 3, 4]], "instances": [[5, 6, 7, 8]]}',
        b'{"output": "margin", "instances": [[1, 2, 3, 4]], "output": "value"}',
        b'{"instances": [{"a": 1, "b": 2, "a": 3}]}',
        b'{"instances": [{"a": 1}, {"b": 2, "c": 3, "b": 2}]}',
        # The same key spelt with an escape is the same key.
        b'{"instances": [[1, 2, 3, 4]], "\\u0069nstances": [[5, 6, 7, 8]]}',
        # Escaped quotes and backslashes are not string ends.
        b'{"instances": [{"a\\"": 1, "b\\\\": 2, "a\\"": 3}]}',
    ],
    ids=["instances", "output", "feature", "feature-in-second-row", "escaped", "quotes"],
)
def test_a_key_twice_in_one_object_is_refused(served: TestClient, raw: bytes) -> None:
    response = served.post("/models/m/predict", content=raw, headers=JSON)

    assert "twice" in assert_problem(response, 400, "malformed-request")["detail"]


def test_quotes_and_backslashes_in_feature_names_are_not_duplicates(
    client: TestClient, model_root: Path
) -> None:
    # What the duplicate check counts (quotes) may appear, escaped, inside feature names.
    names = ["t:a", 't"b', "c\\", 'd\\"']
    write_model(model_root, "t", train_booster(feature_names=names))
    raw = b'{"instances": [{"t:a": 1, "t\\"b": 2, "c\\\\": 3}, {"d\\\\\\"": 4}], "output": "value"}'

    response = client.post("/models/t/predict", content=raw, headers=JSON)

    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == 2


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/jsonp",
    ],
)
def test_a_body_that_is_not_json_by_its_type_is_415(served: TestClient, content_type: str) -> None:
    response = served.post(
        "/models/m/predict",
        content=b'{"instances": [[0.1, 0.2, 0.3, 0.4]]}',
        headers={"content-type": content_type},
    )

    assert (
        content_type.split(";")[0]
        in assert_problem(response, 415, "unsupported-media-type")["detail"]
    )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"content-type": "application/json"},
        {"content-type": "Application/JSON; charset=utf-8"},
        {"content-type": "application/vnd.api+json"},
    ],
    ids=["absent", "json", "json-charset", "plus-json"],
)
def test_json_and_absent_content_types_are_served(
    served: TestClient, headers: dict[str, str]
) -> None:
    response = served.post(
        "/models/m/predict", content=b'{"instances": [[0.1, 0.2, 0.3, 0.4]]}', headers=headers
    )

    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # requests' data=gzip.compress(...) without the header: the usual way to get here.
        (gzip.compress(b'{"instances": [[1, 2, 3, 4]]}'), "byte 1 is 0x8b (it starts as a gzip"),
        # A CSV exported from Excel in Latin-1, pasted into a JSON string.
        ('{"instances": [{"a": "café"}]}'.encode("latin-1"), "byte 25 is 0xe9"),
        # UTF-16 with its byte order mark, what PowerShell's Out-File writes.
        ('{"instances": [[1, 2, 3, 4]]}'.encode("utf-16"), "byte 0 is 0xff"),
    ],
    ids=["gzip-without-header", "latin-1", "utf-16"],
)
def test_a_body_that_is_not_utf8_says_so(served: TestClient, raw: bytes, expected: str) -> None:
    response = served.post("/models/m/predict", content=raw, headers=JSON)

    detail = assert_problem(response, 400, "malformed-request")["detail"]
    assert "not UTF-8" in detail and expected in detail
    assert "surrogates" not in detail
