"""In-process measurements, run as a child: ``python -m scripts.bench.worker SECTION CONFIG OUT``.

``router.lambda_handler`` builds settings, registry and app at import from the environment,
as on Lambda; so each section runs in a process whose environment the parent prepared, and
writes its results as JSON to ``OUT``. Standard output carries the router's own JSON logs and
EMF metrics, as on Lambda; the parent sends it to ``/dev/null``.

Sections:

``handler``
    raw ``Booster.inplace_predict`` against ``handler(event, context)`` on the same row and
    model file, in alternating blocks; then where a handler call spends its time: the parts
    timed one by one, and a cProfile of many calls summed by package.
``v2``
    the native predict body against the Open Inference Protocol's JSON and binary bodies
    through the handler (``scripts.bench.protocols``).
``zipf``
    requests over many models with Zipf popularity through the handler, each classified as
    a cache hit or miss by the registry's own counters.
``miss``
    what a cache miss costs: the router's ``load_model`` of a file, for content never seen
    and for content the publisher validated (the checks' ``trusted`` path), against
    ``xgboost.Booster(model_file=...)`` of the same file, interleaved; and the checks alone.
"""

from __future__ import annotations

import contextlib
import cProfile
import ctypes
import hashlib
import json
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scripts.bench.protocols import v2_section
from scripts.bench.stats import summarize, time_calls
from scripts.bench.workload import (
    BENCH_CONTEXT,
    predict_body,
    predict_event,
    zipf_probabilities,
)
from scripts.lambda_inputs import recorded_http_api_event

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


def main(argv: list[str]) -> int:
    section, config_json, out = argv
    config: dict[str, Any] = json.loads(config_json)
    runners = {"handler": handler_section, "v2": v2_section, "zipf": zipf_section}
    runner = {**runners, "miss": miss_section}[section]
    result = runner(config)
    Path(out).write_text(json.dumps(result, indent=1))
    return 0


def _import_entry() -> tuple[Any, float]:
    started = time.perf_counter()
    import router.lambda_handler as entry

    return entry, time.perf_counter() - started


def _check_status(response: dict[str, Any], what: str) -> None:
    if response.get("statusCode") != 200:
        raise SystemExit(f"{what}: status {response.get('statusCode')}: {response.get('body')}")


def _check(response: dict[str, Any], what: str) -> dict[str, Any]:
    _check_status(response, what)
    body: dict[str, Any] = json.loads(response["body"])
    return body


# -- handler vs raw ------------------------------------------------------------------------


