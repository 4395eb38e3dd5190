"""An idiomatic FastAPI + Mangum app serving the same models: the peer for the router's
cold start. Request and response are pydantic models, the booster is loaded on first use
through ``functools.cache``, and Mangum runs without lifespan, as its README shows."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import xgboost
from fastapi import FastAPI
from mangum import Mangum
from pydantic import BaseModel

MODEL_ROOT = Path(os.environ.get("ROUTER_MODEL_ROOT", "/mnt/models"))


class PredictRequest(BaseModel):
    instances: list[list[float]]


class PredictResponse(BaseModel):
    model: str
    predictions: list[float]


@functools.cache
def booster(name: str) -> xgboost.Booster:
    loaded = xgboost.Booster(model_file=str(MODEL_ROOT / f"{name}.ubj"))
    loaded.set_param({"nthread": 1})
    return loaded


app = FastAPI()


@app.post("/models/{name}/predict")
def predict(name: str, request: PredictRequest) -> PredictResponse:
    rows = np.asarray(request.instances, dtype=np.float32)
    return PredictResponse(model=name, predictions=booster(name).inplace_predict(rows).tolist())


handler = Mangum(app, lifespan="off")
