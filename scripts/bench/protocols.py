"""The ``v2`` worker section: one model's rows through the Lambda handler by the native
``POST /models/{name}/predict`` body, and by the Open Inference Protocol's JSON and binary
bodies (``POST /v2/models/{name}/infer``, built by ``router.api.v2.infer.encode_request`` as
tritonclient builds them), in alternating blocks, after checking all three answer alike.
"""

from __future__ import annotations

import base64
import json
import time
from typing import TYPE_CHECKING, Any

from scripts.bench.stats import summarize, time_calls
from scripts.bench.workload import BENCH_CONTEXT, N_FEATURES, predict_event
from scripts.lambda_inputs import http_api_event, recorded_http_api_event

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np

PATHS = ("native", "v2_json", "v2_binary")


def rows_matrix(rows: int, seed: int = 20261201) -> np.ndarray:
    """``rows`` seeded rows of 3-decimal values (float64; a client's numbers): every body
    carries them as float32 once parsed, the JSON ones in their short decimal form."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return rng.normal(size=(rows, N_FEATURES)).round(3)


def path_events(template: dict[str, Any], model: str, matrix: np.ndarray) -> dict[str, Any]:
    """The recorded event re-aimed at ``model`` once per path: a binary body base64-encoded
    with ``isBase64Encoded``, as API Gateway passes a body without a text Content-Type."""
    import numpy as np

    from router.api.v2.infer import encode_request

    native = json.dumps({"instances": matrix.tolist()}, separators=(",", ":"))
    events = {"native": predict_event(template, model, native)}
    for key, binary in (("v2_json", False), ("v2_binary", True)):
        body, headers = encode_request(matrix.astype(np.float32), binary=binary)
        sent = {"content-type": None, **headers}  # the encoder's headers, not the recorded ones
        event = http_api_event(
            "POST",
            f"/v2/models/{model}/infer",
            body,
            sent,
            binary=binary,
            route="POST /v2/models/{name}/infer",
            path_parameters={"name": model},
            template=template,
        )
        events[key] = event
    return events


def predictions(key: str, response: dict[str, Any]) -> list[float]:
    """The predicted values in one path's response (binary: the float tensor after the JSON
    header)."""
    import numpy as np

    if response.get("statusCode") != 200:
        raise SystemExit(f"{key}: status {response.get('statusCode')}: {response.get('body')}")
    body: str = response["body"]
    raw = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()
    if key == "native":
        return [float(value) for value in json.loads(raw)["predictions"]]
    headers = {name.lower(): value for name, value in response.get("headers", {}).items()}
    length = headers.get("inference-header-content-length")
    if length is None:
        return [float(value) for value in json.loads(raw)["outputs"][0]["data"]]
    output = json.loads(raw[: int(length)])["outputs"][0]
    dtype = {"FP32": np.float32, "FP64": np.float64}[output["datatype"]]
    return [float(value) for value in np.frombuffer(raw[int(length) :], dtype=dtype)]


def _call(
    handler: Callable[[dict[str, Any], Any], dict[str, Any]],
    key: str,
    event: dict[str, Any],
    context: Any,
) -> Callable[[], object]:
    """One timed call on a shallow copy of ``event``: the router decodes a base64 body in
    the event it is given (Lambda never passes the same one twice); a copy is ~0.1 µs."""

    def call() -> object:
        response = handler({**event}, context)
        if response["statusCode"] != 200:
            raise SystemExit(f"{key}: status {response['statusCode']}: {response.get('body')}")
        return response

    return call


def v2_section(config: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    import router.lambda_handler as entry

    template = recorded_http_api_event()
    context = BENCH_CONTEXT
    results = []
    for name in config["models"]:
        for rows in config["rows"]:
            events = path_events(template, name, rows_matrix(rows))
            answers = {
                key: predictions(key, entry.handler({**event}, context))
                for key, event in events.items()
            }
            for key, values in answers.items():
                if len(values) != rows or not np.allclose(values, answers["native"], atol=1e-6):
                    raise SystemExit(f"{name}, {rows} rows: {key} answers unlike native")
            calls = {
                key: _call(entry.handler, key, event, context) for key, event in events.items()
            }
            samples: dict[str, list[int]] = {key: [] for key in calls}
            deadline = time.monotonic() + config["max_seconds_per_case"]
            per_block = max(1, config["iterations"] // config["blocks"])
            for call in calls.values():
                time_calls(call, count=config["warmup"], deadline=deadline)
            for _ in range(config["blocks"]):  # alternate, so drift hits every path alike
                for key, call in calls.items():
                    time_calls(call, count=per_block, deadline=deadline, samples=samples[key])
            sizes = {key: int(event["headers"]["content-length"]) for key, event in events.items()}
            results.append(
                {
                    "model": name,
                    "rows": rows,
                    "body_bytes": sizes,
                    **{key: summarize(values).to_json() for key, values in samples.items()},
                }
            )
    return {"cases": results}
