"""JSON tensor data holds values of its declared datatype, as Triton reads it: a value the
datatype cannot hold (300 for UINT8, 5.1 for INT64, a boolean among FP32 numbers, 1e39
for FP32) is a 400 naming the input, the value and the datatype; it is never converted
into another number. Values the datatype holds, up to its edges, are read."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from tests.v2.conftest import expected, publish

if TYPE_CHECKING:
    import xgboost as xgb
    from fastapi.testclient import TestClient

    from tests.v2.conftest import Published

PATH = "/v2/models/iris/infer"


@pytest.fixture
def iris(model_root: Any, iris_boosters: list[xgb.Booster]) -> Published:
    return publish(model_root, iris_boosters[0])


def request(datatype: str, first: object, rest: object = 1) -> dict[str, Any]:
    """One [1, 4] input whose first value is ``first``."""
    data = [first, rest, rest, rest]
    return {"inputs": [{"name": "x", "shape": [1, 4], "datatype": datatype, "data": data}]}


WRONG: list[tuple[str, object, str]] = [
    ("UINT8", 300, "UINT8 holds integers from 0 to 255; element 0 is 300"),
    ("UINT8", -1, "UINT8 holds integers from 0 to 255; element 0 is -1"),
    ("UINT8", 1.7, "UINT8 data must hold integers (or null for a missing value); element 0 is 1.7"),
    ("INT8", 128, "INT8 holds integers from -128 to 127; element 0 is 128"),
    ("INT8", -129, "from -128 to 127; element 0 is -129"),
    ("INT16", 2**15, "INT16 holds integers from -32768 to 32767"),
    ("UINT16", 2**16, "UINT16 holds integers from 0 to 65535"),
    ("INT32", -(2**31) - 1, "INT32 holds integers from -2147483648 to 2147483647"),
    ("UINT32", 2**32, "UINT32 holds integers from 0 to 4294967295"),
    ("INT64", 5.1, "INT64 data must hold integers (or null for a missing value); element 0 is 5.1"),
    ("INT64", 5.0, "INT64 data must hold integers"),  # as Triton: a JSON 5.0 is no integer
    ("INT64", 2**63, "INT64 holds integers from -9223372036854775808 to 9223372036854775807"),
    ("UINT64", -1, "UINT64 holds integers from 0 to 18446744073709551615; element 0 is -1"),
    # Past 64 bits orjson reads an integer as a float: still out of range, not "no integer".
    ("UINT64", 2**64, "UINT64 holds integers from 0 to 18446744073709551615"),
    ("INT32", True, "INT32 data must hold integers (or null for a missing value); "
                    "element 0 is true"),
    ("FP32", True, "FP32 data must hold numbers (or null for a missing value); element 0 is true"),
    ("FP64", False, "FP64 data must hold numbers"),
    ("FP32", "1", "FP32 data must hold numbers (or null for a missing value); "
                  'element 0 is the string "1"'),
    ("FP32", {"a": 1}, 'element 0 is {"a":1}'),
    ("FP32", 1e39, "FP32 holds numbers up to ±3.403e+38; element 0 is 1e+39"),
    ("FP32", -1e39, "FP32 holds numbers up to ±3.403e+38; element 0 is -1e+39"),
    ("FP16", 65520, "FP16 holds numbers up to ±6.55e+04; element 0 is 65520"),
    ("FP16", 1e5, "FP16 holds numbers up to ±6.55e+04; element 0 is 100000.0"),
    ("BOOL", 2, "BOOL data must hold true or false (or null for a missing value); element 0 is 2"),
    ("BOOL", 1, "BOOL data must hold true or false"),  # as Triton: a BOOL is no number
    ("BOOL", "true", 'element 0 is the string "true"'),
    ("BYTES", 1, "BYTES data must hold strings (or null for a missing value); element 0 is 1"),
    ("BYTES", True, "BYTES data must hold strings (or null for a missing value); "
                    "element 0 is true"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("datatype", "value", "message"),
    WRONG,
    ids=[f"{datatype} {json.dumps(value)}" for datatype, value, _ in WRONG],
)
def test_a_value_its_datatype_cannot_hold_is_a_400_that_names_it(
    client: TestClient, iris: Published, datatype: str, value: object, message: str
) -> None:
    response = client.post(PATH, json=request(datatype, value, True if datatype == "BOOL" else 1))

    assert response.status_code == 400, response.text
    (error,) = response.json().values()
    assert list(response.json()) == ["error"]
    assert error.startswith("input 'x': ") and message in error


def test_the_element_is_counted_in_row_major_order_through_nesting(
    client: TestClient, iris: Published
) -> None:
    rows = [[1, 2, 3, 4], [5, 6, 300, 8]]
    body = {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "UINT8", "data": rows}]}

    response = client.post(PATH, json=body)

    assert response.status_code == 400
    assert response.json()["error"].endswith("element 6 is 300")


EDGES: list[tuple[str, list[float | int | None]]] = [
    ("UINT8", [0, 255, 7, None]),
    ("INT8", [-128, 127, 0, None]),
    ("INT16", [-(2**15), 2**15 - 1, 0, 1]),
    ("UINT32", [0, 2**32 - 1, 1, None]),
    ("INT64", [-(2**63), 2**63 - 1, 0, None]),
    ("UINT64", [0, 2**64 - 1, 1, None]),
    ("FP16", [65504.0, -65504, 0.5, None]),
    ("FP16", [65519.0, 1e-8, 2, 3]),  # rounds to FP16's largest; underflow is no overflow
    ("FP32", [1e38, -3.4028234e38, 1, 2]),
    ("FP32", [3.4028235e38, 5, 6, None]),  # FP32's largest, as numpy writes it
    ("FP64", [1e300, 5, 6, 7]),  # FP64 holds it; the model does not (a 422 of its own, below)
]


@pytest.mark.parametrize(
    ("datatype", "data"), EDGES, ids=[f"{d} {i}" for i, (d, _) in enumerate(EDGES)]
)
def test_values_up_to_the_edges_of_a_datatype_are_read(
    client: TestClient, iris: Published, datatype: str, data: list[float | int | None]
) -> None:
    body = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": datatype, "data": data}]}

    response = client.post(PATH, json=body)

    if datatype == "FP64":
        assert response.status_code == 422 and "float32" in response.json()["error"]
        return
    assert response.status_code == 200, response.text
    (output,) = response.json()["outputs"]
    rows = np.array([[np.nan if v is None else v for v in data]], dtype=np.float64)
    want = expected(iris.booster, rows.astype(np.float32))
    np.testing.assert_array_equal(
        np.asarray(output["data"], np.float32).reshape(1, 3), want[0:1].reshape(1, 3)
    )
