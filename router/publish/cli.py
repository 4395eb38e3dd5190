"""``model-router publish | versions | rollback``: the publishing commands.

Each works on a model root (``--model-root``, default ``$ROUTER_MODEL_ROOT`` or
``./model-store``: a local folder or a mounted EFS) or on the S3 inbox (``--bucket``).
Failures raise ``RouterError``s, which ``router.cli.main`` prints as ``error: ...`` with exit
status 1; bad arguments exit with status 2, as argparse does. Heavy imports (XGBoost, boto3)
happen inside the commands, so ``model-router --help`` and ``serve`` do not pay for them.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from router.errors import InvalidModelFile, InvalidModelName, ModelNotFound
from router.publish.errors import ModelFileUnreadable, PublishError
from router.settings import Settings
from router.store import METADATA_FILE, ModelStore, validate_name

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_s3 import S3Client

    from router.publish.local import LocalVersion, ModelFolder
    from router.publish.s3 import BucketVersion
    from router.publish.validate import ValidatedModel

DEFAULT_LIMIT = 20
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


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
    publish.add_argument(
        "--metadata", type=Path, metavar="FILE", help="a metadata.json to embed in the model"
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
        type=int,
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
    target.add_argument(
        "--model-root",
        type=Path,
        metavar="DIR",
        help="a model folder or mounted EFS (default: $ROUTER_MODEL_ROOT, else ./model-store)",
    )
    target.add_argument("--bucket", help="the S3 inbox bucket (credentials as for the AWS CLI)")


def _add_wait(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait",
        type=float,
        default=0,
        metavar="SECONDS",
        help="with --bucket: wait up to this long for the inbox's verdict (default: don't)",
    )


def _model_name(value: str) -> str:
    try:
        return validate_name(value)
    except InvalidModelName as exc:
        raise argparse.ArgumentTypeError(exc.detail) from exc


# -- publish ---------------------------------------------------------------------------------


def publish_command(args: argparse.Namespace) -> int:
    if args.wait and args.bucket is None:
        args.usage_error("--wait needs --bucket")
    model = _validate_file(args.file, args.metadata)
    _echo(f"validated {args.file}: {model.describe()}")
    if args.bucket is not None:
        return _publish_to_bucket(args, model)
    root = _model_root(args)
    with _writing_to(root), _folder(root, args.name) as folder:
        result = folder.publish(model.data)
    version = result.version
    if result.changed:
        _echo(f"published {args.name} as version {version.number}: {folder.live_path}")
    else:
        _echo(f"{args.name}: this exact model is live already (version {version.number})")
    return 0


def _publish_to_bucket(args: argparse.Namespace, model: ValidatedModel) -> int:
    from router.publish.s3 import s3_client, upload

    s3 = s3_client()
    key, version_id = upload(s3, args.bucket, args.name, model)
    _echo(f"uploaded s3://{args.bucket}/{key}")
    _echo(f"version: {version_id or 'none (the bucket is not versioned)'}")
    _report_verdict(args, s3, key, version_id)
    return 0


def _validate_file(path: Path, metadata_path: Path | None) -> ValidatedModel:
    from router.publish.validate import validate_model

    data = _read(path, "model file")
    metadata = _read(metadata_path, "metadata file") if metadata_path else None
    if metadata_path is None and (path.parent / METADATA_FILE).is_file():
        _echo(
            f"note: {path.parent / METADATA_FILE} is not published; pass --metadata to embed it",
            stream=sys.stderr,
        )
    try:
        return validate_model(data, metadata=metadata, prefer="given")
    except InvalidModelFile as exc:
        raise InvalidModelFile(f"{path} cannot be published: {exc.detail}") from exc


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ModelFileUnreadable(f"cannot read {what} {path}: {exc.strerror}") from exc


# -- versions --------------------------------------------------------------------------------


def versions_command(args: argparse.Namespace) -> int:
    if args.limit < 1:
        args.usage_error("--limit must be at least 1")
    if args.bucket is not None:
        return _bucket_versions(args)
    from router.publish.local import list_versions

    root = _model_root(args)
    versions = list_versions(root, args.name)
    if not versions:
        ModelStore(root).check()  # a missing root says so, rather than "no versions"
        raise ModelNotFound(f"{args.name!r} has no published versions in {root}")
    _echo(f"{'version':>7}  {'published (UTC)':19}  {'size':>10}  sha256")
    for version in versions[: args.limit]:
        _echo(_local_row(version))
    _more(len(versions), args.limit)
    return 0


def _local_row(version: LocalVersion) -> str:
    from router.publish.validate import human_size

    return (
        f"{version.number:>7}  {version.published_at.strftime(TIME_FORMAT)}  "
        f"{human_size(version.size):>10}  {version.sha256[:12]}"
        + ("  live" if version.live else "")
    )


def _bucket_versions(args: argparse.Namespace) -> int:
    from router.publish.s3 import list_versions as bucket_versions
    from router.publish.s3 import s3_client

    versions = bucket_versions(s3_client(), args.bucket, args.name, limit=args.limit)
    if not versions:
        raise ModelNotFound(f"no versions of {args.name!r} in s3://{args.bucket}/models/")
    show_file = len({version.key for version in versions}) > 1
    width = max(len(version.version_id) for version in versions)
    header = f"{'version id':{width}}  {'uploaded (UTC)':19}  {'size':>10}  "
    _echo(header + ("file  " if show_file else "") + "status")
    for version in versions[: args.limit]:
        _echo(_bucket_row(version, width, show_file))
    _more(len(versions), args.limit)
    return 0


def _bucket_row(version: BucketVersion, width: int, show_file: bool) -> str:
    from router.publish.validate import human_size

    if version.deleted:
        size, status = "-", "deleted"
    else:
        size = human_size(version.size)
        status = version.status or "not handled yet"
        if version.live:
            status += " (live)"
        if version.reason:
            status += f": {version.reason}"
    row = f"{version.version_id:{width}}  {version.last_modified.strftime(TIME_FORMAT)}  "
    row += f"{size:>10}  " + (f"{version.file}  " if show_file else "")
    return row + status


def _more(total: int, limit: int) -> None:
    if total > limit:
        _echo(f"... and {total - limit} older (--limit)")


# -- rollback --------------------------------------------------------------------------------


def rollback_command(args: argparse.Namespace) -> int:
    if args.wait and args.bucket is None:
        args.usage_error("--wait needs --bucket")
    if args.bucket is not None:
        return _bucket_rollback(args)
    to = None
    if args.to is not None:
        if not args.to.isdigit():
            args.usage_error(f"--to {args.to}: a folder's versions are numbers")
        to = int(args.to)
    from router.publish.local import rollback

    root = _model_root(args)
    with _writing_to(root), _folder(root, args.name) as folder:
        result = rollback(folder, to)
    number = result.target.number
    if result.published.changed:
        _echo(
            f"rolled {args.name} back to version {number}: "
            f"live as version {result.published.version.number}"
        )
    else:
        _echo(f"{args.name}: version {number} is live already")
    return 0


def _bucket_rollback(args: argparse.Namespace) -> int:
    from router.publish.s3 import rollback as bucket_rollback
    from router.publish.s3 import s3_client

    s3 = s3_client()
    result = bucket_rollback(s3, args.bucket, args.name, args.to)
    target = result.target
    _echo(
        f"validated version {target.version_id} of {target.key} "
        f"({target.last_modified.strftime(TIME_FORMAT)}): {result.validated.describe()}"
    )
    _echo(f"copied it to s3://{args.bucket}/{result.key} as the newest version")
    _echo(f"version: {result.version_id}")
    _report_verdict(args, s3, result.key, result.version_id)
    return 0


# -- shared ----------------------------------------------------------------------------------


def _report_verdict(
    args: argparse.Namespace, s3: S3Client, key: str, version_id: str | None
) -> None:
    if not args.wait:
        _echo(
            "the inbox validates it again and publishes it within seconds; check with: "
            f"model-router versions {args.name} --bucket {args.bucket}"
        )
        return
    from router.publish.s3 import wait_for_verdict

    status = wait_for_verdict(s3, args.bucket, key, version_id, timeout_s=args.wait)
    _echo(f"the inbox says: {status}")


def _echo(line: str, *, stream: TextIO | None = None) -> None:
    """The commands' one way to talk to the user: stdout, or ``stream``."""
    print(line, file=stream or sys.stdout)


def _model_root(args: argparse.Namespace) -> Path:
    if args.model_root is not None:
        return Path(args.model_root)
    return Settings().model_root


def _folder(root: Path, name: str) -> ModelFolder:
    from router.publish.local import ModelFolder

    return ModelFolder(root, name, history_limit=Settings().history_limit)


@contextlib.contextmanager
def _writing_to(root: Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        where = exc.filename or root
        raise PublishError(f"cannot write to {where}: {exc.strerror}") from exc
