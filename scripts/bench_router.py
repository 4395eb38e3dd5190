"""Benchmark the router against raw XGBoost, and write ``docs/benchmarks.md``.

One run measures, on the same synthetic demo-sized models (50, 300 and 1000 trees):

1. raw ``Booster.inplace_predict`` and a hand-written handler against the Lambda handler
   in-process (API Gateway v2 event -> response), and where a handler call spends its time;
   the native predict body against the V2 (Open Inference Protocol) JSON and binary bodies,
   1 row and 1,000 rows, through the same handler;
2. a cache miss: the router's load of a file never seen, and of a published one, against
   ``xgboost.Booster(model_file=...)``, and the checks' own time;
3. a Zipf(1.1) workload over 50 models with a 10-model cache, and the same trace replayed
   through other cache policies;
4. HTTP through ``model-router serve`` at concurrency 1 and 8, with ``wrk`` when installed;
   with ``--peers``, MLServer on the same model, in a venv of its own (``.venv-peers``);
5. cold start, new process -> first prediction, against ``import fastapi, mangum, xgboost``,
   an idiomatic FastAPI + Mangum app and a hand-written handler answering the same event;

prints the report, with ratios to the raw figures, and writes it as Markdown.

    .venv/bin/python scripts/bench_router.py --peers    # full run, about 6 minutes
    .venv/bin/python scripts/bench_router.py --only handler --baseline 45580b7   # before/after
    .venv/bin/python scripts/bench_router.py --quick --output /tmp/bench.md   # smoke test

The full run measures cold start in a lean environment, ``.venv-bench`` (made on first use
with ``pip install -e .[server]``): XGBoost imports scikit-learn whenever it is installed,
as it is in the project venv, which would add a second to both sides of that comparison.
Only 127.0.0.1 is ever sent a request.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make `scripts.bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.bench import baseline, cold, http_load, peers, policy, report
from scripts.bench.stats import summarize
from scripts.bench.workload import (
    LAMBDA_ENV,
    N_FEATURES,
    REPO,
    ensure_models,
    predict_body,
    request_row,
    size_models,
    zipf_models,
    zipf_probabilities,
)

SECTIONS = ("handler", "v2", "miss", "zipf", "http", "cold")
VERSIONS_OF = (
    "xgboost",
    "xgboost-cpu",
    "fastapi",
    "starlette",
    "mangum",
    "pydantic",
    "numpy",
    "orjson",
    "uvicorn",
    "aws-lambda-powertools",
    "scikit-learn",
    "uvloop",
    "httptools",
    "mlserver",
    "mlserver-xgboost",
)


@dataclass(frozen=True)
class Preset:
    trees: tuple[int, ...]
    handler_iterations: int
    handler_blocks: int
    handler_warmup: int
    handler_max_seconds_per_model: float
    breakdown_iterations: int
    breakdown_rounds: int
    breakdown_max_seconds: float
    profile_iterations: int
    profile_max_seconds: float
    profile_top: int
    v2_rows: tuple[int, ...]
    v2_iterations: int
    v2_blocks: int
    v2_warmup: int
    v2_max_seconds_per_case: float
    zipf_models: int
    zipf_trees: int
    zipf_cache: int
    zipf_exponent: float
    zipf_seed: int
    zipf_warmup: int
    zipf_requests: int
    zipf_max_seconds: float
    http_concurrency: tuple[int, ...]
    http_requests: int
    http_warmup: int
    http_max_seconds: float
    http_rounds: int
    cold_runs: int
    cold_max_seconds: float
    cold_warm_up: bool
    miss_rounds: int
    miss_max_seconds_per_model: float
    wrk_seconds: float

    def describe(self) -> str:
        return ", ".join(f"{key}={value}" for key, value in dataclasses.asdict(self).items())


FULL = Preset(
    trees=(50, 300, 1000),
    handler_iterations=3000,
    handler_blocks=15,
    handler_warmup=300,
    handler_max_seconds_per_model=30,
    breakdown_iterations=2000,
    breakdown_rounds=10,
    breakdown_max_seconds=40,
    profile_iterations=1000,
    profile_max_seconds=10,
    profile_top=15,
    v2_rows=(1, 1000),
    v2_iterations=300,
    v2_blocks=10,
    v2_warmup=30,
    v2_max_seconds_per_case=20,
    zipf_models=50,
    zipf_trees=50,
    zipf_cache=10,
    zipf_exponent=1.1,
    zipf_seed=20261123,
    zipf_warmup=500,
    zipf_requests=3000,
    zipf_max_seconds=60,
    http_concurrency=(1, 8),
    http_requests=3000,
    http_warmup=200,
    http_max_seconds=10,
    http_rounds=3,
    cold_runs=10,
    cold_max_seconds=120,
    cold_warm_up=True,
    miss_rounds=100,
    miss_max_seconds_per_model=40,
    wrk_seconds=6,
)
QUICK = Preset(
    trees=(50,),
    handler_iterations=200,
    handler_blocks=2,
    handler_warmup=20,
    handler_max_seconds_per_model=5,
    breakdown_iterations=100,
    breakdown_rounds=2,
    breakdown_max_seconds=5,
    profile_iterations=100,
    profile_max_seconds=3,
    profile_top=5,
    v2_rows=(1, 1000),
    v2_iterations=10,
    v2_blocks=2,
    v2_warmup=2,
    v2_max_seconds_per_case=3,
    zipf_models=12,
    zipf_trees=10,
    zipf_cache=4,
    zipf_exponent=1.1,
    zipf_seed=20261123,
    zipf_warmup=20,
    zipf_requests=150,
    zipf_max_seconds=10,
    http_concurrency=(1, 8),
    http_requests=100,
    http_warmup=10,
    http_max_seconds=5,
    http_rounds=1,
    cold_runs=1,
    cold_max_seconds=20,
    cold_warm_up=False,
    miss_rounds=2,
    miss_max_seconds_per_model=5,
    wrk_seconds=1,
)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_worker(
    section: str,
    config: dict[str, Any],
    env: dict[str, str],
    work: Path,
    against: baseline.Baseline | None = None,
) -> Any:
    """Run one in-process section in a child of this interpreter (or, ``against`` an earlier
    revision, of that revision's venv, with its router); returns its JSON."""
    name = section if against is None else f"{section}-{against.commit}"
    out = work / f"{name}.json"
    out.unlink(missing_ok=True)
    python = sys.executable if against is None else str(against.python)
    import_path = REPO if against is None else against.import_path
    command = [python, "-m", "scripts.bench.worker", section, json.dumps(config), str(out)]
    child_env = {**os.environ, **env, "PYTHONPATH": str(import_path)}
    with (work / f"{name}.log").open("wb") as stderr:
        code = subprocess.run(
            command, env=child_env, cwd="/", stdout=subprocess.DEVNULL, stderr=stderr, timeout=600
        ).returncode
    if code != 0:
        tail = (work / f"{name}.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"the {name} worker exited with {code}:\n{tail}")
    return json.loads(out.read_text())


def bench_handler(
    preset: Preset,
    root: Path,
    names: list[str],
    work: Path,
    against: baseline.Baseline | None = None,
) -> Any:
    """The handler against raw ``inplace_predict`` and a hand-written handler; for this
    checkout also where a call goes, for an earlier revision (``against``) only the timings."""
    config = {
        "details": against is None,
        "model_root": str(root),
        "models": names,
        "row": request_row(),
        "iterations": preset.handler_iterations,
        "blocks": preset.handler_blocks,
        "warmup": preset.handler_warmup,
        "max_seconds_per_model": preset.handler_max_seconds_per_model,
        "breakdown_iterations": preset.breakdown_iterations,
        "breakdown_rounds": preset.breakdown_rounds,
        "max_seconds_breakdown": preset.breakdown_max_seconds,
        "profile_iterations": preset.profile_iterations,
        "max_seconds_profile": preset.profile_max_seconds,
        "profile_top": preset.profile_top,
    }
    env = {**LAMBDA_ENV, "ROUTER_MODEL_ROOT": str(root)}
    result = run_worker("handler", config, env, work, against)
    result["row"] = config["row"]
    if against is not None:
        result.update(revision=against.revision, commit=against.commit)
    return result


def bench_v2(preset: Preset, root: Path, names: list[str], work: Path) -> Any:
    """The smallest and the largest model (one when they are the same)."""
    config = {
        "models": list(dict.fromkeys([names[0], names[-1]])),
        "rows": preset.v2_rows,
        "iterations": preset.v2_iterations,
        "blocks": preset.v2_blocks,
        "warmup": preset.v2_warmup,
        "max_seconds_per_case": preset.v2_max_seconds_per_case,
    }
    return run_worker("v2", config, {**LAMBDA_ENV, "ROUTER_MODEL_ROOT": str(root)}, work)


def bench_miss(preset: Preset, root: Path, names: list[str], work: Path) -> Any:
    config = {
        "model_root": str(root),
        "models": names,
        "nthread": 1,
        "rounds": preset.miss_rounds,
        "max_seconds_per_model": preset.miss_max_seconds_per_model,
        "features": N_FEATURES,
        "work": str(work),
    }
    return run_worker("miss", config, dict(LAMBDA_ENV), work)


def replay_policies(preset: Preset) -> dict[str, Any]:
    """The Zipf section's measured trace (same seed and draw), and the same trace with
    popularity moving on, replayed through the cache policies of ``scripts.bench.policy``."""
    import numpy as np

    probabilities = zipf_probabilities(preset.zipf_models, preset.zipf_exponent)
    rng = np.random.default_rng(preset.zipf_seed)
    total = preset.zipf_warmup + preset.zipf_requests
    picks = rng.choice(preset.zipf_models, size=total, p=probabilities).tolist()
    every, step = max(1, preset.zipf_requests // 6), max(1, preset.zipf_models // 10)
    traces = {
        "zipf": picks,
        f"zipf, popularity moving {step} ranks every {every} requests": policy.shifted(
            picks, preset.zipf_models, every, step
        ),
    }
    return {
        "capacity": preset.zipf_cache,
        "warmup": preset.zipf_warmup,
        "traces": {
            name: policy.replay(trace, preset.zipf_cache, preset.zipf_warmup)
            for name, trace in traces.items()
        },
    }


def bench_zipf(preset: Preset, root: Path, names: list[str], work: Path) -> Any:
    config = {
        "models": names,
        "row": request_row(),
        "exponent": preset.zipf_exponent,
        "seed": preset.zipf_seed,
        "warmup": preset.zipf_warmup,
        "requests": preset.zipf_requests,
        "max_seconds": preset.zipf_max_seconds,
    }
    env = {
        **LAMBDA_ENV,
        "ROUTER_MODEL_ROOT": str(root),
        "ROUTER_CACHE_MAX_MODELS": str(preset.zipf_cache),
    }
    result = run_worker("zipf", config, env, work)
    result.update(
        exponent=preset.zipf_exponent,
        seed=preset.zipf_seed,
        model_count=len(names),
        trees=preset.zipf_trees,
        policies=replay_policies(preset),
    )
    return result


def bench_http(
    preset: Preset, root: Path, names: list[str], work: Path, peer_venv: Path | None
) -> dict[str, Any]:
    """The router over HTTP, by wrk when installed (else the asyncio client); on the first
    (smallest) model, the HTTP floor too and, with ``peer_venv``, MLServer, every server up
    at once and measured in alternation, ``http_rounds`` times: one load run swings by tens
    of percent on a shared machine, so ratios are taken per round and their medians
    reported."""
    row = request_row()
    body = predict_body(row).encode()
    tool = "wrk" if peers.wrk_available() else "asyncio"
    first = names[0]
    results = []
    requests = {"router": (f"/models/{first}/predict", body)}
    with contextlib.ExitStack() as servers:
        router_log = servers.enter_context((work / "serve.log").open("wb"))
        ports = {"router": servers.enter_context(http_load.serve(REPO, root, router_log))}
        # The floor: what a bare ASGI app on the same uvicorn answers (scripts/bench/peer_asgi.py).
        floor_log = servers.enter_context((work / "floor.log").open("wb"))
        ports["floor"] = servers.enter_context(http_load.serve_floor(REPO, root, floor_log))
        requests["floor"] = requests["router"]
        if peer_venv is not None:
            peer_log = servers.enter_context((work / "mlserver.log").open("wb"))
            ports["mlserver"] = servers.enter_context(
                peers.mlserver(peer_venv, root / f"{first}.ubj", first, work, peer_log)
            )
            requests["mlserver"] = (f"/v2/models/{first}/infer", peers.v2_body(row))
        for round_number in range(preset.http_rounds):
            for concurrency in preset.http_concurrency:
                for server, port in ports.items():
                    path, sent = requests[server]
                    item = _load(preset, tool, port, path, sent, concurrency, work)
                    results.append(
                        {"server": server, "model": first, "round": round_number, **item}
                    )
                    log(f"  http {server} {first} c={concurrency}: {item['rps']:.0f} req/s")
        for name in names[1:]:
            for concurrency in preset.http_concurrency:
                path = f"/models/{name}/predict"
                item = _load(preset, tool, ports["router"], path, body, concurrency, work)
                results.append({"server": "router", "model": name, "round": 0, **item})
                log(f"  http router {name} c={concurrency}: {item['rps']:.0f} req/s")
    if any(item["errors"] for item in results):
        raise RuntimeError(f"HTTP requests failed; see the logs in {work}")
    return {"tool": tool, "rounds": preset.http_rounds, "results": results}


def _load(
    preset: Preset, tool: str, port: int, path: str, body: bytes, concurrency: int, work: Path
) -> dict[str, Any]:
    if tool == "wrk":
        peers.wrk(port, path, body, concurrency=concurrency, seconds=1, work=work)  # warm-up
        outcome = peers.wrk(
            port, path, body, concurrency=concurrency, seconds=preset.wrk_seconds, work=work
        )
        return {
            "concurrency": concurrency,
            "errors": outcome.errors,
            "rps": outcome.rps,
            "requests": outcome.requests,
            "p50_us": outcome.p50_us,
            "p99_us": outcome.p99_us,
        }
    request = http_load.post_request(port, path, body)
    measured = http_load.closed_loop(
        port,
        request,
        concurrency=concurrency,
        max_requests=preset.http_requests,
        max_seconds=preset.http_max_seconds,
        warmup=preset.http_warmup,
    )
    if not measured.latencies_ns:
        raise RuntimeError(f"no HTTP request to {path} completed")
    latency = summarize(measured.latencies_ns)
    return {
        "concurrency": concurrency,
        "errors": measured.errors,
        "rps": len(measured.latencies_ns) / measured.elapsed_s,
        "requests": latency.count,
        "p50_us": latency.p50_us,
        "p99_us": latency.p99_us,
    }


def bench_cold(
    preset: Preset, python: Path, lean: bool, root: Path, model: str, work: Path
) -> dict[str, Any]:
    from scripts.bench.workload import predict_event
    from scripts.lambda_inputs import recorded_http_api_event

    event_path = work / "cold-event.json"
    event_path.write_text(
        json.dumps(predict_event(recorded_http_api_event(), model, predict_body(request_row())))
    )
    runs = cold.measure(
        python,
        root,
        event_path,
        work,
        runs=preset.cold_runs,
        max_seconds=preset.cold_max_seconds,
        warm_up=preset.cold_warm_up,
    )
    note = (
        "lean: the runtime dependencies and the server extra only, no scikit-learn or pandas"
        if lean
        else "the project venv, which has scikit-learn: both sides import it through xgboost"
    )
    return {
        "imports": cold.imports_beyond(python, root, event_path, work)
        if preset.cold_warm_up
        else [],
        "python": shown_path(python),
        "lean": lean,
        "env_note": note,
        "model": model,
        "runs": {name: dataclasses.asdict(item) for name, item in runs.items()},
    }


def versions(python: Path) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {'python': sys.version.split()[0]}\n"
        f"for name in {VERSIONS_OF!r}:\n"
        "    try: out[name] = m.version(name)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))"
    )
    output = subprocess.run(
        [str(python), "-c", code], check=True, capture_output=True, text=True, cwd="/"
    ).stdout
    found: dict[str, str] = json.loads(output)
    return found


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_state() -> tuple[str, str]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = " (router/ had uncommitted changes)" if git("status", "--porcelain", "router") else ""
    return commit, dirty


def shown_path(path: Path | str) -> str:
    """A path as the report shows it: relative to the repository when inside it, so that
    the report reads the same from any clone; else as given (a system interpreter)."""
    absolute = Path(path).absolute()
    return str(absolute.relative_to(REPO)) if absolute.is_relative_to(REPO) else str(path)


def command_line(argv: list[str]) -> str:
    """The command that made the report, with paths inside the repository relative to it
    and paths outside it (a work folder in /tmp, say) as ``<...>``."""
    script = Path(__file__).resolve()
    shown = []
    for arg in argv:
        if arg.startswith("/") or arg.startswith("."):
            relative = shown_path(arg)
            shown.append(relative if not relative.startswith("/") else "<" + Path(arg).name + ">")
        else:
            shown.append(arg)
    return shlex.join([shown_path(sys.executable), str(script.relative_to(REPO)), *shown])


def _sections(value: str) -> tuple[str, ...]:
    chosen = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(SECTIONS)}; not {unknown}")
    return tuple(section for section in SECTIONS if section in chosen)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts, for the smoke test")
    parser.add_argument(
        "--baseline",
        action="append",
        default=[],
        metavar="REV",
        help="also time the handler of the router at this git revision (its own venv, made "
        "on first use), for before/after figures from one run; repeatable",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="Markdown report to write (default: docs/benchmarks.md; none with --only)",
    )
    parser.add_argument(
        "--only",
        type=_sections,
        default=SECTIONS,
        metavar="SECTION[,...]",
        help=f"run only these of {', '.join(SECTIONS)}, e.g. to try a change to router/",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "model-router-bench",
        help="models, logs and bytecode caches; reused between runs",
    )
    parser.add_argument(
        "--cold-env",
        choices=("lean", "project"),
        help="interpreter for cold start: the lean .venv-bench (default) or this one "
        "(default with --quick, which must not spend half a minute on pip)",
    )
    parser.add_argument(
        "--lean-venv", type=Path, default=REPO / ".venv-bench", help="where the lean venv lives"
    )
    parser.add_argument(
        "--peers",
        action="store_true",
        help="also serve the 50-tree model with MLServer (its own venv, made on first use)",
    )
    parser.add_argument(
        "--peers-venv", type=Path, default=REPO / ".venv-peers", help="where MLServer's venv lives"
    )
    parser.add_argument("--json", type=Path, help="also write the raw results as JSON")
    return parser.parse_args(argv)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # so that `finally` blocks stop the server


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    preset = QUICK if args.quick else FULL
    only = args.only
    output = args.output
    if output is None and only == SECTIONS:
        output = REPO / "docs" / "benchmarks.md"
    cold_env = args.cold_env or ("project" if args.quick else "lean")
    started = time.monotonic()
    work = args.work_dir / ("quick" if args.quick else "full")
    work.mkdir(parents=True, exist_ok=True)
    load_before = " / ".join(f"{value:.2f}" for value in os.getloadavg())

    log(f"training models into {work} (reused when present)")
    size_root = work / "models"
    size_names = [spec.name for spec in size_models(preset.trees)]
    ensure_models(size_root, size_models(preset.trees))
    zipf_root = work / "zipf-models"
    zipf_names = [spec.name for spec in zipf_models(preset.zipf_models, preset.zipf_trees)]
    if "zipf" in only:
        ensure_models(zipf_root, zipf_models(preset.zipf_models, preset.zipf_trees))

    cold_python = Path(sys.executable)
    if "cold" in only and cold_env == "lean":
        log(f"lean environment {args.lean_venv} (made or refreshed when needed)")
        cold_python = cold.ensure_lean_env(args.lean_venv, work / "lean-venv.log")

    sections: dict[str, Any] = dict.fromkeys(SECTIONS)
    if "handler" in only:
        log("handler in-process vs raw inplace_predict")
        sections["handler"] = bench_handler(preset, size_root, size_names, work)
        sections["baselines"] = []
        for revision in args.baseline:
            log(f"the same at {revision} (its files and venv made when needed)")
            against = baseline.prepare(revision, work, work / "baseline-venv.log")
            measured = bench_handler(preset, size_root, size_names, work, against)
            sections["baselines"].append(measured)
    if "v2" in only:
        log("native predict body vs V2 JSON and binary bodies through the handler")
        sections["v2"] = bench_v2(preset, size_root, size_names, work)
    if "miss" in only:
        log("cache miss: the router's load against Booster(model_file=...)")
        sections["miss"] = bench_miss(preset, size_root, size_names, work)
    if "zipf" in only:
        log("Zipf workload")
        sections["zipf"] = bench_zipf(preset, zipf_root, zipf_names, work)
    if "http" in only:
        peer_venv = None
        if args.peers:
            log(f"MLServer environment {shown_path(args.peers_venv)} (made when needed)")
            peers.ensure_peer_env(args.peers_venv, work / "peers-venv.log")
            peer_venv = args.peers_venv
        log("HTTP through uvicorn" + (" and MLServer" if peer_venv else ""))
        sections["http"] = bench_http(preset, size_root, size_names, work, peer_venv)
    if "cold" in only:
        log(f"cold start with {cold_python}")
        sections["cold"] = bench_cold(
            preset, cold_python, cold_env == "lean", size_root, size_names[0], work
        )

    commit, dirty = git_state()
    environments = [
        {
            "name": "project venv",
            "python": shown_path(sys.executable),
            "used_for": "training, in-process sections, HTTP"
            + (", cold start" if cold_env == "project" else ""),
            "versions": versions(Path(sys.executable)),
        }
    ]
    if "cold" in only and cold_env == "lean":
        environments.append(
            {
                "name": "lean venv",
                "python": shown_path(cold_python),
                "used_for": "cold start",
                "versions": versions(cold_python),
            }
        )
    if sections["http"] is not None and args.peers:
        environments.append(
            {
                "name": "peers venv",
                "python": shown_path(args.peers_venv / "bin" / "python"),
                "used_for": "MLServer",
                "versions": versions(args.peers_venv / "bin" / "python"),
            }
        )
    results = {
        "meta": {
            "command": command_line(argv),
            "date": time.strftime("%Y-%m-%d %H:%M %Z"),
            "cpu": cpu_name(),
            "cores": os.cpu_count(),
            "load_before": load_before,
            "load_after": " / ".join(f"{value:.2f}" for value in os.getloadavg()),
            "duration_s": time.monotonic() - started,
            "commit": commit,
            "dirty": dirty,
            "quick": args.quick,
            "preset": preset.describe(),
            "environments": environments,
        },
        **sections,
    }
    markdown = report.render(results)
    print(markdown)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        batch = report.carried_batch_section(output.read_text()) if output.exists() else None
        output.write_text(report.replace_between(markdown, batch) if batch else markdown)
        log(f"wrote {output}")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1))
    log(f"done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
