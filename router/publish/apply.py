"""What the inbox does with one S3 event: validate, publish atomically, or unpublish.

- A model upload (``models/<name>/<file>.ubj|.json``) is streamed into a hidden temporary file
  in the model's folder on EFS (never held in memory on the way), fsynced, read back once,
  validated and renamed over ``model.ubj``. An upload larger than ``max_object_bytes`` (the
  event says its size) is rejected before it is downloaded. Metadata
  inside the uploaded file wins; without any, the bucket's current
  ``models/<name>/metadata.json`` is embedded. A metadata file over ``METADATA_MAX_BYTES``
  is rejected before it is downloaded (and a model upload that would embed it with it).
- A ``metadata.json`` upload republishes the newest model object with that metadata
  embedded: model and metadata may be uploaded in either order.
- Removing the live model's object unpublishes the model (its history stays), unless
  another object holds the same bytes (an upload found "unchanged"): then that one is the
  live model's object. Removing ``metadata.json`` changes nothing: the live model keeps the
  metadata it was published with.
- A rejected upload leaves the live version untouched; the object version is tagged
  ``model-router-status=rejected`` with the reason, and a log line says the same.

Events for one model are handled one at a time (the model folder's lock), and a duplicate or
out-of-date event is recognised by its sequencer (``state``) and skipped.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal

from botocore.exceptions import BotoCoreError, ClientError

from router.errors import InvalidModelFile, ModelOutsideRoot
from router.publish.errors import FolderUnusable, ObjectOverwritten, ObjectTooLarge
from router.publish.events import (
    InboxKey,
    NotAnInboxKey,
    S3Record,
    model_key,
    parse_inbox_key,
)
from router.publish.local import ModelFolder
from router.publish.s3 import (
    Status,
    bucket_metadata,
    download_metadata,
    download_to,
    is_not_found,
    newest_model_key,
    read_status,
    set_status,
    too_large_reason,
)
from router.publish.state import InboxState, LiveObject
from router.publish.validate import kept_metadata, validate_model
from router.store import METADATA_FILE

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from mypy_boto3_s3 import S3Client

    from router.publish.local import PublishResult
    from router.publish.s3 import S3Object, StagedObject

logger = logging.getLogger(__name__)

OutcomeStatus = Literal[
    "published",  # a new version is live
    "unchanged",  # the event's content was live already
    "rejected",  # validation failed; the live version is untouched
    "pending",  # metadata arrived before any model
    "unpublished",  # the live model's object was removed
    "skipped",  # a duplicate or out-of-date event
    "ignored",  # not an event the inbox acts on
]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one event did; returned by the handler and logged."""

    status: OutcomeStatus
    key: str
    version_id: str | None
    reason: str | None = None
    model: str | None = None
    live_version: int | None = None  # the version's number in the model's history folder


@dataclass(frozen=True, slots=True)
class _Verdict:
    """A status tag to write on one object version."""

    key: str
    version_id: str | None
    status: Status
    reason: str | None = None