def handler_section(config: dict[str, Any]) -> dict[str, Any]:
    import numpy as np
    import xgboost

    entry, import_s = _import_entry()
    from scripts.bench import peer_handler

    nthread = entry.settings.nthread
    root = Path(config["model_root"])
    row: list[float] = config["row"]
    body = predict_body(row)
    template = recorded_http_api_event()
    context = BENCH_CONTEXT
    per_block = max(1, config["iterations"] // config["blocks"])
    results = []
    for name in config["models"]:
        event = predict_event(template, name, body)
        served = _check(entry.handler(event, context), name)["predictions"][0]
        booster = xgboost.Booster(model_file=str(root / f"{name}.ubj"))
        booster.set_param({"nthread": nthread})
        matrix = np.asarray([row], dtype=np.float32)
        raw_value = float(booster.inplace_predict(matrix)[0])
        if abs(raw_value - served) > 1e-6:
            raise SystemExit(f"{name}: handler says {served}, inplace_predict {raw_value}")

        def raw_call(booster: Any = booster, matrix: Any = matrix) -> object:
            return booster.inplace_predict(matrix)

        def handler_call(event: dict[str, Any] = event) -> object:
            return entry.handler(event, context)

        def peer_call(event: dict[str, Any] = event) -> object:
            return peer_handler.handler(event, context)

        peer_value = json.loads(peer_handler.handler(event, context)["body"])["predictions"][0]
        if abs(peer_value - served) > 1e-6:
            raise SystemExit(f"{name}: handler says {served}, the hand-written one {peer_value}")

        deadline = time.monotonic() + config["max_seconds_per_model"]
        time_calls(raw_call, count=config["warmup"], deadline=deadline)
        time_calls(handler_call, count=config["warmup"], deadline=deadline)
        time_calls(peer_call, count=config["warmup"], deadline=deadline)
        peer: list[int] = []
        peer_cpu: list[int] = []
        raw: list[int] = []
        raw_cpu: list[int] = []
        handled: list[int] = []
        handled_cpu: list[int] = []
        for _ in range(config["blocks"]):  # alternate, so drift hits both alike
            time_calls(
                raw_call, count=per_block, deadline=deadline, samples=raw, cpu_samples=raw_cpu
            )
            time_calls(
                handler_call,
                count=per_block,
                deadline=deadline,
                samples=handled,
                cpu_samples=handled_cpu,
            )
            time_calls(
                peer_call, count=per_block, deadline=deadline, samples=peer, cpu_samples=peer_cpu
            )
        results.append(
            {
                "model": name,
                "trees": int(booster.num_boosted_rounds()),
                "raw": summarize(raw).to_json(),
                "raw_cpu": summarize(raw_cpu).to_json(),
                "handler": summarize(handled).to_json(),
                "handler_cpu": summarize(handled_cpu).to_json(),
                "peer": summarize(peer).to_json(),
                "peer_cpu": summarize(peer_cpu).to_json(),
            }
        )
    first = config["models"][0]
    details = config.get("details", True)
    return {
        "import_seconds": import_s,
        "nthread": nthread,
        "models": results,
        "breakdown": _breakdown(entry, first, row, config) if details else None,
        "profile": _profile(entry, predict_event(template, first, body), config)
        if details
        else None,
    }


def _breakdown(entry: Any, name: str, row: list[float], config: dict[str, Any]) -> dict[str, Any]:
    """Each part of a 1-row predict call, timed alone; p50s in ns. The parts are what the
    Lambda entry's direct path (``router.api.lambda_predict``) does with a predict event,
    and the per-invocation metrics flush; for reference, what the framework it skips costs
    (an app of one empty endpoint under Mangum)."""
    import orjson
    from mangum import Mangum

    from router.api.body import parse_predict_request
    from router.api.gateway_events import check_event
    from router.api.request_log import write_prediction_line
    from scripts.bench.empty_apps import app_with_dependencies, bare_asgi, empty_app

    registry = entry.registry
    settings = entry.settings
    model = registry.get(name)
    predictor = model.predictor
    body = predict_body(row).encode()
    instances = [row]
    matrix = predictor.matrix(instances)
    predictions = predictor.predict(matrix, "value")
    response = {"model": name, "version": model.version, "output": "value"}
    context: Any = BENCH_CONTEXT  # duck-typed, as Lambda's own is to Mangum

    event = predict_event(recorded_http_api_event(), name, body.decode())
    empty_adapter = Mangum(empty_app(), lifespan="off")
    deps_adapter = Mangum(app_with_dependencies(registry, settings), lifespan="off")
    bare_adapter = Mangum(bare_asgi, lifespan="off")
    for adapter in (empty_adapter, deps_adapter, bare_adapter):
        _check_status(adapter(event, context), "framework floor")

    def emf() -> None:
        entry.metrics_sink.count("CacheHit", 1)
        entry.metrics_sink.milliseconds("PredictTime", 0.1)
        entry.metrics_sink.flush()

    parts: list[tuple[str, str, Any]] = [
        ("handler", "the whole handler call", lambda: entry.handler(event, context)),
        (
            "predict",
            "`Predictor.predict` (XGBoost's C call, `router.xgb.capi`)",
            lambda: predictor.predict(matrix),
        ),
        (
            "matrix",
            "rows -> float32 matrix (`Predictor.matrix`)",
            lambda: predictor.matrix(instances),
        ),
        (
            "parse",
            "body -> `PredictRequest` (orjson + pydantic)",
            lambda: parse_predict_request(body, settings.max_rows),
        ),
        (
            "fresh",
            "`registry.fresh` (cache lookup, hit counter)",
            lambda: registry.cached_if_fresh(name),
        ),
        (
            "encode",
            "response -> JSON (orjson)",
            lambda: orjson.dumps(
                {**response, "predictions": predictions}, option=orjson.OPT_SERIALIZE_NUMPY
            ),
        ),
        ("emf", "EMF: 2 metrics + flush (`metrics_sink`)", emf),
        ("check", "the event's checks (`check_event`)", lambda: check_event(event)),
        (
            "log_line",
            "the prediction log line (`write_prediction_line`)",
            lambda: write_prediction_line(
                entry.app.state, name, (model.version, 1, "value", "hit"), "bench-0000", 200, 0.1
            ),
        ),
        (
            "log_keys",
            "`logger.append_keys` (request id, cold start)",
            lambda: entry.logger.append_keys(request_id="bench-0000", cold_start=False),
        ),
        (
            "framework",
            "Mangum + FastAPI, empty async endpoint",
            lambda: empty_adapter(event, context),
        ),
        (
            "framework_deps",
            "the same declaring `RegistryDep` and `SettingsDep`",
            lambda: deps_adapter(event, context),
        ),
        ("mangum", "Mangum alone, bare ASGI app", lambda: bare_adapter(event, context)),
        (
            "raw",
            "`Booster.inplace_predict` on the same matrix",
            lambda: predictor.booster.inplace_predict(matrix),
        ),
    ]
    rounds = config["breakdown_rounds"]
    per_round = max(1, config["breakdown_iterations"] // rounds)
    wall: dict[str, list[int]] = {key: [] for key, _, _ in parts}
    cpu: dict[str, list[int]] = {key: [] for key, _, _ in parts}
    in_handler: list[float] = []
    deadline = time.monotonic() + config["max_seconds_breakdown"]
    for _, _, call in parts:  # warm-up
        time_calls(call, count=max(1, per_round // 5), deadline=deadline)
    for _ in range(rounds):  # round robin, so drift hits every part alike
        for key, _, call in parts:
            recording = in_handler if key == "handler" else None
            with _recording_predict_time(entry.metrics_sink, recording):
                time_calls(
                    call,
                    count=per_round,
                    deadline=deadline,
                    samples=wall[key],
                    cpu_samples=cpu[key],
                )
    out = [
        {
            "key": key,
            "label": label,
            "p50_ns": summarize(wall[key]).p50_ns,
            "cpu_p50_ns": summarize(cpu[key]).p50_ns,
        }
        for key, label, _ in parts
    ]
    return {
        "model": name,
        "parts": out,
        "predict_dependencies": _declared_dependencies(entry.app, "/models/{name}/predict"),
        # What the router itself timed as the prediction (rows -> matrix -> C call)
        # during the handler calls: the same work as the two parts above, in situ.
        "predict_in_handler_ns": summarize(in_handler).p50_ns if in_handler else None,
    }


def _declared_dependencies(app: Any, path: str) -> list[str]:
    """Names of the ``Depends`` that the app's POST route at ``path`` declares."""
    from fastapi.routing import APIRoute

    for route in app.routes:
        if isinstance(route, APIRoute) and route.path == path and "POST" in (route.methods or ()):
            return [
                getattr(dependency.call, "__name__", repr(dependency.call))
                for dependency in route.dependant.dependencies
            ]
    return []


@contextlib.contextmanager
def _recording_predict_time(sink: Any, into: list[float] | None) -> Iterator[None]:
    """Copy the router's ``PredictTime`` metric (ms) into ``into`` (ns) while active."""
    if into is None:
        yield
        return
    original = sink.milliseconds

    def milliseconds(name: str, value: float) -> None:
        if name == "PredictTime":
            into.append(value * 1e6)
        original(name, value)

    sink.milliseconds = milliseconds
    try:
        yield
    finally:
        sink.milliseconds = original


def _package_of(filename: str) -> str:
    """Group a profiled function by the top-level package its file belongs to."""
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins (C calls)"
    path = Path(filename)
    parts = path.parts
    if "site-packages" in parts:
        top = parts[parts.index("site-packages") + 1]
        return top.removesuffix(".py")
    if "router" in parts:
        return "router"
    if path.parent.name == "asyncio":
        return "asyncio (stdlib)"
    if path.parent.name == "json":
        return "json (stdlib)"
    if path.parent.name == "logging":
        return "logging (stdlib)"
    return "other stdlib"


def _profile(entry: Any, event: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    context = BENCH_CONTEXT
    profiler = cProfile.Profile()
    deadline = time.monotonic() + config["max_seconds_profile"]
    calls = 0
    profiler.enable()
    for _ in range(config["profile_iterations"]):
        entry.handler(event, context)
        calls += 1
        if time.monotonic() > deadline:
            break
    profiler.disable()
    stats = pstats.Stats(profiler)
    raw_stats: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    by_package: dict[str, float] = {}
    functions = []
    total = 0.0
    for (filename, line, function), (_, ncalls, tottime, _, _) in raw_stats.items():
        package = _package_of(filename)
        by_package[package] = by_package.get(package, 0.0) + tottime
        total += tottime
        where = f"{package}: {Path(filename).name}:{line}" if line else package
        functions.append({"function": f"{function} ({where})", "calls": ncalls, "own": tottime})
    functions.sort(key=lambda item: -item["own"])
    return {
        "calls": calls,
        "total_seconds": total,
        "by_package": sorted(by_package.items(), key=lambda item: -item[1]),
        "top_functions": functions[: config["profile_top"]],
    }


# -- Zipf workload -------------------------------------------------------------------------


def zipf_section(config: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    entry, _ = _import_entry()
    registry = entry.registry
    names: list[str] = config["models"]
    probabilities = zipf_probabilities(len(names), config["exponent"])
    rng = np.random.default_rng(config["seed"])
    total_requests = config["warmup"] + config["requests"]
    picks = rng.choice(len(names), size=total_requests, p=probabilities)
    template = recorded_http_api_event()
    body = predict_body(config["row"])
    events = [predict_event(template, name, body) for name in names]
    context = BENCH_CONTEXT
    hits: list[int] = []
    checked_hits: list[int] = []
    misses: list[int] = []
    clock = time.perf_counter_ns
    deadline = time.monotonic() + config["max_seconds"]
    started_totals: dict[str, int] = {}
    measured = 0
    for number, pick in enumerate(picks):
        if number == config["warmup"]:
            started_totals = registry.metrics.totals()
        # Cached and checked recently enough to need no file check: `fresh` does no I/O.
        # (It counts a hit in the EMF buffer, flushed by the next request: a few µs.)
        fresh = registry.cached_if_fresh(names[pick]) is not None
        before = registry.metrics.totals().get("CacheMiss", 0)
        started = clock()
        response = entry.handler(events[pick], context)
        elapsed = clock() - started
        _check(response, names[pick])
        if number < config["warmup"]:
            continue
        measured += 1
        if registry.metrics.totals().get("CacheMiss", 0) > before:
            misses.append(elapsed)
        else:
            (hits if fresh else checked_hits).append(elapsed)
        if time.monotonic() > deadline:
            break
    totals = registry.metrics.totals()

    def delta(key: str) -> int:
        return int(totals.get(key, 0) - started_totals.get(key, 0))

    return {
        "requests": measured,
        "warmup": config["warmup"],
        "distinct_models": len({int(pick) for pick in picks[config["warmup"] :][:measured]}),
        "hits": summarize(hits).to_json() if hits else None,
        "checked_hits": summarize(checked_hits).to_json() if checked_hits else None,
        "reload_interval_s": entry.settings.reload_interval_s,
        "misses": summarize(misses).to_json() if misses else None,
        "loads": delta("ModelLoad"),
        "evictions": delta("CacheEviction"),
        "cache_max_models": entry.settings.cache_max_models,
        "top_k_share": sum(probabilities[: entry.settings.cache_max_models]),
    }


# -- cache miss ---------------------------------------------------------------------------


_WARM_UP = 2  # calls of each part before the timed rounds of a miss


def miss_section(config: dict[str, Any]) -> dict[str, Any]:
    import numpy as np
    import xgboost

    from router.observability import configure_logging
    from router.publish.local import ModelFolder
    from router.publish.validate import validate_model
    from router.registry.registry import ModelRegistry
    from router.settings import Settings
    from router.store import ModelStore
    from router.xgb import loader as loader_module
    from router.xgb.checks.ubj import walk_ubj
    from router.xgb.checks.ubj_values import check_ubj_values

    store = ModelStore(Path(config["model_root"]))
    nthread = int(config["nthread"])
    xgb_library: Any = xgboost.core._LIB
    # The registry writes its line per load as the server does (to this child's stdout,
    # which the benchmark sends to /dev/null).
    configure_logging(Settings())
    # The published versions are published for real, into a root of their own, so that the
    # store finds their hashes in the history as it does in production: what is timed
    # includes that lookup, and no flag is set by hand.
    published_root = Path(tempfile.mkdtemp(prefix="published-", dir=config["work"]))
    published_store = ModelStore(published_root)
    row = np.zeros((1, int(config["features"])), dtype=np.float32)
    # A miss is what a request for a model the cache does not hold costs beyond a hit: the
    # registry's get, which resolves the name (stats the files), reads them through the
    # store (open, check, read, hash), loads them, and admits the model; timed on a registry
    # made beforehand (a pool of them per model), so its cache is empty. The first answer
    # adds a one-row prediction,
    # on both sides: XGBoost configures a booster's learner on its first use, which the
    # router's load does and Booster(model_file=...) leaves to the first prediction.
    loader: Any = loader_module

    def empty_registries(model_store: ModelStore) -> list[ModelRegistry]:
        """One registry per timed miss and warm-up, made before the timing starts."""
        return [
            ModelRegistry(
                model_store,
                max_models=8,
                max_bytes=1 << 34,
                reload_interval_s=1.0,
                load_wait_s=60.0,
                loader=lambda files: loader.load_model(files, nthread=nthread),
            )
            for _ in range(config["rounds"] + _WARM_UP)
        ]

    results = []
    for name in config["models"]:
        ref = store.resolve(name)
        path = str(ref.path)
        data = ref.path.read_bytes()
        skeleton = walk_ubj(data)
        with ModelFolder(published_root, name, history_limit=3) as folder:
            folder.publish(validate_model(data).data)  # the very bytes: no metadata to embed
        published_ref = published_store.resolve(name)
        if not published_store.read(published_ref).published:
            raise RuntimeError(f"{name}: the store does not find the published version")

        unseen_pool, published_pool = empty_registries(store), empty_registries(published_store)

        def load_unseen(name: str = name, pool: list[ModelRegistry] = unseen_pool) -> object:
            return pool.pop().get(name)  # the registry goes with the call: a miss each time

        def load_published(name: str = name, pool: list[ModelRegistry] = published_pool) -> object:
            return pool.pop().get(name)

        def raw(path: str = path) -> object:
            return xgboost.Booster(model_file=path)

        def floor(path: str = path) -> object:
            # What any load that trusts content by its hash and caches a ready booster
            # pays, whoever writes it: the read, SHA-256, the parse, and the learner's
            # configuration (which num_features, like a first prediction, runs).
            # XGBoost's C loader on the bytes read, as the router's load_booster calls it but
            # written out here, so that the floor does not move with the router's code:
            # Booster(model_file=bytearray(...)) would add a copy that no loader needs.
            content = Path(path).read_bytes()
            hashlib.sha256(content).hexdigest()
            booster = xgboost.Booster()
            length = ctypes.c_uint64(len(content))
            if xgb_library.XGBoosterLoadModelFromBuffer(booster.handle, content, length) != 0:
                raise RuntimeError(xgb_library.XGBGetLastError().decode())
            booster.set_param({"nthread": nthread})
            booster.num_features()
            return booster

        def first_answer_published(ref: Any = published_ref) -> object:
            model = loader.load_model(published_store.read(ref), nthread=nthread)
            return model.predictor.predict(row, "value", None)

        def first_answer_raw(path: str = path) -> object:
            return xgboost.Booster(model_file=path).inplace_predict(row)

        def walk(data: bytes = data) -> object:
            return walk_ubj(data)

        def values(data: bytes = data, skeleton: Any = skeleton) -> None:
            check_ubj_values(data, skeleton)

        parts: dict[str, Callable[[], object]] = {
            "raw": raw,
            "unseen": load_unseen,
            "published": load_published,
            "floor": floor,
            "first_answer_raw": first_answer_raw,
            "first_answer_published": first_answer_published,
            "walk": walk,
            "values": values,
        }
        samples: dict[str, list[int]] = {key: [] for key in parts}
        deadline = time.monotonic() + config["max_seconds_per_model"]
        for call in parts.values():  # warm-up
            time_calls(call, count=_WARM_UP, deadline=deadline)
        for _ in range(config["rounds"]):  # round robin, so drift hits every part alike
            for key, call in parts.items():
                time_calls(call, count=1, deadline=deadline, samples=samples[key])
            if time.monotonic() > deadline:
                break
        results.append(
            {
                "model": name,
                "bytes": len(data),
                "containers": len(skeleton.container_open),
                **{key: summarize(values).to_json() for key, values in samples.items()},
            }
        )
    return {"nthread": nthread, "models": results}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
