"""UBJSON in XGBoost's dialect, written by hand for the format checks' tests: the pieces
(counts, keys, strings, typed arrays) to build damaged documents from, and ``encode``, as
much of XGBoost's writer as it takes to write a model back after editing it as JSON."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

# The tree arrays XGBoost writes as typed arrays, by element marker; other arrays are counted.
_TYPED = {
    "l": (
        "left_children right_children parents split_indices categories_nodes categories "
        "feature_segments sorted_idx"
    ),
    "L": "categories_segments categories_sizes",
    "U": "split_type default_left",
    "d": "base_weights leaf_weights loss_changes sum_hessian split_conditions weights",
}
_TYPED_MARKER = {key: marker for marker, keys in _TYPED.items() for key in keys.split()}
_NUMPY_TYPE = {"l": ">i4", "L": ">i8", "U": "u1", "d": ">f4"}


def int64(value: int) -> bytes:
    """A count or length as XGBoost writes it: a big-endian int64 (after an ``L`` marker)."""
    return struct.pack(">q", value)


def key(name: str | bytes) -> bytes:
    """An object key: its length (as ``L`` int64), then its UTF-8 bytes."""
    raw = name.encode() if isinstance(name, str) else name
    return b"L" + int64(len(raw)) + raw


def string(text: str | bytes) -> bytes:
    return b"S" + key(text)


def typed(marker: bytes, payload: bytes, count: int) -> bytes:
    """A typed, counted array of ``count`` elements of type ``marker``."""
    return b"[$" + marker + b"#L" + int64(count) + payload


def encode(value: Any, name: str = "") -> bytes:
    """``value`` as XGBoost writes it: the tree arrays (by their key ``name``) as typed arrays
    of XGBoost's types, other arrays counted, integers in the smallest marker, floats as
    float32. A numpy array is a typed array of its own type; a tuple is always untyped."""
    if isinstance(value, dict):
        return b"{" + b"".join(key(k) + encode(v, k) for k, v in value.items()) + b"}"
    if isinstance(value, np.ndarray):
        marker = {"f": b"d", "i": b"l"}[value.dtype.kind]
        payload = value.astype(">f4" if marker == b"d" else ">i4").tobytes()
        return typed(marker, payload, len(value))
    if isinstance(value, list) and name in _TYPED_MARKER:
        element = _TYPED_MARKER[name]
        payload = np.asarray(value, dtype=_NUMPY_TYPE[element]).tobytes()
        return typed(element.encode(), payload, len(value))
    if isinstance(value, list | tuple):
        return b"[#L" + int64(len(value)) + b"".join(encode(v) for v in value)
    if isinstance(value, str):
        return string(value)
    if isinstance(value, bool):
        return b"T" if value else b"F"
    if isinstance(value, int):
        for marker, form in (("i", ">b"), ("I", ">h"), ("l", ">i"), ("L", ">q")):
            bits = struct.calcsize(form) * 8
            if -(2 ** (bits - 1)) < value < 2 ** (bits - 1) - 1:
                return marker.encode() + struct.pack(form, value)
    if isinstance(value, float):
        return b"d" + struct.pack(">f", value)
    raise TypeError(f"cannot write {value!r} as UBJSON")
