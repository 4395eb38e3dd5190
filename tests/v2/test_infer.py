"""POST /v2/models/{name}/infer: both input forms, every numeric datatype, binary and JSON
outputs, and a clear 4xx ``{"error"}`` for every kind of bad request."""

from __future__ import annotations

import gzip
import json
import zlib
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from router.api import create_app
from router.api.v2.infer import encode_request
from router.api.v2.tensors import NUMERIC_DATATYPES
from router.registry.registry import ModelRegistry
from router.settings import Settings
from tests.modelkit import train_booster, write_model
from tests.v2.conftest import CLASSES, FEATURES, expected, publish

if TYPE_CHECKING:
    from pathlib import Path

    import xgboost as xgb

    from tests.v2.conftest import Published

PATH = "/v2/models/iris/infer"


@pytest.fixture
def iris(model_root: Path, iris_boosters: list[xgb.Booster]) -> Published:
    return publish(model_root, iris_boosters[0])


def tensor(rows: np.ndarray, datatype: str = "FP32", name: str = "input") -> dict[str, Any]:
    return {"name": name, "shape": list(rows.shape), "datatype": datatype, "data": rows.tolist()}


def binary_body(header: dict[str, Any], *chunks: bytes) -> tuple[bytes, dict[str, str]]:
    head = json.dumps(header).encode()
    return head + b"".join(chunks), {"Inference-Header-Content-Length": str(len(head))}


def outputs_of(response: Any) -> dict[str, np.ndarray]:
    """Decode a V2 response, JSON or binary, into arrays by output name."""
    assert response.status_code == 200, response.text
    length = response.headers.get("inference-header-content-length")
    content = response.content
    header = json.loads(content[: int(length)] if length else content)
    binary, offset, arrays = content[int(length) :] if length else b"", 0, {}
    for output in header["outputs"]:
        dtype = NUMERIC_DATATYPES[output["datatype"]]
        size = (output.get("parameters") or {}).get("binary_data_size")
        if size is None:
            values = np.asarray(output["data"], dtype=dtype)
        else:
            values = np.frombuffer(binary[offset : offset + size], dtype=dtype)
            offset += size
        arrays[output["name"]] = values.reshape(output["shape"])
    assert offset == len(binary)
    return arrays


@pytest.mark.parametrize("datatype", sorted(NUMERIC_DATATYPES))
def test_every_numeric_datatype_as_binary_input(
    client: TestClient, iris: Published, iris_rows: np.ndarray, datatype: str
) -> None:
    dtype = NUMERIC_DATATYPES[datatype]
    values = np.round(iris_rows).astype(dtype)  # integer types hold whole numbers
    header = {
        "inputs": [
            {
                "name": "x",
                "shape": list(values.shape),
                "datatype": datatype,
                "parameters": {"binary_data_size": values.nbytes},
            }
        ]
    }
    body, headers = binary_body(header, values.tobytes())

    response = client.post(PATH, content=body, headers=headers)  # no Content-Type at all

    want = expected(iris.booster, values.astype(np.float32))
    np.testing.assert_array_equal(outputs_of(response)["value"], want)


def test_json_data_nested_or_flat_with_null_as_missing(
    client: TestClient, iris: Published, iris_rows: np.ndarray
) -> None:
    rows: list[list[float | None]] = iris_rows.tolist()
    rows[1][2] = None
    flat = tensor(iris_rows) | {"data": [value for row in rows for value in row]}

    nested = client.post(PATH, json={"inputs": [tensor(iris_rows) | {"data": rows}]})
    flattened = client.post(PATH, json={"inputs": [flat]})

    expected_rows = iris_rows.copy()
    expected_rows[1, 2] = np.nan
    want = expected(iris.booster, expected_rows)
    np.testing.assert_array_equal(outputs_of(nested)["value"], want)
    np.testing.assert_array_equal(outputs_of(flattened)["value"], want)


def test_one_tensor_per_feature_in_any_order_absent_ones_missing(
    client: TestClient, iris: Published, iris_rows: np.ndarray
) -> None:
    inputs = [
        {"name": FEATURES[i], "shape": [4], "datatype": "FP64", "data": iris_rows[:, i].tolist()}
        for i in (2, 0, 3)
    ]

    response = client.post(PATH, json={"inputs": inputs, "parameters": {"content_type": "pd"}})

    expected_rows = iris_rows.copy()
    expected_rows[:, 1] = np.nan
    np.testing.assert_array_equal(
        outputs_of(response)["value"], expected(iris.booster, expected_rows)
    )


