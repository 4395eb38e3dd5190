"""Tensors of the Open Inference Protocol: datatypes, and data as JSON or as raw bytes.

A tensor's data is either a JSON array (nested or flat, row-major) or, with the binary tensor
data extension, ``binary_data_size`` raw little-endian bytes after the JSON header, in the
order of the tensors. BYTES elements are a 4-byte little-endian length and the bytes.
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
        data = document["data"]
        if dtype is None:
            values = _json_texts(data, where)
        elif datatype == BOOL:
            values = _json_booleans(data, where)
        else:
            values = _json_values(data, where)
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
    text = orjson.dumps(value).decode()
    text = text if len(text) <= _SHOWN_VALUE else text[:_SHOWN_VALUE] + "..."
    return f"the string {text}" if isinstance(value, str) else text


def _json_values(data: object, where: str) -> np.ndarray:
    """JSON tensor data as a flat numeric array; ``null`` is a missing value (NaN), as in
    ``/models`` rows. Booleans and strings are refused rather than coerced."""
    if not isinstance(data, list):
        raise InvalidInstances(f"{where}: data must be an array of numbers")
    try:
        array = np.asarray(data)
    except ValueError as exc:  # ragged nesting
        raise InvalidInstances(f"{where}: data is nested unevenly") from exc
    if array.dtype.kind in "iuf":
        return array.ravel()
    if array.dtype.kind == "O":  # nulls, or integers too large for int64
        flat = array.ravel()
        if all(_is_number_or_null(value) for value in flat):
            return np.array([np.nan if v is None else _as_float(v) for v in flat], np.float64)
    raise InvalidInstances(f"{where}: data must hold numbers (or null for a missing value)")


def _json_booleans(data: object, where: str) -> np.ndarray:
    """JSON BOOL data as a flat float array: true 1, false 0, ``null`` a missing value (NaN,
    a pandas nullable boolean's NA). Numbers are refused: BOOL holds booleans."""
    if not isinstance(data, list):
        raise InvalidInstances(f"{where}: data must be an array of booleans")
    try:
        array = np.asarray(data, dtype=object).ravel()
    except ValueError as exc:  # ragged nesting
        raise InvalidInstances(f"{where}: data is nested unevenly") from exc
    if not all(value is None or type(value) is bool for value in array):
        raise InvalidInstances(f"{where}: BOOL data must hold true or false (or null)")
    return np.array([np.nan if value is None else float(value) for value in array], np.float64)


def _binary_booleans(data: np.ndarray, where: str) -> np.ndarray:
    """Binary BOOL data, a byte each, as tritonclient writes numpy's bool: 1 or 0."""
    if data.size and int(data.max()) > 1:
        raise InvalidInstances(f"{where}: a BOOL element is a byte of 0 or 1")
    return data.astype(np.float64)


def _as_float(value: float) -> float:
    """An integer past a double's range is infinite, which the range check then refuses."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _json_texts(data: object, where: str) -> np.ndarray:
    """JSON BYTES data (category values) as a flat object array of ``str``; ``null`` is a
    missing value (``None``), as in ``/models`` rows."""
    if not isinstance(data, list):
        raise InvalidInstances(f"{where}: data must be an array of strings")
    flat: list[object] = []
    pending: list[object] = [data]
    while pending:  # flatten nested (row-major) arrays without recursion
        item = pending.pop()
        if isinstance(item, list):
            pending.extend(reversed(item))
        elif item is None or isinstance(item, str):
            flat.append(item)
        else:
            raise InvalidInstances(f"{where}: BYTES data must hold strings (or null)")
    array = np.empty(len(flat), dtype=object)
    array[:] = flat
    return array


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


def _is_number_or_null(value: object) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


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
