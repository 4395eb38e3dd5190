"""Where a model is published: a model folder or the S3 inbox, behind one interface.

``model-router publish | versions | rollback`` pick a target once from their arguments and
ask it to publish, list versions or roll back; each call yields the lines to show the user as
it goes (an upload is reported before its verdict is awaited), so the commands never branch on
where models go. Heavy imports (XGBoost, boto3) happen
inside the methods.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from router.counts import parse_count
from router.errors import ModelNotFound
from router.publish.errors import PublishError
from router.store import DIR_MODEL_STEM, ModelStore

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from mypy_boto3_s3 import S3Client

    from router.publish.local import LocalVersion, ModelFolder
    from router.publish.s3 import BucketVersion
    from router.publish.validate import ValidatedModel

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class VersionArgumentError(ValueError):
    """A version named in a form this target does not use; the command's usage error."""


class PublishTarget(Protocol):
    """A place models are published to; every method yields the lines to show."""

    def publish(self, name: str, model: ValidatedModel) -> Iterator[str]: ...

    def versions(self, name: str, limit: int) -> Iterator[str]: ...

    def rollback(self, name: str, to: str | None) -> Iterator[str]: ...


@dataclass(frozen=True)
class FolderTarget:
    """A model root: a local folder or a mounted EFS, written atomically with history."""

    root: Path
    history_limit: int

    def publish(self, name: str, model: ValidatedModel) -> Iterator[str]:
        from router.publish.validate import with_kept_metadata

        with self._folder(name) as folder:
            model = with_kept_metadata(model, folder.path)  # labels survive a retrain
            result = folder.publish(model.data)
        if model.metadata_source == "kept":
            yield (
                f"kept the live version's metadata ({model.metadata_keys()}); "
                "--drop-metadata publishes without it"
            )
        number = result.version.number
        if result.changed:
            yield f"published {name} as version {number}: {folder.live_path}"
        else:
            yield f"{name}: this exact model is live already (version {number})"

    def versions(self, name: str, limit: int) -> Iterator[str]:
        from router.publish.local import list_versions

        versions = list_versions(self.root, name)
        if not versions:
            ModelStore(self.root).check()  # a missing root says so, rather than "no versions"
            raise ModelNotFound(f"{name!r} has no published versions in {self.root}")
        yield f"{'version':>7}  {'published (UTC)':19}  {'size':>10}  sha256"
        yield from (_folder_row(version) for version in versions[:limit])
        yield from _more(versions, limit)
        live_file = self.root / name / f"{DIR_MODEL_STEM}.ubj"
        if not any(version.live for version in versions) and live_file.is_file():
            # Written in place (cp over model.ubj) or by hand since the last publish: what
            # the router serves once it has settled, though no publisher recorded it.
            yield (
                f"live: {live_file} holds no published version (written by hand); "
                "`rollback` republishes the newest one"
            )

    def rollback(self, name: str, to: str | None) -> Iterator[str]:
        from router.publish.local import rollback

        wanted = parse_count(to)
        if to is not None and wanted is None:
            raise VersionArgumentError(f"--to {to[:40]}: a folder's versions are numbers")
        with self._folder(name) as folder:
            result = rollback(folder, wanted)
        number = result.target.number
        if result.published.changed:
            yield (
                f"rolled {name} back to version {number}: "
                f"live as version {result.published.version.number}"
            )
        else:
            yield f"{name}: version {number} is live already"

    @contextlib.contextmanager
    def _folder(self, name: str) -> Iterator[ModelFolder]:
        from router.publish.local import ModelFolder

        try:
            with ModelFolder(self.root, name, history_limit=self.history_limit) as folder:
                yield folder
        except OSError as exc:
            where = exc.filename or self.root
            raise PublishError(f"cannot write to {where}: {exc.strerror}") from exc


@dataclass(frozen=True)
class BucketTarget:
    """The S3 inbox: uploads there are validated again and published onto EFS by the inbox
    function; ``wait_s`` is how long to wait for its verdict (0: don't)."""

    bucket: str
    wait_s: float = 0

    def publish(self, name: str, model: ValidatedModel) -> Iterator[str]:
        from router.publish.s3 import upload

        if model.metadata_source is None:
            yield (
                "no metadata with this model: the inbox uses the bucket's metadata.json, else "
                "keeps the live version's (--drop-metadata publishes without)"
            )
        s3 = self._client()
        key, version_id = upload(s3, self.bucket, name, model)
        yield f"uploaded s3://{self.bucket}/{key}"
        yield f"version: {version_id or 'none (the bucket is not versioned)'}"
        yield from self._verdict(s3, name, key, version_id)

    def versions(self, name: str, limit: int) -> Iterator[str]:
        from router.publish.s3 import list_versions

        versions = list_versions(self._client(), self.bucket, name, limit=limit)
        if not versions:
            raise ModelNotFound(f"no versions of {name!r} in s3://{self.bucket}/models/")
        show_file = len({version.key for version in versions}) > 1
        width = max(len(version.version_id) for version in versions)
        header = f"{'version id':{width}}  {'uploaded (UTC)':19}  {'size':>10}  "
        yield header + ("file  " if show_file else "") + "status"
        yield from (_bucket_row(version, width, show_file) for version in versions[:limit])
        yield from _more(versions, limit)

    def rollback(self, name: str, to: str | None) -> Iterator[str]:
        from router.publish.s3 import rollback

        s3 = self._client()
        result = rollback(s3, self.bucket, name, to)
        target = result.target
        yield (
            f"validated version {target.version_id} of {target.key} "
            f"({target.last_modified.strftime(TIME_FORMAT)}): {result.validated.describe()}"
        )
        yield f"copied it to s3://{self.bucket}/{result.key} as the newest version"
        yield f"version: {result.version_id}"
        yield from self._verdict(s3, name, result.key, result.version_id)

    def _client(self) -> S3Client:
        from router.publish.s3 import s3_client

        return s3_client()

    def _verdict(self, s3: S3Client, name: str, key: str, version_id: str | None) -> Iterator[str]:
        if not self.wait_s:
            yield (
                "the inbox validates it again and publishes it within seconds; check with: "
                f"model-router versions {name} --bucket {self.bucket}"
            )
            return
        from router.publish.s3 import wait_for_verdict

        status = wait_for_verdict(s3, self.bucket, key, version_id, timeout_s=self.wait_s)
        yield f"the inbox says: {status}"


def _folder_row(version: LocalVersion) -> str:
    from router.publish.validate import human_size

    return (
        f"{version.number:>7}  {version.published_at.strftime(TIME_FORMAT)}  "
        f"{human_size(version.size):>10}  {version.sha256[:12]}"
        + ("  live" if version.live else "")
    )


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


def _more(versions: list[LocalVersion] | list[BucketVersion], limit: int) -> Iterator[str]:
    if len(versions) > limit:
        yield f"... and {len(versions) - limit} older (--limit)"
