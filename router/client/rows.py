"""Rows as callers hold them (numpy arrays, lists, pandas-style records) into the JSON body
of ``POST /models/{name}/predict``.

NaN and pandas' NA are missing values, sent as ``null`` (JSON has no NaN); infinities are
refused here, as the router refuses them, rather than sent as missing values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import orjson

from router.client.errors import ClientError


class InvalidRows(ClientError, ValueError):
    """The rows cannot be sent: not a table, or values JSON cannot carry."""


def predict_body(instances: object, output: str, rounds: str | None = None) -> bytes:
    """``{"instances": [...], "output": ...}`` for ``instances``:

    - a 2-D numpy array (or anything with ``__array__``), rows in the model's feature order;
    - a pandas DataFrame, sent as records keyed by column name (``to_dict("records")``);
    - a sequence of rows, each a sequence of numbers or a mapping of feature name to number.
    """
    body: dict[str, object] = {"instances": _rows(instances), "output": output}
    if rounds is not None:
        body["rounds"] = rounds
    try:
        return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY, default=_missing)
    except orjson.JSONEncodeError as exc:
        raise InvalidRows(f"the rows hold a value JSON cannot carry: {exc}") from exc


def _missing(value: object) -> None:
    """pandas' NA (a nullable column's missing value, in ``df.values.tolist()`` rows) is
    sent as null; known by its type's name, so pandas is not imported for it."""
    if type(value).__name__ == "NAType":
        return None
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def _rows(instances: object) -> object:
    to_dict = getattr(instances, "to_dict", None)
    if callable(to_dict) and hasattr(instances, "columns"):  # a DataFrame, without pandas
        return _checked_records(to_dict(orient="records"))
    if isinstance(instances, np.ndarray) or (
        hasattr(instances, "__array__") and not isinstance(instances, Sequence | Mapping)
    ):
        return _checked_array(np.asarray(instances))
    if isinstance(instances, str | bytes) or not isinstance(instances, Sequence):
        hint = (
            ' (a DataFrame\'s to_dict() is by column: pass the DataFrame, or to_dict("records"))'
            if isinstance(instances, Mapping)
            else ""
        )
        raise InvalidRows(
            "rows must be a 2-D array, a DataFrame or a list of rows, "
            f"not {type(instances).__name__}{hint}"
        )
    if not instances:
        raise InvalidRows("there are no rows to predict")
    if isinstance(instances[0], Mapping):
        return _checked_records(instances)
    return [_checked_row(row, index) for index, row in enumerate(instances)]


def _checked_array(array: np.ndarray) -> np.ndarray | list[list[Any]]:
    if array.ndim != 2:
        hint = " (one row? use array.reshape(1, -1))" if array.ndim == 1 else ""
        raise InvalidRows(f"an array of rows must be 2-D, not {array.ndim}-D{hint}")
    if array.shape[0] == 0:
        raise InvalidRows("there are no rows to predict")
    if array.dtype.kind == "O":  # a mixed frame's to_numpy(): numbers, booleans, NA
        return [_checked_row(row, index) for index, row in enumerate(array.tolist())]
    if array.dtype.kind not in "fiub":
        raise InvalidRows(f"an array of rows must be numeric, not {array.dtype}")
    if array.dtype.kind == "f" and np.isinf(array).any():
        raise InvalidRows("the rows hold an infinite value, which the router refuses")
    # orjson writes float32 with float32's shortest repr, and NaN as null.
    dtype = array.dtype if array.dtype in (np.float32, np.float64) else np.float64
    return np.ascontiguousarray(array, dtype=dtype)


def _checked_row(row: object, index: int) -> list[Any]:
    if isinstance(row, np.ndarray):
        values: list[Any] = row.tolist()
    elif isinstance(row, Sequence) and not isinstance(row, str | bytes):
        values = list(row)
    else:
        raise InvalidRows(f"row {index} is a {type(row).__name__}, not a list of numbers")
    for value in values:
        _check_value(value, index)
    return values


def _checked_records(records: Sequence[object]) -> list[dict[str, Any]]:
    if not records:
        raise InvalidRows("there are no rows to predict")
    checked = []
    for index, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise InvalidRows(f"row {index} is a {type(record).__name__}; the first was a mapping")
        for value in record.values():
            _check_value(value, index)
        checked.append({str(key): value for key, value in record.items()})
    return checked


def _check_value(value: object, index: int) -> None:
    if isinstance(value, float | np.floating) and math.isinf(value):
        raise InvalidRows(f"row {index} holds an infinite value, which the router refuses")
