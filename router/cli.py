"""``model-router``: serve a folder of models, train the demo models, list a store, and
publish, list versions of and roll back models."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys

from pydantic import ValidationError

from router.batch.cli import add_batch_command
from router.cli_options import add_bucket, add_model_root, port, seconds
from router.client_cli import add_client_commands
from router.errors import RouterError
from router.publish.cli import add_publish_commands
from router.settings import ENV_PREFIX, Settings


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {"model_root": args.model_root} if args.model_root is not None else {}
    return Settings(**overrides)


KEEP_ALIVE_S = 5


def serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    # Before XGBoost is imported: OpenMP sizes its thread team once, from OMP_NUM_THREADS or
    # else all cores, and a team wider than nthread makes every model load several times
    # slower (docs/benchmarks.md). It also caps XGBoost's threads, so follow nthread.
    os.environ.setdefault("OMP_NUM_THREADS", str(settings.nthread))
    import uvicorn

    from router.api.app import create_app
    from router.api.http_protocol import ProblemHttpToolsProtocol
    from router.examples import example_calls
    from router.observability import configure_logging
    from router.registry.registry import ModelRegistry

    configure_logging(settings)
    registry = ModelRegistry.from_settings(settings)
    registry.store.check()
    registry.preload(settings.preload)
    base_url = f"http://{args.host}:{args.port}"
    print(f"Serving models from {settings.model_root.resolve()} on {base_url}")
    print(f"API docs: {base_url}/docs\nTry:")
    for call in example_calls(registry.store, base_url):
        print(f"  {call}")
    sys.stdout.flush()
    # What start-up made (the imports, the app, preloaded models) lives as long as the
    # server: frozen, it is left out of the collector's full passes, each of which would
    # otherwise scan all of it again between two requests. The Lambda entry does the same
    # at the end of its init.
    gc.freeze()
    uvicorn.run(
        create_app(settings, registry),
        host=args.host,
        port=args.port,
        log_level=settings.log_level.lower(),
        # The server extra's C parser (httptools, answering what it cannot parse with a
        # problem body), and its uvloop event loop wherever uvloop installs.
        loop="auto",
        http=ProblemHttpToolsProtocol,
        # The predict path answers from the event loop; one worker per process keeps the
        # cache in one place. Scale out with processes behind a balancer, or on Lambda.
        workers=None,
        # Idle connections close after this; a body that stalls gets a 408 after
        # ROUTER_BODY_TIMEOUT_S. uvicorn has no timeout for headers that never finish:
        # open to untrusted clients, run behind a proxy (README, "API").
        timeout_keep_alive=KEEP_ALIVE_S,
        # The router writes its own line per prediction (ROUTER_REQUEST_LOG_SAMPLE); uvicorn's
        # line per request on top cost a sizeable share of a one-row predict's req/s
        # (docs/benchmarks.md), so it is there only when asked for.
        access_log=args.access_log,
    )
    return 0


def demo(args: argparse.Namespace) -> int:
    try:
        from models.demo import train_demo_models
    except ImportError as exc:
        print(
            f"error: the demo training code is not available ({exc}). It lives in the "
            "repository's models/ folder and needs the demo extra: pip install -e '.[demo]'",
            file=sys.stderr,
        )
        return 2
    if args.bucket is not None:
        from router.client_cli import demo_to_bucket

        return demo_to_bucket(args.bucket, args.wait)
    if args.wait:
        print("error: --wait needs --bucket", file=sys.stderr)
        return 2
    root = _settings(args).model_root
    root.mkdir(parents=True, exist_ok=True)
    print(f"Training demo models into {root.resolve()}")
    written = train_demo_models(root)
    for spec, path, _ in written:
        print(f"  {spec.name:14} {path}")
    # No calls here: only `serve` knows its host and port, and it prints them.
    print(f"\nServe them with: model-router serve --model-root {root}")
    return 0


def list_models(args: argparse.Namespace) -> int:
    from router.store import ModelStore

    store = ModelStore(_settings(args).model_root)
    refs = store.list()
    if not refs:
        print(f"no models in {store.root}")
        return 0
    width = max(len(ref.name) for ref in refs)
    for ref in refs:
        print(f"{ref.name:{width}}  {ref.format:4}  {ref.layout:9}  {ref.fingerprint.size:>10} B")
    return 0


def build_parser() -> argparse.ArgumentParser:
    # The docstring is reST; --help shows it as plain text.
    description = (__doc__ or "").replace("``", "")
    parser = argparse.ArgumentParser(prog="model-router", description=description)
    commands = parser.add_subparsers(dest="command", required=True)

    serve_parser = commands.add_parser("serve", help="serve the models in a folder over HTTP")
    add_model_root(serve_parser)
    serve_parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    serve_parser.add_argument(
        "--port",
        type=port,
        # A string, which argparse converts with the type only when serve is run without
        # --port: a bad $PORT is serve's usage error, not a traceback of every command.
        default=os.environ.get("PORT", "8000"),
        help="port to listen on (default: $PORT if set, else 8000; now %(default)s)",
    )
    serve_parser.add_argument(
        "--access-log",
        action="store_true",
        help="also log every request, as uvicorn does (predictions are logged without it)",
    )
    serve_parser.set_defaults(run=serve)

    demo_parser = commands.add_parser(
        "demo", help="train the demo models into a folder, or publish them through the inbox"
    )
    demo_target = demo_parser.add_mutually_exclusive_group()
    add_model_root(demo_target)
    add_bucket(demo_target, "upload them to this S3 inbox bucket instead")
    demo_parser.add_argument(
        "--wait",
        type=seconds(zero=True),
        default=0,
        metavar="SECONDS",
        help="with --bucket: for verdicts",
    )
    demo_parser.set_defaults(run=demo)

    list_parser = commands.add_parser("list", help="list the models in a folder")
    add_model_root(list_parser)
    list_parser.set_defaults(run=list_models)

    add_publish_commands(commands)
    add_client_commands(commands)
    add_batch_command(commands)
    return parser


class CommandLineFormatter(logging.Formatter):
    """A log record as the commands print their own errors (``warning: ...``), with the
    facts the router's records carry in their extras; the JSON logs of ``serve`` and
    Lambda are configured elsewhere."""

    FACTS = ("model", "version", "error")

    def format(self, record: logging.LogRecord) -> str:
        facts = [
            f"{key} {value!r}" if key != "error" else str(value)
            for key in self.FACTS
            if (value := getattr(record, key, None)) is not None
        ]
        line = f"{record.levelname.lower()}: {record.getMessage()}"
        return f"{line} ({'; '.join(facts)})" if facts else line


# The registry's logger, named rather than imported: importing the registry loads XGBoost,
# which no command that does not load a model should wait for.
REGISTRY_LOGGER = "router.registry.registry"


def raised_load_failure(record: logging.LogRecord) -> bool:
    """The registry's record of a load that failed with no version left to serve (its
    ``serving`` is None): that error is raised to the command, which prints the same detail
    as its own last line, so the record would only say it twice."""
    return record.name == REGISTRY_LOGGER and getattr(record, "serving", False) is None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(CommandLineFormatter())
    handler.addFilter(lambda record: not raised_load_failure(record))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    try:
        code: int = args.run(args)
    except RouterError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 1
    except ValidationError as exc:
        if exc.title != Settings.__name__:
            raise
        prefix = ENV_PREFIX
        for problem in exc.errors():
            name = "_".join(str(part) for part in problem["loc"]).upper()
            print(f"error: {prefix}{name}: {problem['msg']}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`model-router versions m | head -1`): as other command-line
        # tools do, stop quietly; what is left to flush at exit goes nowhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