def test_requested_outputs_mixed_binary_and_json_in_request_order(
    client: TestClient, iris: Published, iris_rows: np.ndarray
) -> None:
    request = {
        "id": "abc",
        "inputs": [tensor(iris_rows)],
        "parameters": {"binary_data_output": True},
        "outputs": [
            {"name": "contributions"},  # binary: the request's default
            {"name": "margin", "parameters": {"binary_data": False}},
            {"name": "value"},
        ],
    }

    response = client.post(PATH, json=request)
    arrays = outputs_of(response)

    booster = iris.booster
    header = json.loads(
        response.content[: int(response.headers["inference-header-content-length"])]
    )
    assert response.headers["content-type"] == "application/octet-stream"
    assert [o["name"] for o in header["outputs"]] == ["contributions", "margin", "value"]
    assert ["data" in o for o in header["outputs"]] == [False, True, False]
    assert header["id"] == "abc" and header["model_version"] == iris.version
    np.testing.assert_array_equal(arrays["margin"], expected(booster, iris_rows, "margin"))
    assert arrays["contributions"].shape == (4, 3, 5)
    np.testing.assert_allclose(
        arrays["contributions"].sum(axis=2), arrays["margin"], rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_encode_request_builds_what_the_server_answers(
    client: TestClient, iris: Published, iris_rows: np.ndarray, binary: bool
) -> None:
    body, headers = encode_request(iris_rows, binary=binary, outputs=("value", "margin"))

    response = client.post(PATH, content=body, headers=headers)

    arrays = outputs_of(response)
    assert ("inference-header-content-length" in response.headers) is binary
    np.testing.assert_array_equal(arrays["value"], expected(iris.booster, iris_rows))
    np.testing.assert_array_equal(arrays["margin"], expected(iris.booster, iris_rows, "margin"))


def test_rounds_label_and_the_outputs_a_model_has(
    client: TestClient, model_root: Path, iris: Published, iris_rows: np.ndarray
) -> None:
    write_model(model_root, "regressor", train_booster("regression"))
    every_round = {"inputs": [tensor(iris_rows)], "parameters": {"rounds": "all"}}
    labels = more(outputs=[{"name": "label"}])

    all_rounds = client.post(PATH, json=every_round)
    label = client.post(PATH, json=labels)
    regressor_label = client.post("/v2/models/regressor/infer", json=labels)
    metadata = client.get("/v2/models/regressor").json()

    np.testing.assert_array_equal(
        outputs_of(all_rounds)["value"], iris.booster.inplace_predict(iris_rows)
    )
    (output,) = label.json()["outputs"]
    assert output["datatype"] == "BYTES" and output["data"][0] in CLASSES
    assert regressor_label.status_code == 422 and "for classifiers" in regressor_label.text
    assert {o["name"] for o in metadata["outputs"]} == {"value", "margin", "contributions"}
    assert client.post(PATH, json=more(parameters={"rounds": "some"})).status_code == 422


@pytest.mark.parametrize("content_type", ["application/octet-stream", "text/plain", None])
def test_binary_requests_are_read_whatever_the_content_type(
    client: TestClient, iris: Published, iris_rows: np.ndarray, content_type: str | None
) -> None:
    body, headers = encode_request(iris_rows, binary=True)
    if content_type is not None:
        headers["Content-Type"] = content_type

    response = client.post(PATH, content=body, headers=headers)

    np.testing.assert_array_equal(outputs_of(response)["value"], expected(iris.booster, iris_rows))


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_requests_as_tritonclient_sends_them(
    client: TestClient, iris: Published, iris_rows: np.ndarray, encoding: str
) -> None:
    raw = json.dumps({"inputs": [tensor(iris_rows)]}).encode()
    body = gzip.compress(raw) if encoding == "gzip" else zlib.compress(raw)

    response = client.post(PATH, content=body, headers={"Content-Encoding": encoding})

    np.testing.assert_array_equal(outputs_of(response)["value"], expected(iris.booster, iris_rows))


ROW = [[5.1, 3.5, 1.4, 0.2]]


def one(**changes: Any) -> dict[str, Any]:
    """A request of one [1, 4] input, with these fields of the input changed."""
    return {"inputs": [tensor(np.ones((1, 4))) | changes]}


def more(**fields: Any) -> dict[str, Any]:
    """A valid one-input request with these request fields added."""
    return one() | fields


def binary(
    sent: int, declared: object, length: str | None = None, datatype: str = "FP32"
) -> tuple[bytes, dict[str, str]]:
    """A binary request of one [1, 4] input: ``declared`` bytes said, ``sent`` sent."""
    parameters = {"binary_data_size": declared}
    header = tensor(np.ones((1, 4)), datatype) | {"parameters": parameters}
    head = json.dumps({"inputs": [header]})
    return head.encode() + bytes(sent), {
        "Inference-Header-Content-Length": length or str(len(head))
    }


def columns(*tensors: tuple[str, int]) -> dict[str, Any]:
    return {"inputs": [tensor(np.ones(rows), name=name) for name, rows in tensors]}


def asking(**parameters: Any) -> dict[str, Any]:
    """A valid request asking for ``value`` with these output parameters."""
    return more(outputs=[{"name": "value", "parameters": parameters}])


F0, F1 = FEATURES[:2]
# Binary requests sent without their Inference-Header-Content-Length header.
BINARY = binary(16, 16)[0]  # FP32 ones: bytes that are no UTF-8
TEXTS = binary(4 * 8, 4 * 8, datatype="BYTES")[0][:-32] + b"\x04\0\0\0plan" * 4  # ASCII
OCTETS = {"Content-Type": "application/octet-stream"}
NO_HEADER_LENGTH = (
    "the body is not JSON, and the request has no Inference-Header-Content-Length header: "
    "a binary request (the binary tensor data extension) needs it, the length in bytes of "
    "the JSON before the tensors' bytes"
)
GZIPPED = gzip.compress(json.dumps(one()).encode())
DEFLATED = zlib.compress(json.dumps(one()).encode())
BAD_REQUESTS: list[tuple[str, Any, dict[str, str], int, str]] = [
    ("empty body", b"", {}, 400, "the body is empty"),
    ("not JSON", b"{inputs", {}, 400, "not valid JSON"),
    ("JSON array", b"[]", {}, 422, "must be a JSON object"),
    ("no inputs", b"{}", {}, 422, '"inputs" must be a non-empty array'),
    ("input not an object", {"inputs": [1]}, {}, 422, "inputs.0 must be an object"),
    ("no name", {"inputs": [{"shape": [1, 4]}]}, {}, 422, "name must be a string"),
    ("BYTES of numbers", one(datatype="BYTES"), {}, 400, "BYTES data must hold strings"),
    ("BOOL of numbers", one(datatype="BOOL"), {}, 400, "BOOL data must hold true or false"),
    ("string datatype", one(datatype="STRING"), {}, 422, "not a feature datatype"),
    ("bad shape", one(shape=[1, -4]), {}, 422, "shape"),
    ("shape and data disagree", one(shape=[2, 4]), {}, 422, "holds 8 values but its data has 4"),
    ("strings in data", one(data=["1", 2, 3, 4]), {}, 400, "must hold numbers"),
    ("booleans in data", one(data=[True, False, True, True]), {}, 400, "must hold numbers"),
    ("ragged data", one(data=[[1, 2], [3]]), {}, 422, "nested unevenly"),
    ("no data", {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32"}]}, {}, 422, "neither"),
    ("wrong width", {"inputs": [tensor(np.ones((1, 3)))]}, {}, 422, "the model expects [rows, 4]"),
    ("1-D unnamed", {"inputs": [tensor(np.ones(4))]}, {}, 422, "the model expects [rows, 4]"),
    ("two 2-D inputs", {"inputs": one()["inputs"] * 2}, {}, 422, "2 inputs"),
    ("unknown feature", columns((F0, 1), ("petal", 1)), {}, 422, "'petal' names no feature"),
    ("feature lengths differ", columns((F0, 1), (F1, 2)), {}, 422, "different lengths"),
    ("feature twice", columns((F0, 1), (F0, 1)), {}, 422, "sent twice"),
    ("no rows", {"inputs": [tensor(np.ones((0, 4)))]}, {}, 422, "no rows"),
    ("overflows float32", one(datatype="FP64", data=[1e300, 1, 1, 1]), {}, 422, "float32"),
    # Valid JSON that orjson does not read: refused for its numbers, never a 500.
    ("integer past a double", b'{"inputs": [{"name": "input", "shape": [1, 4], "datatype": '
     b'"FP32", "data": [1, 2, 3, ' + b"9" * 400 + b"]}]}", {}, 400, "FP32 holds numbers up to"),
    ("1e999", b'{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", '
     b'"data": [1, NaN, 3, 1e999]}]}', {}, 422, "float32"),
    ("Infinity", b'{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", '
     b'"data": [1, 2, 3, Infinity]}]}', {}, 422, "Infinity is not a number"),
    ("unknown output", more(outputs=[{"name": "proba"}]), {}, 422, "unknown output 'proba'"),
    ("output twice", more(outputs=[{"name": "value"}] * 2), {}, 400, "requested twice"),
    ("classification", asking(classification=2), {}, 400, "classification"),
    ("binary_data not bool", asking(binary_data=1), {}, 400, "true or false"),
    ("shared memory", one(parameters={"shared_memory_region": "r"}), {}, 400, "shared memory"),
    ("id not a string", more(id=7), {}, 400, "id must be a string"),
    ("binary without header", one(parameters={"binary_data_size": 16}), {}, 400, "no Inference"),
    ("header length not a number", *binary(16, 16, "ten"), 400, "must be a byte count"),
    ("header length past the body", *binary(16, 16, "99999"), 400, "must be a byte count"),
    ("header length of 5,000 digits", *binary(16, 16, "1" * 5000), 400, "must be a byte count"),
    ("header length too short", *binary(16, 16, "20"), 400, "the JSON header (its first 20 bytes"),
    ("binary, no header length", BINARY, OCTETS, 400, NO_HEADER_LENGTH),
    ("binary, no header length nor type", BINARY, {}, 400, NO_HEADER_LENGTH),
    ("BYTES binary, no header length", TEXTS, {}, 400, NO_HEADER_LENGTH),
    ("octet-stream, not JSON", b"\x01\x02", OCTETS, 400, NO_HEADER_LENGTH),
    ("binary size wrong", *binary(16, 12), 400, "binary_data_size must be 16"),
    ("binary size a string", *binary(16, "16"), 400, 'an integer, not the string "16"'),
    ("BYTES size a string", *binary(16, "16", datatype="BYTES"), 400, 'not the string "16"'),
    ("binary size a float", *binary(16, 16.0), 400, "an integer, not 16.0"),
    ("binary size negative", *binary(16, -16), 400, "an integer, not -16"),
    ("binary size true", *binary(16, True), 400, "an integer, not true"),
    ("binary size past 64 bits", *binary(16, -(10**30)), 400, "an integer, not -1e+30"),
    # With NaN, the stdlib parses the header, and keeps the integer's digits.
    ("binary size past 64 bits, NaN", b'{"inputs": [{"name": "x", "shape": [1], "datatype": '
     b'"FP32", "data": [NaN], "parameters": {"binary_data_size": -' + b"1" * 30 + b"}}]}", {},
     400, "an integer, not -1111"),
    ("binary cut short", *binary(8, 16), 400, "ends before"),
    ("binary left over", *binary(20, 16), 400, "add up to 16 bytes, but 20"),
    ("unknown encoding", json.dumps(one()).encode(), {"Content-Encoding": "br"}, 415, "supported"),
    ("not gzip", b"plain", {"Content-Encoding": "gzip"}, 400, "not valid gzip"),
    ("junk after gzip", GZIPPED + b"junk", {"Content-Encoding": "gzip"}, 400, "after the end"),
    ("two gzip members", GZIPPED * 2, {"Content-Encoding": "gzip"}, 400, "after the end"),
    ("junk after deflate", DEFLATED + b"\0", {"Content-Encoding": "deflate"}, 400, "after the end"),
    ("gzip cut short", GZIPPED[:-4], {"Content-Encoding": "gzip"}, 400, "ends before"),
    ("deflate cut short", DEFLATED[:-1], {"Content-Encoding": "deflate"}, 400, "ends before"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_bad_requests_are_4xx_errors_in_the_protocol_shape(
    client: TestClient,
    iris: Published,
    body: Any,
    headers: dict[str, str],
    status: int,
    message: str,
) -> None:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()

    response = client.post(PATH, content=content, headers=headers)

    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    (error,) = response.json().values()
    assert list(response.json()) == ["error"] and message in error


def test_the_limits_of_models_apply(model_root: Path, iris: Published) -> None:
    settings = Settings(model_root=model_root, max_rows=3, max_body_bytes=2048)
    client = TestClient(create_app(settings, ModelRegistry.from_settings(settings)))
    too_many = {"inputs": [tensor(np.ones((4, 4)))]}
    too_big = json.dumps({"inputs": [tensor(np.ones((3, 4)))], "id": "x" * 2048}).encode()

    rows = client.post(PATH, json=too_many)
    size = client.post(PATH, content=too_big)
    inflated = client.post(
        PATH, content=gzip.compress(too_big), headers={"Content-Encoding": "gzip"}
    )

    assert rows.status_code == 413 and "ROUTER_MAX_ROWS" in rows.json()["error"]
    assert size.status_code == 413 and "ROUTER_MAX_BODY_BYTES" in size.json()["error"]
    assert inflated.status_code == 413 and "inflated" in inflated.json()["error"]


def test_every_v2_error_is_the_protocol_shape(client: TestClient, iris: Published) -> None:
    unknown_route = client.get("/v2/nothing")
    wrong_method = client.delete("/v2/models/iris")
    bad_name = client.get("/v2/models/..bad/ready")

    assert unknown_route.status_code == 404 and unknown_route.json() == {"error": "Not Found"}
    assert wrong_method.status_code == 405 and list(wrong_method.json()) == ["error"]
    assert bad_name.status_code == 400 and "is not a model name" in bad_name.json()["error"]


def test_server_and_model_endpoints(client: TestClient, iris: Published, model_root: Path) -> None:
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v2/models/iris/ready").json() == {"name": "iris", "ready": True}
    assert client.get(f"/v2/models/iris/versions/{iris.version}/ready").status_code == 200
    assert client.get("/v2/models/iris/versions/0123456789ab/ready").status_code == 404
    write_model(model_root, "broken", b"{garbage", layout="file")

    broken = client.get("/v2/models/broken/ready")

    assert broken.status_code == 503 and "no loadable version" in broken.json()["error"]
    assert "retry-after" not in broken.headers


INPUT = '{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}'


def request_text(inputs: str = INPUT, more: str = "") -> str:
    return '{"inputs": [' + inputs + "]" + more + "}"


TWICE: list[tuple[str, str]] = [
    ("inputs", '{"inputs": [], ' + request_text()[1:]),
    ("id", '{"id": "a", "id": "b", ' + request_text()[1:]),
    ("spelt with an escape", request_text(more=', "\\u0069nputs": []')),
    ("tensor name", request_text(INPUT.replace('"name"', '"name": "x", "name"'))),
    ("datatype", request_text(INPUT.replace('"datatype"', '"datatype": "BYTES", "datatype"'))),
    ("data", request_text(INPUT.replace('"data"', '"data": ["a"], "data"'))),
    ("parameters", request_text(more=', "parameters": {"rounds": "all", "rounds": "best"}')),
    ("output name", request_text(more=', "outputs": [{"name": "margin", "name": "value"}]')),
    (
        "with NaN",
        request_text(INPUT.replace("[1,", "[NaN,").replace('"data"', '"data": 1, "data"')),
    ),
]


@pytest.mark.parametrize("body", [body for _, body in TWICE], ids=[name for name, _ in TWICE])
def test_a_key_twice_in_one_object_is_a_400(client: TestClient, iris: Published, body: str) -> None:
    # orjson keeps the last one silently; parsers disagree on which wins, so a proxy that
    # checked the request may have read another one.
    response = client.post(PATH, content=body.encode())

    assert response.status_code == 400, response.text
    assert response.json() == {
        "error": "a key appears twice in one object of the inference request; send each key once"
    }


def test_strings_with_quotes_and_backslashes_are_no_repeated_keys(
    client: TestClient, iris: Published
) -> None:
    tricky = ['a"b', "c\\", '\\"', "\\\\", '"inputs": [', "", "é", "\\u0022"]
    columns = [
        {"name": name, "shape": [len(tricky)], "datatype": "FP64", "data": [1.0] * len(tricky)}
        for name in FEATURES[1:]
    ]
    texts = {"name": FEATURES[0], "shape": [len(tricky)], "datatype": "BYTES", "data": tricky}
    body = {"id": 'say "hi" \\', "inputs": [texts, *columns]}

    response = client.post(PATH, content=json.dumps(body).encode())

    # Refused for the text in a numeric feature, once no key was found twice.
    assert response.status_code == 422, response.text
    assert "numeric and 'a\"b' is a string" in response.json()["error"]
