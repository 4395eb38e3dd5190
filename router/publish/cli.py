"""``model-router publish | versions | rollback``: the publishing commands.

Each works on a model root (``--model-root``, default ``$ROUTER_MODEL_ROOT`` or
``./model-store``: a local folder or a mounted EFS) or on the S3 inbox (``--bucket``).
Failures raise ``RouterError``s, which ``router.cli.main`` prints as ``error: ...`` with exit
status 1; bad arguments exit with status 2, as argparse does. Heavy imports (XGBoost, boto3)
happen inside the commands, so ``model-router --help`` and ``serve`` do not pay for them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from router.cli_options import add_bucket, add_model_root, count, seconds
from router.errors import InvalidModelFile, InvalidModelName
from router.publish.errors import ModelFileUnreadable
from router.publish.targets import BucketTarget, FolderTarget, PublishTarget, VersionArgumentError
from router.settings import Settings
from router.store import METADATA_FILE, validate_name

if TYPE_CHECKING:
    from collections.abc import Iterator

    from router.publish.validate import ValidatedModel

DEFAULT_LIMIT = 20


def add_publish_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``publish``, ``versions`` and ``rollback`` on ``model-router``'s commands."""
    publish = commands.add_parser(
        "publish",
        help="validate a model and publish it to a folder or the S3 inbox",
        description="Validate an XGBoost model (JSON or UBJ) as the router will load it, then "
        "publish it as one UBJ file with its metadata inside: atomically into a folder "
        "(--model-root), or by uploading it to the inbox bucket (--bucket), whose function "
        "validates it again and writes it onto EFS.",
    )
    publish.add_argument("file", type=Path, metavar="FILE", help="the model file (.ubj or .json)")
    publish.add_argument("--name", required=True, type=_model_name, help="the model's name")
    metadata = publish.add_mutually_exclusive_group()
    metadata.add_argument(
        "--metadata",
        type=Path,
        metavar="FILE",
        help="a metadata.json to embed in the model (default: the metadata inside FILE, "
        "else the live version's, so class labels survive a retrain)",
    )
    metadata.add_argument(
        "--drop-metadata",
        action="store_true",
        help="publish without metadata, even if the live version has some",
    )
    _add_target(publish)
    _add_wait(publish)
    publish.set_defaults(run=publish_command, usage_error=publish.error)

    versions = commands.add_parser(
        "versions",
        help="list a model's published versions",
        description="List a model's versions, newest first: the history folder of a model "
        "root, or the object versions in the inbox bucket with the inbox's verdict on each.",
    )
    versions.add_argument("name", type=_model_name, metavar="NAME")
    _add_target(versions)
    versions.add_argument(
        "--limit",
        type=count(1),
        default=DEFAULT_LIMIT,
        help=f"show at most this many versions (default {DEFAULT_LIMIT})",
    )
    versions.set_defaults(run=versions_command, usage_error=versions.error)

    rollback_parser = commands.add_parser(
        "rollback",
        help="republish an earlier version of a model",
        description="Republish an earlier version through the same validation as a new one: "
        "by default the newest version before the live one with different content.",
    )
    rollback_parser.add_argument("name", type=_model_name, metavar="NAME")
    _add_target(rollback_parser)
    rollback_parser.add_argument(
        "--to",
        metavar="VERSION",
        help="the version to bring back: a number for a folder, a version id for a bucket",
    )
    _add_wait(rollback_parser)
    rollback_parser.set_defaults(run=rollback_command, usage_error=rollback_parser.error)


def _add_target(parser: argparse.ArgumentParser) -> None:
    target = parser.add_mutually_exclusive_group()
    add_model_root(target)
    add_bucket(target, "the S3 inbox bucket (credentials as for the AWS CLI)")


def _add_wait(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait",
        type=seconds(zero=True),
        default=0,
        metavar="SECONDS",
        help="with --bucket: wait up to this long for the inbox's verdict (default: don't)",
    )


def _model_name(value: str) -> str:
    try:
        return validate_name(value)
    except InvalidModelName as exc:
        raise argparse.ArgumentTypeError(exc.detail) from exc


# -- the commands ----------------------------------------------------------------------------


def publish_command(args: argparse.Namespace) -> int:
    target = _target(args)
    model = _validate_file(args.file, args.metadata, drop=args.drop_metadata)
    _echo(f"validated {args.file}: {model.describe()}")
    _echo_all(target.publish(args.name, model))
    return 0


def versions_command(args: argparse.Namespace) -> int:
    _echo_all(_target(args).versions(args.name, args.limit))
    return 0


def rollback_command(args: argparse.Namespace) -> int:
    target = _target(args)
    try:
        _echo_all(target.rollback(args.name, args.to))
    except VersionArgumentError as exc:
        args.usage_error(str(exc))
    return 0


def _target(args: argparse.Namespace) -> PublishTarget:
    """Where the command publishes: the inbox bucket, or else a model root."""
    wait_s: float = getattr(args, "wait", 0)
    if args.bucket is not None:
        return BucketTarget(args.bucket, wait_s=wait_s)
    if wait_s:
        args.usage_error("--wait needs --bucket")
    settings = Settings()
    root = Path(args.model_root) if args.model_root is not None else settings.model_root
    return FolderTarget(root, history_limit=settings.history_limit)


def _validate_file(path: Path, metadata_path: Path | None, *, drop: bool = False) -> ValidatedModel:
    from router.publish.validate import validate_model

    data = _read(path, "model file")
    metadata = _read(metadata_path, "metadata file") if metadata_path else None
    if drop:
        metadata = b"{}"  # embedded as the model's (empty) own: nothing is kept either
    if metadata_path is None and not drop and (path.parent / METADATA_FILE).is_file():
        _echo(
            f"note: {path.parent / METADATA_FILE} is not published; pass --metadata to embed it",
            stream=sys.stderr,
        )
    try:
        name = str(metadata_path) if metadata_path and not drop else METADATA_FILE
        return validate_model(data, metadata=metadata, prefer="given", metadata_name=name)
    except InvalidModelFile as exc:
        raise InvalidModelFile(f"{path} cannot be published: {exc.detail}") from exc


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ModelFileUnreadable(f"cannot read {what} {path}: {exc.strerror}") from exc


def _echo(line: str, *, stream: TextIO | None = None) -> None:
    """The commands' one way to talk to the user: stdout, or ``stream``."""
    print(line, file=stream or sys.stdout)


def _echo_all(lines: Iterator[str]) -> None:
    for line in lines:
        _echo(line)
