"""A hand-written Lambda handler, in the style of the AWS Lambda + EFS samples: the peer
for the router's in-process handler and for its cold start.

No framework: the body is parsed with ``json``, the booster is loaded from the model folder
on first use and kept in a dict, and the prediction comes from ``Booster.inplace_predict``.
It checks nothing a careful hand-written handler would skip; it is here to be fast.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import xgboost

MODEL_ROOT = Path(os.environ.get("ROUTER_MODEL_ROOT", "/mnt/models"))
_boosters: dict[str, xgboost.Booster] = {}


def _booster(name: str) -> xgboost.Booster:
    booster = _boosters.get(name)
    if booster is None:
        booster = xgboost.Booster(model_file=str(MODEL_ROOT / f"{name}.ubj"))
        booster.set_param({"nthread": 1})
        _boosters[name] = booster
    return booster


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    name = event["pathParameters"]["name"]
    rows = json.loads(event["body"])["instances"]
    predictions = _booster(name).inplace_predict(np.asarray(rows, dtype=np.float32))
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"model": name, "predictions": predictions.tolist()}),
    }
