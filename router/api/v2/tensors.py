"""Tensors of the Open Inference Protocol: datatypes, and data as JSON or as raw bytes.

A tensor's data is either a JSON array (nested or flat, row-major) or, with the binary tensor
data extension, ``binary_data_size`` raw little-endian bytes after the JSON header, in the
order of the tensors. BYTES elements are a 4-byte little-endian length and the bytes.

Data that its own datatype cannot hold (300 in UINT8, 5.1 in INT64, true among FP32 numbers,
2 in BOOL, 1e39 in FP32) is a 400, as Triton answers it: the request contradicts itself.
Values the datatype holds but the model cannot use (1e300 in FP64, beyond float32; a BOOL
tensor for a categorical feature) are the model's 422, as in ``/models``.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any, TypeGuard

import numpy as np
import orjson

from router.errors import InvalidInstances, MalformedRequest, RequestTooLarge

# The protocol's numeric datatypes, as little-endian numpy types (binary data is little-endian).
NUMERIC_DATATYPES: dict[str, np.dtype[Any]] = {
    name: np.dtype(code).newbyteorder("<")
    for name, code in {
        "UINT8": "u1",
        "UINT16": "u2",
        "UINT32": "u4",
        "UINT64": "u8",
        "INT8": "i1",
        "INT16": "i2",
        "INT32": "i4",
        "INT64": "i8",
        "FP16": "f2",
        "FP32": "f4",
        "FP64": "f8",
    }.items()
}
# A boolean feature (XGBoost's indicator, a pandas bool column): true and false are 1 and 0,
# as XGBoost reads them; in binary data, one byte each.
BOOL = "BOOL"
_BOOL_BYTES = np.dtype("u1")
_DATATYPE_OF_KIND = {("f", 4): "FP32", ("f", 8): "FP64", ("i", 4): "INT32", ("i", 8): "INT64"}
_LENGTH_PREFIX = struct.Struct("<I")
_SHOWN_VALUE = 32  # a sent value quoted in a refusal, at most


@dataclass(frozen=True, slots=True)
class InputTensor:
    """One decoded request input: its numbers (or, for BYTES, ``str`` and ``None``), flat,
    in row-major order."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    values: np.ndarray


def decode_inputs(
    documents: object, binary: memoryview | None, *, max_rows: int
) -> list[InputTensor]:
    """The request's ``inputs``; ``binary`` is what follows the JSON header, if anything."""
    if not isinstance(documents, list) or not documents:
        raise InvalidInstances('"inputs" must be a non-empty array of tensors')
    offset = 0
    tensors = []
    for position, document in enumerate(documents):
        tensor, used = _decode_input(document, position, binary, offset, max_rows)
        tensors.append(tensor)
        offset += used
    if binary is not None and offset != len(binary):
        raise MalformedRequest(
            f"the inputs' binary_data_size add up to {offset} bytes, but {len(binary)} bytes "
            "follow the JSON header (Inference-Header-Content-Length)"
        )
    return tensors


