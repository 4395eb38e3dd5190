"""The HTTP floor: a bare ASGI app under the same uvicorn as ``model-router serve``, doing
only what any predict server must (read the body, parse it with orjson, a float32 matrix,
XGBoost's prediction, answer with orjson) and nothing a production server adds: no routing
framework, no checks of the body or the rows, no log line, no metrics. It calls XGBoost as
the router does (``router.xgb.capi``, the C function under ``inplace_predict`` without its
Python wrapper's cost), so what it answers per second bounds what a Python server on uvicorn
answers with XGBoost; the benchmark reports the router and MLServer against it."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import xgboost

from router.xgb.capi import DensePredict

MODEL_ROOT = Path(os.environ.get("ROUTER_MODEL_ROOT", "models"))
_HEADERS = [(b"content-type", b"application/json")]


@functools.cache
def predictor(name: str) -> DensePredict:
    booster = xgboost.Booster(model_file=str(MODEL_ROOT / f"{name}.ubj"))
    booster.set_param({"nthread": 1})
    return DensePredict(booster)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    chunks = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    if scope["method"] != "POST":  # anything else is the benchmark's health check
        await _answer(send, b"{}")
        return
    name = scope["path"].split("/")[2]  # /models/{name}/predict
    rows = np.asarray(orjson.loads(b"".join(chunks))["instances"], dtype=np.float32)
    predictions = predictor(name)(rows)
    body = orjson.dumps(
        {"model": name, "predictions": predictions}, option=orjson.OPT_SERIALIZE_NUMPY
    )
    await _answer(send, body)


async def _answer(send: Any, body: bytes) -> None:
    headers = [*_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