class Inbox:
    """Applies S3 notification records to the model root ``root``."""

    def __init__(
        self,
        root: Path,
        s3: S3Client,
        *,
        history_limit: int,
        max_object_bytes: int,
        nthread: int = 1,
        clock: Callable[[], float] = time.time,
        tagger: S3Client | None = None,
    ) -> None:
        self.root = root
        self.s3 = s3
        # The client verdict tags are written with, under the model's lock: bounded more
        # tightly than ``s3`` (tagging_client), so that an S3 brown-out cannot hold the lock
        # past the function's timeout while other events of the model wait on it.
        self.tagger = tagger or s3
        self.history_limit = history_limit
        self.max_object_bytes = max_object_bytes
        self.nthread = nthread
        self._clock = clock

    def apply(self, record: S3Record) -> Outcome:
        try:
            target = parse_inbox_key(record.key)
        except NotAnInboxKey as exc:
            return self._log(record, Outcome("ignored", record.key, record.version_id, str(exc)))
        if record.kind == "other":
            reason = f"{record.event_name} events change nothing"
            return self._log(record, self._outcome(record, target, "ignored", reason))
        verdicts: list[_Verdict] = []
        with contextlib.ExitStack() as entered:
            try:
                folder = entered.enter_context(
                    ModelFolder(
                        self.root,
                        target.name,
                        history_limit=self.history_limit,
                        clock=self._clock,
                        # A hand-made model.ubj a publish replaces is validated while the
                        # upload (and its validated copy) are held: half an upload's budget
                        # keeps the sum within it.
                        validate_up_to=self.max_object_bytes // 2,
                        nthread=self.nthread,
                    )
                )
            except (FolderUnusable, ModelOutsideRoot) as exc:
                if record.kind != "created":
                    raise  # a removal must not be lost: retried, then the dead letter queue
                return self._folder_unusable(record, target, exc)
            state = InboxState.load(folder)
            if state.is_stale(record.key, record.sequencer):
                reason = "an event as new or newer for this object was handled already"
                return self._log(record, self._outcome(record, target, "skipped", reason))
            if record.kind == "created" and target.is_metadata:
                outcome = self._metadata_created(folder, state, record, target, verdicts)
            elif record.kind == "created":
                outcome = self._model_created(folder, state, record, target, verdicts)
            elif target.is_metadata:
                reason = "the live model keeps the metadata it was published with"
                outcome = self._outcome(record, target, "ignored", reason)
            else:
                outcome = self._model_removed(folder, state, record, target, verdicts)
            state.record(record.key, record.sequencer)
            state.save(folder)
            # Under the model's lock: two events' verdicts would otherwise be written in
            # either order, and a slow tag call could mark a replaced version published.
            for verdict in verdicts:
                self._tag(record.bucket, verdict)
        return self._log(record, outcome)

    def _folder_unusable(
        self, record: S3Record, target: InboxKey, exc: FolderUnusable | ModelOutsideRoot
    ) -> Outcome:
        """An answer, not a failure: a retry finds the folder the same, and the uploader's
        ``--wait`` gets this verdict instead of none."""
        reason = f"the model's folder on EFS cannot be published into: {exc.detail}"
        logger.error(
            "model folder unusable",
            extra={"model": target.name, "key": record.key, "reason": reason},
        )
        # Without the folder's state a duplicate or late event is not known as one: a
        # version that has a verdict already (live, replaced) keeps it.
        if read_status(self.s3, record.bucket, record.key, record.version_id)[0] is None:
            self._tag(record.bucket, _Verdict(record.key, record.version_id, "rejected", reason))
        return self._log(record, self._outcome(record, target, "rejected", reason))

    # -- the event kinds ---------------------------------------------------------------

    def _model_created(
        self,
        folder: ModelFolder,
        state: InboxState,
        record: S3Record,
        target: InboxKey,
        verdicts: list[_Verdict],
    ) -> Outcome:
        if record.size is not None and record.size > self.max_object_bytes:
            reason = too_large_reason(record.size, self.max_object_bytes)
            verdicts.append(_Verdict(record.key, record.version_id, "rejected", reason))
            return self._outcome(record, target, "rejected", reason)
        with folder.staging_file() as (staged, handle):
            try:
                obj = download_to(
                    self.s3,
                    record.bucket,
                    record.key,
                    record.version_id,
                    sink=handle,
                    max_bytes=self.max_object_bytes,
                    # Without a version the key's content now is read: the event's, or none.
                    if_match=record.etag if record.version_id is None else None,
                )
            except ObjectTooLarge as exc:
                verdicts.append(_Verdict(record.key, record.version_id, "rejected", exc.detail))
                return self._outcome(record, target, "rejected", exc.detail)
            except ObjectOverwritten as exc:
                return self._outcome(record, target, "skipped", exc.detail)
            if obj is None:
                reason = "the object version no longer exists"
                return self._outcome(record, target, "skipped", reason)
            handle.flush()
            os.fsync(handle.fileno())
            live = state.live
            # Sequencers order one key's events (is_stale); between keys, upload times do.
            # So do they for a live upload of this key that no event of it published (the
            # metadata path publishes the key's newest): a multipart upload's time is when
            # it began, so a sequencer, where there is one, is the sounder order.
            if (
                live is not None
                and (live.key != record.key or live.sequencer is None)
                and live.version != (record.key, obj.version_id)
                and obj.last_modified < live.last_modified
            ):
                reason = f"{live.key} was uploaded later and is live"
                return self._outcome(record, target, "skipped", reason)
            try:
                metadata = bucket_metadata(self.s3, record.bucket, target.name)
            except ObjectTooLarge as exc:
                # That metadata.json was rejected when it arrived; replacing or deleting it
                # lets this model through.
                reason = f"cannot use the bucket's {METADATA_FILE}: {exc.detail}"
                verdicts.append(_Verdict(record.key, obj.version_id, "rejected", reason))
                return self._outcome(record, target, "rejected", reason)
            data = staged.read_bytes()  # the only copy in memory, for validation
            try:
                validated = validate_model(
                    data,
                    metadata=metadata.data if metadata else None,
                    prefer="embedded",
                    # The same rule as a folder publish: no metadata with the upload and
                    # none in the bucket keeps the live version's (labels survive retrains).
                    kept=kept_metadata(folder.path) if metadata is None else None,
                    nthread=self.nthread,
                )
            except InvalidModelFile as exc:
                verdicts.append(_Verdict(record.key, obj.version_id, "rejected", exc.detail))
                return self._outcome(record, target, "rejected", exc.detail)
            result = folder.publish(
                validated.data, staged=staged if validated.data == data else None
            )
        used = metadata if validated.metadata_source == "given" else None
        return self._published(state, record, target, obj, used, result, verdicts)

    def _metadata_created(
        self,
        folder: ModelFolder,
        state: InboxState,
        record: S3Record,
        target: InboxKey,
        verdicts: list[_Verdict],
    ) -> Outcome:
        try:
            metadata = download_metadata(self.s3, record.bucket, record.key, record.version_id)
        except ObjectTooLarge as exc:
            verdicts.append(_Verdict(record.key, record.version_id, "rejected", exc.detail))
            return self._outcome(record, target, "rejected", exc.detail)
        if metadata is None:
            return self._outcome(record, target, "skipped", "the object version no longer exists")
        key = newest_model_key(self.s3, record.bucket, target.name)
        if key is None:
            reason = (
                f"no model uploaded for {target.name} yet; this metadata is used with the first"
            )
            verdicts.append(_Verdict(record.key, metadata.version_id, "pending", reason))
            return self._outcome(record, target, "pending", reason)
        with folder.staging_file() as (staged, handle):
            try:
                obj = download_to(
                    self.s3, record.bucket, key, sink=handle, max_bytes=self.max_object_bytes
                )
            except ObjectTooLarge as exc:
                reason = f"does not fit {key}: {exc.detail}"
                verdicts.append(_Verdict(record.key, metadata.version_id, "rejected", reason))
                return self._outcome(record, target, "rejected", reason)
            if obj is None:
                return self._outcome(record, target, "skipped", f"{key} was removed meanwhile")
            handle.flush()
            os.fsync(handle.fileno())
            data = staged.read_bytes()
            try:
                validated = validate_model(
                    data, metadata=metadata.data, prefer="given", nthread=self.nthread
                )
            except InvalidModelFile as exc:
                reason = f"does not fit {key}: {exc.detail}"
                verdicts.append(_Verdict(record.key, metadata.version_id, "rejected", reason))
                return self._outcome(record, target, "rejected", reason)
            result = folder.publish(
                validated.data, staged=staged if validated.data == data else None
            )
        return self._published(state, record, target, obj, metadata, result, verdicts)

    def _model_removed(
        self,
        folder: ModelFolder,
        state: InboxState,
        record: S3Record,
        target: InboxKey,
        verdicts: list[_Verdict],
    ) -> Outcome:
        live = state.live
        if live is None or not live.held_by(record.key):
            reason = "not the live model's object; the live model stays"
            return self._outcome(record, target, "ignored", reason)
        # A delete marker hides every version of the key; without versioning it is gone.
        every_version = record.created_delete_marker or record.version_id is None
        remaining = live.without(record.key, None if every_version else record.version_id)
        if remaining == live:
            reason = "an earlier version was deleted; the live one stays"
            return self._outcome(record, target, "ignored", reason)
        if remaining is None:
            folder.unpublish()
            state.live = None
            if record.created_delete_marker:  # else the event removed that version for good
                verdicts.append(_Verdict(live.key, live.version_id, "unpublished"))
            return self._outcome(record, target, "unpublished")
        state.live = remaining
        if remaining.version != live.version:
            verdicts.append(_Verdict(remaining.key, remaining.version_id, "published"))
            if record.created_delete_marker:  # the version is still there to be tagged
                verdicts.append(_Verdict(live.key, live.version_id, "unpublished"))
        reason = f"{remaining.key} holds the live version too; the live model stays"
        return self._outcome(record, target, "ignored", reason)

    # -- helpers -------------------------------------------------------------------------

    def _published(
        self,
        state: InboxState,
        record: S3Record,
        target: InboxKey,
        obj: StagedObject,
        metadata: S3Object | None,
        result: PublishResult,
        verdicts: list[_Verdict],
    ) -> Outcome:
        previous = state.live
        sha256 = result.version.sha256
        live = LiveObject(
            key=obj.key,
            version_id=obj.version_id,
            last_modified=obj.last_modified,
            metadata_version_id=metadata.version_id if metadata else None,
            sha256=sha256,
            # None when the metadata path published it: no event of this key did.
            sequencer=record.sequencer if record.key == obj.key else None,
        )
        # The same bytes again: the earlier object still holds them (see _model_removed).
        # Unless the live file is no longer what it published (a publish by hand since),
        # which an unchanged result alone does not tell.
        same_bytes = (
            previous is not None and not result.changed and previous.sha256 in (None, sha256)
        )
        if previous is not None and same_bytes:
            live = previous.superseded_by(live)
        state.live = live
        verdicts.append(_Verdict(obj.key, obj.version_id, "published"))
        if metadata is not None:
            verdicts.append(_Verdict(metadata.key, metadata.version_id, "published"))
        if previous is not None and previous.version != live.version and not same_bytes:
            verdicts.append(_Verdict(previous.key, previous.version_id, "replaced"))
        old_metadata = previous.metadata_version_id if previous else None
        if old_metadata is not None and old_metadata != live.metadata_version_id:
            metadata_key = model_key(target.name, METADATA_FILE)
            verdicts.append(_Verdict(metadata_key, old_metadata, "replaced"))
        status: OutcomeStatus = "published" if result.changed else "unchanged"
        return self._outcome(record, target, status, live_version=result.version.number)

    def _outcome(
        self,
        record: S3Record,
        target: InboxKey,
        status: OutcomeStatus,
        reason: str | None = None,
        *,
        live_version: int | None = None,
    ) -> Outcome:
        return Outcome(status, record.key, record.version_id, reason, target.name, live_version)

    def _tag(self, bucket: str, verdict: _Verdict) -> None:
        """Write a verdict tag. A failure is logged, not raised: the model is already live
        (or rejected) and handling the event again would not change that."""
        try:
            set_status(
                self.tagger, bucket, verdict.key, verdict.version_id, verdict.status, verdict.reason
            )
        except ClientError as exc:
            if not is_not_found(exc):
                self._tag_failed(verdict, exc)
                return
            # Deleted since (a permanent delete, or any in an unversioned bucket, is the
            # event itself): nothing is left to carry the verdict, and nothing went wrong.
            logger.info(
                "no verdict tag: the object version is gone",
                extra={"key": verdict.key, "version_id": verdict.version_id},
            )
        except BotoCoreError as exc:
            self._tag_failed(verdict, exc)

    def _tag_failed(self, verdict: _Verdict, exc: Exception) -> None:
        logger.error(
            "could not tag the object version with the inbox's verdict",
            extra={
                "key": verdict.key,
                "version_id": verdict.version_id,
                "status": verdict.status,
                "error": str(exc),
            },
        )

    def _log(self, record: S3Record, outcome: Outcome) -> Outcome:
        fields = {
            **{k: v for k, v in asdict(outcome).items() if v is not None},
            "outcome": outcome.status,
            "event": record.event_name,
            "bucket": record.bucket,
            "sequencer": record.sequencer,
        }
        fields.pop("status")
        if outcome.status == "rejected":
            logger.warning("model rejected", extra=fields)
        else:
            logger.info("inbox event handled", extra=fields)
        return outcome
