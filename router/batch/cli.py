"""``model-router batch``: predict a file of rows, locally or as a job on AWS.

``INPUT`` is a local file (predicted here, into ``--output``) or ``s3://bucket/batch/<model>/
<job>.csv`` (predicted by the batch state machine; this waits for it and prints where the
results are). Failures raise ``RouterError``s, printed by ``router.cli.main``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from router.batch.errors import BatchError
from router.batch.outputs import OUTPUT_COLUMNS
from router.cli_options import add_model_root, count, seconds
from router.settings import Settings
from router.store import validate_name

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from router.batch.manifest import Manifest
    from router.xgb.outputs import Output

DEFAULT_OUTPUTS = "value,margin"
DEFAULT_TIMEOUT_S = 3600.0


def add_batch_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "batch",
        help="predict every row of a CSV or JSON Lines file, locally or on AWS",
        description="Predict every row of INPUT (CSV with a header, or JSON Lines) with one "
        "version of a model. Writes predictions in the input's format (columns that are not "
        "features pass through), a rejects file with the reason for each refused row, and a "
        "manifest. INPUT may be s3://<batch bucket>/batch/<model>/<job>.csv: then the batch "
        "state machine predicts it on AWS and this waits for it.",
    )
    parser.add_argument("input", metavar="INPUT", help="a local file, or s3://bucket/batch/...")
    parser.add_argument("--model", required=True, type=validate_name, help="the model's name")
    parser.add_argument("--output", type=Path, help="the predictions file (local input only)")
    add_model_root(parser, note="local input only")
    parser.add_argument(
        "--outputs",
        default=DEFAULT_OUTPUTS,
        help=f"comma-separated, among {', '.join(OUTPUT_COLUMNS)} (default {DEFAULT_OUTPUTS})",
    )
    parser.add_argument(
        "--rows-per-part",
        type=_setting_count("batch_rows_per_part"),
        help="default $ROUTER_BATCH_ROWS_PER_PART",
    )
    parser.add_argument(
        "--bytes-per-part",
        type=_setting_count("batch_bytes_per_part"),
        help="default $ROUTER_BATCH_BYTES_PER_PART",
    )
    parser.add_argument(
        "--parallelism",
        type=_setting_count("batch_parallelism"),
        help="default $ROUTER_BATCH_PARALLELISM",
    )
    parser.add_argument(
        "--state-machine", help="ARN (s3:// input; default $ROUTER_BATCH_STATE_MACHINE_ARN)"
    )
    parser.add_argument(
        "--timeout",
        type=seconds(zero=True),
        default=DEFAULT_TIMEOUT_S,
        help=f"seconds to wait for an AWS job (default {DEFAULT_TIMEOUT_S:g}); 0: do not wait",
    )
    parser.add_argument(
        "--poll-seconds",
        type=seconds(zero=False),
        default=5.0,
        help="seconds between status checks (AWS)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=batch_command, usage_error=parser.error)


def _setting_count(field: str) -> Callable[[str], int]:
    """The argparse type of an option that overrides a count setting, bounded as the setting
    is: out of range, a usage error naming the option, not the setting's environment
    variable."""
    bounds = {
        bound: getattr(rule, bound)
        for rule in Settings.model_fields[field].metadata
        for bound in ("ge", "le")
        if hasattr(rule, bound)
    }
    return count(bounds["ge"], bounds.get("le"))


def batch_command(args: argparse.Namespace) -> int:
    outputs = _outputs(args)
    overrides: dict[str, Any] = {
        field: value
        for field, value in (
            ("model_root", args.model_root),
            ("batch_rows_per_part", args.rows_per_part),
            ("batch_bytes_per_part", args.bytes_per_part),
            ("batch_parallelism", args.parallelism),
            ("batch_state_machine_arn", args.state_machine),
        )
        if value is not None
    }
    settings = Settings(**overrides)
    if args.input.startswith("s3://"):
        return _remote(args, settings, outputs)
    if args.output is None:
        args.usage_error("--output is required for a local INPUT")
    return _local(args, settings, outputs)


def _outputs(args: argparse.Namespace) -> list[Output]:
    names = [name.strip() for name in args.outputs.split(",") if name.strip()]
    unknown = [name for name in names if name not in OUTPUT_COLUMNS]
    if unknown or not names:
        args.usage_error(f"--outputs: choose among {', '.join(OUTPUT_COLUMNS)}")
    return list(dict.fromkeys(names))


def _local(args: argparse.Namespace, settings: Settings, outputs: list[Output]) -> int:
    from router.batch.job import JobLimits, run_job
    from router.registry.registry import ModelRegistry

    input_path = Path(args.input)
    _check_paths(input_path, args.output)
    registry = ModelRegistry.from_settings(settings)
    bar = None if args.no_progress else _bar(input_path.stat().st_size)
    last = [0]

    def progress(rows: int, read: int) -> None:
        if bar is not None:
            bar.update(read - last[0])
            bar.set_postfix(rows=rows, refresh=False)
            last[0] = read

    try:
        manifest = run_job(
            input_path,
            args.output,
            args.model,
            registry,
            JobLimits.from_settings(settings),
            outputs=outputs,
            progress=progress,
        )
    except OSError as exc:  # a full disk, a folder it may not write in: one line, no trace
        where = exc.filename or args.output
        raise BatchError(f"cannot read or write {where}: {exc.strerror or exc}") from exc
    finally:
        if bar is not None:
            bar.close()
    _report(manifest)
    return 0


def _check_paths(input_path: Path, output: Path) -> None:
    """Refuses the files a job could never run with, before the progress bar or any file:
    ``run_job`` refuses them too, but as a job that failed, with a manifest written beside
    the output, and a job that never ran needs none."""
    from router.batch.job import check_job_files

    if not input_path.is_file():
        raise BatchError(f"no such file: {input_path}")
    check_job_files(input_path, output)


def _bar(total: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, desc="batch", file=sys.stderr)


def _report(manifest: Manifest) -> None:
    print(
        f"{manifest.rows_out} of {manifest.rows_in} rows predicted with {manifest.model} "
        f"version {manifest.version} in {manifest.seconds} s; {manifest.rows_refused} refused"
    )
    print(f"predictions: {manifest.predictions}")
    print(f"rejects:     {manifest.rejects}")


def _remote(args: argparse.Namespace, settings: Settings, outputs: list[Output]) -> int:
    import boto3

    from router.batch.remote import start_job, wait_for

    arn = settings.batch_state_machine_arn
    if not arn:
        args.usage_error(
            "an s3:// INPUT needs --state-machine or $ROUTER_BATCH_STATE_MACHINE_ARN "
            "(terraform output batch_state_machine_arn)"
        )
        return 2
    sfn, s3 = _clients(boto3, arn)
    job = start_job(sfn, arn, args.input, args.model, outputs)
    print(f"started {job.execution_arn}")
    print(f"results: {job.location}")
    if args.timeout <= 0:
        return 0
    bar = None if args.no_progress else _rows_bar()

    def progress(done: int, total: int | None) -> None:
        if bar is not None:
            bar.total = total
            bar.n = done
            bar.refresh()

    try:
        outcome = wait_for(
            sfn,
            s3,
            job,
            timeout_s=args.timeout,
            poll_s=args.poll_seconds,
            progress=progress,
        )
    finally:
        if bar is not None:
            bar.close()
    if outcome.status == "RUNNING":
        print(f"still running after {args.timeout:g} s; results will be at {job.location}")
        return 1
    manifest = outcome.manifest or {}
    if outcome.status != "SUCCEEDED" or manifest.get("status") != "succeeded":
        reason = manifest.get("error") or f"the execution ended {outcome.status}"
        raise BatchError(f"{reason}; manifest: {job.location}manifest.json")
    print(
        f"{manifest['rows_out']} of {manifest['rows_in']} rows predicted with {args.model} "
        f"version {manifest['version']}; {manifest['rows_refused']} refused"
    )
    print(f"predictions: {manifest['predictions']}")
    print(f"rejects:     {manifest['rejects']}")
    return 0


def _clients(boto3: Any, state_machine_arn: str) -> tuple[Any, Any]:
    """Step Functions and S3 clients in the state machine's region, which its ARN names
    (arn:aws:states:REGION:ACCOUNT:stateMachine:NAME): no region to configure, and none
    that could differ from the machine's."""
    from botocore.exceptions import BotoCoreError

    from router.aws_config import bounded_config, explain

    parts = state_machine_arn.split(":")
    if len(parts) < 7 or parts[2] != "states" or not parts[3]:
        raise BatchError(
            f"{state_machine_arn[:200]!r} is not a state machine ARN "
            "(arn:aws:states:REGION:ACCOUNT:stateMachine:NAME; terraform output "
            "batch_state_machine_arn)"
        )
    try:
        session = boto3.Session(region_name=parts[3])
        config = bounded_config()
        return (
            session.client("stepfunctions", config=config),
            session.client("s3", config=config),
        )
    except BotoCoreError as exc:  # e.g. AWS_PROFILE names no profile
        raise BatchError(f"cannot use the AWS configuration: {explain(exc)}") from exc


def _rows_bar() -> Any:
    from tqdm import tqdm

    return tqdm(total=None, unit="rows", desc="batch", file=sys.stderr)
