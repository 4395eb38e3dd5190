"""JSON model files: the structural check, and the value checks of
:mod:`router.xgb.checks.rules` read from the parsed document."""

from __future__ import annotations

import json
from itertools import chain
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import orjson

from router.xgb.checks.rules import (
    DECODED_ARRAYS,
    LENGTH_ONLY_ARRAYS,
    TREE_PARAMETERS,
    Forest,
    ModelFormatError,
    check_model,
    parse_parameter,
    path_of,
    show_byte,
)

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from router.xgb.checks.rules import Field

    Buffer = bytes | bytearray | memoryview
    Integers = NDArray[np.signedinteger[Any]]

__all__ = ["check_json", "check_json_values", "load_json"]

_OBJECT_OPEN: Final = 0x7B  # {


def check_json(data: Buffer) -> None:
    """Check that ``data`` is a JSON object with an object under ``"learner"``, the root of
    XGBoost's JSON model schema; raises :class:`ModelFormatError` otherwise.

    The first byte must be ``{``, as for XGBoost, which refuses leading whitespace when it
    reads a model from memory. XGBoost writes non-finite floats as bare ``NaN``,
    ``Infinity`` and ``-Infinity``, which strict JSON and orjson reject, so a document that
    orjson refuses and that holds one of those tokens is parsed again by the standard
    library, which accepts them. Both parsers refuse deep nesting (orjson past 1024 levels,
    the standard library at its recursion limit), which bounds XGBoost's recursive reader.
    """
    load_json(data)


def load_json(data: Buffer) -> dict[str, Any]:
    """:func:`check_json`'s checks; also returns the parsed document."""
    if not data:
        raise ModelFormatError("empty file: not an XGBoost model", 0)
    if data[0] != _OBJECT_OPEN:
        raise ModelFormatError(
            f"an XGBoost JSON model's first byte is '{{', this file's is {show_byte(data[0])}", 0
        )
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        document = _load_json_with_non_finite_floats(bytes(data), error)
    if not isinstance(document, dict):  # cannot happen after a '{', but say so if it does
        raise ModelFormatError(f"an XGBoost model is an object, not {_json_type(document)}")
    if "learner" not in document:
        raise ModelFormatError("the top-level object has no 'learner' key: not an XGBoost model")
    learner = document["learner"]
    if not isinstance(learner, dict):
        raise ModelFormatError(f"'learner' must be an object, not {_json_type(learner)}")
    return document


def check_json_values(document: dict[str, Any]) -> None:
    """Check the values of a parsed JSON model; raises :class:`ModelFormatError`."""
    check_model(_JsonObject(document, ""))


class _JsonObject:
    def __init__(self, value: dict[str, Any], path: str) -> None:
        self._value = value
        self.path = path

    def has(self, key: str) -> bool:
        return key in self._value

    def _get(self, key: str) -> Any:
        if key not in self._value:
            raise ModelFormatError(f"{self.path or 'the document'} has no {key!r}")
        return self._value[key]

    def object(self, key: str) -> _JsonObject:
        value = self._get(key)
        if not isinstance(value, dict):
            raise ModelFormatError(f"{path_of(self, key)} must be an object")
        return _JsonObject(value, path_of(self, key))

    def string(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str):
            raise ModelFormatError(f"{path_of(self, key)} must be a string")
        return value

    def _list(self, key: str) -> list[Any]:
        value = self._get(key)
        if not isinstance(value, list):
            raise ModelFormatError(f"{path_of(self, key)} must be an array")
        return value

    def integers(self, key: str) -> NDArray[np.int64]:
        return _json_integers(self._list(key), path_of(self, key))

    def length(self, key: str) -> int:
        return len(self._list(key))

    def forest(self, key: str) -> Forest:
        trees = self._list(key)
        ids = np.zeros(len(trees), dtype=np.int64)
        parameters = {name: np.zeros(len(trees), dtype=np.int64) for name in TREE_PARAMETERS}
        for index, tree in enumerate(trees):
            if not isinstance(tree, dict):
                raise ModelFormatError(f"{path_of(self, key)}[{index}] must be a tree object")
            tree_id = tree.get("id")
            if not isinstance(tree_id, int) or isinstance(tree_id, bool):
                raise ModelFormatError(f"tree {index}'s id must be an integer")
            ids[index] = tree_id
            param = tree.get("tree_param")
            if not isinstance(param, dict):
                raise ModelFormatError(f"tree {index}: tree_param must be an object")
            for name in TREE_PARAMETERS:
                text = param.get(name)
                if not isinstance(text, str):
                    raise ModelFormatError(f"tree {index}: tree_param must have {name!r}")
                where = f"tree {index}: tree_param.{name}"
                parameters[name][index] = parse_parameter(text, where)
        fields: dict[str, Field] = {
            name: _ListField(name, [tree.get(name) for tree in trees])
            for name in (*DECODED_ARRAYS, *LENGTH_ONLY_ARRAYS)
        }
        return Forest(
            ids,
            parameters["num_nodes"],
            parameters["num_feature"],
            parameters["size_leaf_vector"],
            fields,
        )


class _ListField:
    """A field whose arrays are JSON lists (or absent: None)."""

    def __init__(self, name: str, columns: list[Any]) -> None:
        for tree, column in enumerate(columns):
            if column is not None and not isinstance(column, list):
                raise ModelFormatError(f"tree {tree}: {name} must be an array")
        self._name = name
        self._columns: list[list[Any] | None] = columns
        self.present = np.array([column is not None for column in columns], dtype=bool)
        self.length = np.array([len(column or ()) for column in columns], dtype=np.int64)

    def values(self, begin: int, end: int) -> Integers:
        columns = self._columns[begin:end]
        return _json_integers(list(chain.from_iterable(c for c in columns if c)), self._name)

    def offset(self, tree: int, index: int) -> int | None:
        return None


def _json_integers(values: list[Any], where: str) -> NDArray[np.int64]:
    """A JSON list of integers as int64; anything else (floats, booleans, numbers beyond
    int64, nested lists) is refused, as XGBoost refuses it."""
    if not values:
        return np.zeros(0, dtype=np.int64)
    try:
        array = np.array(values)
    except (OverflowError, ValueError, TypeError):
        array = np.zeros(0, dtype=object)
    if array.dtype.kind != "i" or array.ndim != 1:
        raise ModelFormatError(f"{where} must hold only integers that fit in 64 bits")
    return array.astype(np.int64, copy=False)


def _load_json_with_non_finite_floats(raw: bytes, error: orjson.JSONDecodeError) -> object:
    """Parse, with the standard library, JSON that orjson refused; see :func:`check_json`."""
    if b"NaN" not in raw and b"Infinity" not in raw:
        raise _json_error(raw, error.msg, error.pos) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as decode_error:
        raise ModelFormatError("not valid UTF-8", decode_error.start) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as stdlib_error:
        raise _json_error(raw, stdlib_error.msg, stdlib_error.pos) from None
    except RecursionError:
        raise ModelFormatError("JSON nested too deeply") from None


def _json_error(raw: bytes, message: str, char_pos: int) -> ModelFormatError:
    """JSON parsers count characters; report bytes, like the UBJSON check."""
    text = raw.decode("utf-8", errors="surrogateescape")
    offset = len(text[:char_pos].encode("utf-8", errors="surrogateescape"))
    return ModelFormatError(f"not valid JSON: {message}", offset)


def _json_type(value: object) -> str:
    """A parsed JSON value's type, named as JSON names it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array"