def _decode_input(
    document: object, position: int, binary: memoryview | None, offset: int, max_rows: int
) -> tuple[InputTensor, int]:
    if not isinstance(document, dict):
        raise InvalidInstances(f"inputs.{position} must be an object with name, shape, datatype")
    name = document.get("name")
    if not isinstance(name, str):
        raise InvalidInstances(f"inputs.{position}: name must be a string")
    where = f"input {name[:64]!r}"
    datatype = document.get("datatype")
    dtype = NUMERIC_DATATYPES.get(datatype) if isinstance(datatype, str) else None
    if datatype == BOOL:
        dtype = _BOOL_BYTES
    elif datatype != "BYTES" and (dtype is None or not isinstance(datatype, str)):
        raise InvalidInstances(
            f"{where}: datatype {str(datatype)[:32]!r} is not a feature datatype; features are "
            f"numbers ({', '.join(NUMERIC_DATATYPES)}), booleans (BOOL) or category values "
            "(BYTES)"
        )
    shape = _shape(document.get("shape"), where)
    if shape and shape[0] > max_rows:
        raise RequestTooLarge(
            f"{where} has {shape[0]} rows; the limit is {max_rows} (ROUTER_MAX_ROWS)"
        )
    count = math.prod(shape)
    parameters = parameters_of(document, where)
    if any(key.startswith("shared_memory") for key in parameters):
        raise MalformedRequest(f"{where}: shared memory is not supported; send the data")
    size = parameters.get("binary_data_size")
    if size is not None and not (_is_integer(size) and size >= 0):
        # Said apart from a wrong count: "must be 16 ... got 16" was all a "16" got.
        raise MalformedRequest(
            f"{where}: binary_data_size must be an integer, not {_shown(size)}: the number "
            "of bytes of its data after the JSON header"
        )
    if size is None:
        if "data" not in document:
            raise InvalidInstances(f"{where} has neither data nor binary_data_size")
        values = _json_data(document["data"], where, str(datatype))
        used = 0
    elif dtype is None:  # BYTES: the size is the elements' with their length prefixes
        if binary is None:
            raise MalformedRequest(
                f"{where} has binary_data_size but the request has no "
                "Inference-Header-Content-Length header"
            )
        if not _is_count(size) or offset + size > len(binary):
            raise MalformedRequest(f"{where}: the body ends before its {size} bytes of data")
        values = _binary_texts(binary[offset : offset + size], where)
        used = size
    else:
        if binary is None:
            raise MalformedRequest(
                f"{where} has binary_data_size but the request has no "
                "Inference-Header-Content-Length header"
            )
        if not _is_count(size) or size != count * dtype.itemsize:
            raise MalformedRequest(
                f"{where}: binary_data_size must be {count * dtype.itemsize} for shape "
                f"{list(shape)} of {datatype}; got {str(size)[:32]}"
            )
        if offset + size > len(binary):
            raise MalformedRequest(f"{where}: the body ends before its {size} bytes of data")
        values = np.frombuffer(binary[offset : offset + size], dtype=dtype)
        if datatype == BOOL:
            values = _binary_booleans(values, where)
        used = size
    if values.size != count:
        raise InvalidInstances(
            f"{where}: shape {list(shape)} holds {count} values but its data has {values.size}"
        )
    return InputTensor(name, str(datatype), shape, values), used


def parameters_of(document: dict[str, Any], where: str) -> dict[str, Any]:
    parameters = document.get("parameters", {})
    if not isinstance(parameters, dict):
        raise MalformedRequest(f"{where}: parameters must be an object")
    return parameters


