"""XGBoost's in-place prediction on a dense float32 matrix, configured once per booster;
and a model's load from the bytes the store read, without copying them (``load_booster``).

A one-row ``Booster.inplace_predict`` spends most of its time outside the trees:

- Python: it accepts a dozen input kinds (pandas, arrow, cupy, scipy, lists), so each call
  re-imports its converters, JSON-encodes its arguments and the array's interface with the
  stdlib encoder, and copies the result through two wrapper objects.
- C: ``XGBoosterPredictFromDense`` given no proxy matrix makes a new one per call, and each
  new one reads the cgroup CPU quota files (3 stats, 2 opens, 2 reads).

The router only ever passes a C-contiguous float32 matrix, so this calls the same C function
with the arguments ``inplace_predict`` would send, encoded once, and a proxy matrix kept per
thread (``docs/benchmarks.md`` has the figures). Most of what remains is
XGBoost's own set-up per call (perf, XGBoost 3.2): the proxy's context compiles a
``std::regex`` to parse the device name "cpu", and every tree is walked for its depth.
Results are bit-identical to ``inplace_predict`` (``tests/unit/test_capi.py`` holds
that for every model kind).

Thread safety is XGBoost's: the C call writes its output into per-thread buffers of the
booster, which are copied out before the next call on the same thread can reuse them. The
proxy holds the array of the call in progress, so each thread has its own.
"""

from __future__ import annotations

import ctypes
import functools
import json
import math
import threading
import weakref
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from xgboost import core as xgb_core

if TYPE_CHECKING:
    import xgboost

PredictType = Literal["value", "margin"]

# What the C API returns: a shape (uint64 array), its length, and a float32 buffer.
_ShapePointer = ctypes.POINTER(ctypes.c_uint64)
_FloatPointer = ctypes.POINTER(ctypes.c_float)
# What it reads the rows from: numpy's array interface of a C-order float32 matrix, as JSON.
_ARRAY_INTERFACE = (
    b'{"data": [%d, true], "shape": [%d, %d], "strides": null, "typestr": "<f4", "version": 3}'
)


def load_booster(data: bytes | bytearray | memoryview, *, nthread: int) -> xgboost.Booster:
    """``xgboost.Booster(model_file=bytearray(data))``, then ``set_param({"nthread": ...})``,
    without the copy: ``load_model`` takes a memory buffer only as a ``bytearray``, so a
    caller holding the file's ``bytes`` copies the whole model first, a transient of the
    file's size on every load. ``XGBoosterLoadModelFromBuffer`` only reads the buffer, and
    ctypes passes a ``bytes`` object as a pointer to its own storage. ``Booster()`` sets
    ``validate_parameters`` as ``Booster.__init__`` does, and a load keeps it."""
    if type(data) is not bytes:  # ctypes passes only bytes by pointer: copy the others
        data = bytes(data)
    booster = xgb_core.Booster()
    library: Any = xgb_core._LIB
    status = library.XGBoosterLoadModelFromBuffer(booster.handle, data, ctypes.c_uint64(len(data)))
    if status != 0:
        raise xgb_core.XGBoostError(library.XGBGetLastError().decode())
    booster.set_param({"nthread": nthread})
    return booster


class _ProxyMatrix:
    """XGBoost's proxy DMatrix: the slot that in-place prediction reads the array from."""

    def __init__(self, library: Any) -> None:
        self.handle = ctypes.c_void_p()
        if library.XGProxyDMatrixCreate(ctypes.byref(self.handle)) != 0:
            raise xgb_core.XGBoostError(library.XGBGetLastError().decode())
        # Freed with its thread; not at exit, when the library may already be unloading.
        weakref.finalize(self, library.XGDMatrixFree, self.handle).atexit = False


class _ThreadProxies(threading.local):
    proxy: _ProxyMatrix | None = None


_proxies = _ThreadProxies()


def _thread_proxy(library: Any) -> ctypes.c_void_p:
    proxy = _proxies.proxy
    if proxy is None:
        proxy = _proxies.proxy = _ProxyMatrix(library)
    return proxy.handle


@functools.lru_cache(maxsize=1024)  # a few per distinct round count
def _predict_arguments(predict_type: PredictType, iteration_end: int) -> bytes:
    """The same arguments, in the same encoding, as ``Booster.inplace_predict`` sends; a
    load makes a ``DensePredict`` per round choice, and the stdlib encoder is slow enough to
    show in a load's time, so each encoding is made once per process."""
    return json.dumps(
        {
            "type": 1 if predict_type == "margin" else 0,
            "training": False,
            "iteration_begin": 0,
            # Boosting rounds [0, end), as iteration_range=(0, end); 0 is every round.
            "iteration_end": iteration_end,
            "missing": math.nan,
            "strict_shape": False,
            "cache_id": 0,
        }
    ).encode()


class DensePredict:
    """``booster.inplace_predict(matrix, predict_type=..., iteration_range=(0, end))`` for a
    float32 C-order matrix."""

    def __init__(
        self,
        booster: xgboost.Booster,
        predict_type: PredictType = "value",
        *,
        iteration_end: int = 0,
        num_features: int | None = None,
    ) -> None:
        self._booster = booster  # keeps the handle alive as long as this object
        self._handle = booster.handle
        self._library: Any = xgb_core._LIB
        self._call = self._library.XGBoosterPredictFromDense
        self.num_features = booster.num_features() if num_features is None else num_features
        self._arguments = _predict_arguments(predict_type, iteration_end)

    def __call__(self, matrix: np.ndarray) -> np.ndarray:
        if matrix.dtype != np.float32 or not matrix.flags.c_contiguous:
            matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[1] != self.num_features:
            # inplace_predict checks this in Python; the C function would read past the rows.
            raise ValueError(
                f"Feature shape mismatch, expected: {self.num_features}, got {matrix.shape}"
            )
        rows, columns = matrix.shape
        address = matrix.__array_interface__["data"][0]
        interface = _ARRAY_INTERFACE % (address, rows, columns)
        shape = _ShapePointer()
        dims = ctypes.c_uint64()
        values = _FloatPointer()
        status = self._call(
            self._handle,
            interface,
            self._arguments,
            _thread_proxy(self._library),
            ctypes.byref(shape),
            ctypes.byref(dims),
            ctypes.byref(values),
        )
        if status != 0:
            raise xgb_core.XGBoostError(self._library.XGBGetLastError().decode())
        result_shape = tuple(shape[axis] for axis in range(dims.value))
        result = np.empty(result_shape, dtype=np.float32)
        if result.size:
            ctypes.memmove(result.__array_interface__["data"][0], values, result.nbytes)
        return result