def _shape(value: object, where: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not value or not all(_is_count(dim) for dim in value):
        raise InvalidInstances(f"{where}: shape must be a non-empty array of sizes")
    return tuple(value)


def _is_count(value: object) -> bool:
    return _is_integer(value) and 0 <= value < 2**40


def _is_integer(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _shown(value: object) -> str:
    """A JSON value as it was sent, shortened: a string is said to be one."""
    try:
        text = orjson.dumps(value).decode()
    except TypeError:  # an integer past 64 bits (read by the stdlib parse), or one inside
        text = str(value)[: _SHOWN_VALUE + 1]
    text = text if len(text) <= _SHOWN_VALUE else text[:_SHOWN_VALUE] + "..."
    return f"the string {text}" if isinstance(value, str) else text


def _json_data(data: object, where: str, datatype: str) -> np.ndarray:
    """JSON tensor data, flat in row-major order, as values of ``datatype``: numbers (float64
    with NaN where ``null`` is missing, or the integer type itself), booleans as 1 and 0,
    BYTES as ``str`` and ``None``. A value the datatype cannot hold is refused rather than
    read as the number it is: no binary UINT8 tensor carries 300, nor an INT64 one 5.1, and
    numpy reads true among numbers as 1."""
    flat, types = _flat(data, where)
    if datatype == "BYTES":
        return _json_texts(flat, types, where)
    if datatype == BOOL:
        return _json_booleans(flat, types, where)
    dtype = NUMERIC_DATATYPES[datatype]
    if dtype.kind == "f":
        return _json_floats(flat, types, where, datatype, dtype)
    return _json_integers(flat, types, where, datatype, dtype)


def _flat(data: object, where: str) -> tuple[list[Any], set[type]]:
    """Nested (row-major) or flat JSON data as one flat list, and the types of its values.
    Types are gathered in C (``map(type, ...)``): a tensor may hold a million values."""
    if not isinstance(data, list):
        raise InvalidInstances(f"{where}: data must be an array")
    types = set(map(type, data))
    if list not in types:  # flat, as tritonclient sends it
        return data, types
    try:
        flat: list[Any] = np.array(data, dtype=object).ravel().tolist()
    except ValueError as exc:  # ragged below the first level
        raise InvalidInstances(f"{where}: data is nested unevenly") from exc
    types = set(map(type, flat))
    if list in types:  # ragged: numpy keeps the uneven lists as values
        raise InvalidInstances(f"{where}: data is nested unevenly")
    return flat, types


# The types of the values JSON data of each kind may hold; null is a missing value.
_NULL: type = type(None)
_INTEGER_TYPES: frozenset[type] = frozenset({int, _NULL})
_NUMBER_TYPES: frozenset[type] = frozenset({int, float, _NULL})
_BOOLEAN_TYPES: frozenset[type] = frozenset({bool, _NULL})
_TEXT_TYPES: frozenset[type] = frozenset({str, _NULL})


def _json_integers(
    flat: list[Any], types: set[type], where: str, datatype: str, dtype: np.dtype[Any]
) -> np.ndarray:
    """Integers within the datatype's range, as Triton reads them: a JSON 5.0 is no integer
    (nor is true, although Python's bool is an int)."""
    info = np.iinfo(dtype)
    if not types <= _INTEGER_TYPES:
        index, value = _first_of_other_type(flat, _INTEGER_TYPES)
        # orjson reads an integer past 64 bits as a float: out of range, not "no integer".
        if not (type(value) is float and value.is_integer() and abs(value) >= 2**63):
            raise MalformedRequest(
                f"{where}: {datatype} data must hold integers (or null for a missing value); "
                f"element {index} is {_shown(value)}"
            )
    present = [value for value in flat if value is not None] if _NULL in types else flat
    if present and not (info.min <= min(present) and max(present) <= info.max):
        index, value = next(
            (i, v) for i, v in enumerate(flat) if v is not None and not info.min <= v <= info.max
        )
        raise MalformedRequest(
            f"{where}: {datatype} holds integers from {info.min} to {info.max}; "
            f"element {index} is {_shown(value)}"
        )
    if _NULL in types:
        return np.array([np.nan if value is None else value for value in flat], np.float64)
    return np.array(flat, dtype=dtype)


def _json_floats(
    flat: list[Any], types: set[type], where: str, datatype: str, dtype: np.dtype[Any]
) -> np.ndarray:
    """Numbers the datatype holds, as float64 (the precision the predictor reads rows in).
    A number beyond the datatype's range is refused: in FP16 or FP32 it would be infinite,
    which no client means (a number the datatype holds but float32 does not, 1e300 in FP64,
    is the model's to refuse)."""
    if not types <= _NUMBER_TYPES:
        index, value = _first_of_other_type(flat, _NUMBER_TYPES)
        raise MalformedRequest(
            f"{where}: {datatype} data must hold numbers (or null for a missing value); "
            f"element {index} is {_shown(value)}"
        )
    numbers = [np.nan if value is None else value for value in flat] if _NULL in types else flat
    try:
        values = np.array(numbers, dtype=np.float64)
    except OverflowError:  # an integer past a double (the stdlib parse keeps its digits)
        values = np.array([_as_float(value) for value in numbers], dtype=np.float64)
    with np.errstate(over="ignore"):
        held = values.astype(dtype) if dtype.itemsize < values.itemsize else values
    # JSON has no infinity (the parse refuses Infinity), so an infinite value overflowed.
    beyond = np.isinf(held)
    if beyond.any():
        index = int(np.flatnonzero(beyond)[0])
        raise MalformedRequest(
            f"{where}: {datatype} holds numbers up to ±{float(np.finfo(dtype).max):.4g}; "
            f"element {index} is {_shown(flat[index])}"
        )
    return values


def _json_booleans(flat: list[Any], types: set[type], where: str) -> np.ndarray:
    """JSON BOOL data as floats: true 1, false 0, ``null`` a missing value (NaN, a pandas
    nullable boolean's NA). Numbers are refused: BOOL holds booleans."""
    if not types <= _BOOLEAN_TYPES:
        index, value = _first_of_other_type(flat, _BOOLEAN_TYPES)
        raise MalformedRequest(
            f"{where}: BOOL data must hold true or false (or null for a missing value); "
            f"element {index} is {_shown(value)}"
        )
    return np.array([np.nan if value is None else value for value in flat], np.float64)


def _binary_booleans(data: np.ndarray, where: str) -> np.ndarray:
    """Binary BOOL data, a byte each, as tritonclient writes numpy's bool: 1 or 0."""
    if data.size and int(data.max()) > 1:
        index = int(np.flatnonzero(data > 1)[0])
        raise MalformedRequest(
            f"{where}: a BOOL element is a byte of 0 or 1; element {index} is {data[index]}"
        )
    return data.astype(np.float64)


def _as_float(value: float) -> float:
    """An integer past a double's range is infinite, which the range check then refuses."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _json_texts(flat: list[Any], types: set[type], where: str) -> np.ndarray:
    """JSON BYTES data (category values) as an object array of ``str``; ``null`` is a
    missing value (``None``), as in ``/models`` rows."""
    if not types <= _TEXT_TYPES:
        index, value = _first_of_other_type(flat, _TEXT_TYPES)
        raise MalformedRequest(
            f"{where}: BYTES data must hold strings (or null for a missing value); "
            f"element {index} is {_shown(value)}"
        )
    array = np.empty(len(flat), dtype=object)
    array[:] = flat
    return array


def _first_of_other_type(flat: list[Any], allowed: frozenset[type]) -> tuple[int, Any]:
    """Where the first value not of the ``allowed`` types is (only for a refused tensor)."""
    return next((i, value) for i, value in enumerate(flat) if type(value) not in allowed)


def _binary_texts(data: memoryview, where: str) -> np.ndarray:
    """Binary BYTES data: elements of a 4-byte little-endian length and UTF-8 bytes."""
    texts: list[str] = []
    offset = 0
    while offset < len(data):
        if offset + _LENGTH_PREFIX.size > len(data):
            raise MalformedRequest(f"{where}: a BYTES element's length is cut short")
        (length,) = _LENGTH_PREFIX.unpack_from(data, offset)
        offset += _LENGTH_PREFIX.size
        if offset + length > len(data):
            raise MalformedRequest(f"{where}: a BYTES element runs past its binary_data_size")
        try:
            texts.append(bytes(data[offset : offset + length]).decode())
        except UnicodeDecodeError as exc:
            raise InvalidInstances(f"{where}: a BYTES element is not UTF-8 text") from exc
        offset += length
    array = np.empty(len(texts), dtype=object)
    array[:] = texts
    return array


def datatype_of(array: np.ndarray) -> str:
    """The protocol's datatype of an output array (XGBoost predicts float32)."""
    if array.dtype.kind in "OUS":
        return "BYTES"
    datatype = _DATATYPE_OF_KIND.get((array.dtype.kind, array.dtype.itemsize))
    if datatype is None:
        raise TypeError(f"no datatype for {array.dtype}")
    return datatype


def json_data(array: np.ndarray) -> object:
    """Flat, row-major data for a JSON output (orjson writes numpy arrays natively)."""
    if array.dtype.kind in "OUS":
        return [_text(value) for value in array.ravel()]
    return np.ascontiguousarray(array).ravel()


def binary_data(array: np.ndarray) -> bytes:
    """The raw little-endian bytes of a binary output."""
    if array.dtype.kind in "OUS":
        encoded = [_text(value).encode() for value in array.ravel()]
        return b"".join(_LENGTH_PREFIX.pack(len(item)) + item for item in encoded)
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
