"""S3 event notifications, as the inbox function receives them, and what their keys mean.

An inbox key is ``models/<name>/<file>``: ``<file>`` is a model (any ``*.ubj`` or ``*.json``)
or ``metadata.json``. Keys arrive URL-encoded the way HTML forms encode (a space is ``+``).
Records carry a ``sequencer`` that orders events on one key; see ``newer_sequencer``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote_plus

from router.errors import InvalidModelName
from router.store import METADATA_FILE, SUFFIXES, validate_name

MODELS_PREFIX = "models/"
_HEX = re.compile(r"[0-9A-Fa-f]+")

EventKind = Literal["created", "removed", "other"]


class NotAnInboxKey(ValueError):
    """A key outside the ``models/<name>/<file>`` pattern; the inbox ignores it."""


class NotAnS3Notification(ValueError):
    """An event without S3 records: not something the inbox can act on."""


@dataclass(frozen=True, slots=True)
class InboxKey:
    name: str
    file: str

    @property
    def is_metadata(self) -> bool:
        return self.file == METADATA_FILE

    @property
    def key(self) -> str:
        return f"{MODELS_PREFIX}{self.name}/{self.file}"


@dataclass(frozen=True, slots=True)
class S3Record:
    """One record of an S3 notification, its key decoded."""

    event_name: str  # e.g. "ObjectCreated:Put", "ObjectRemoved:DeleteMarkerCreated"
    bucket: str
    key: str
    version_id: str | None
    sequencer: str | None
    size: int | None
    # The uploaded content's ETag: what a read pins when the event names no version.
    etag: str | None = None

    @property
    def kind(self) -> EventKind:
        if self.event_name.startswith("ObjectCreated:"):
            return "created"
        if self.event_name.startswith("ObjectRemoved:"):
            return "removed"
        return "other"

    @property
    def created_delete_marker(self) -> bool:
        return self.event_name == "ObjectRemoved:DeleteMarkerCreated"


def model_key(name: str, file: str = "model.ubj") -> str:
    """The inbox key of one file of model ``name``; ``model.ubj`` is where the CLI uploads."""
    return InboxKey(validate_name(name), file).key


def parse_inbox_key(key: str) -> InboxKey:
    """``models/<name>/<file>`` -> (name, file); raises ``NotAnInboxKey`` for other keys."""
    if not key.startswith(MODELS_PREFIX):
        raise NotAnInboxKey(f"{key!r} is not under {MODELS_PREFIX}")
    parts = key[len(MODELS_PREFIX) :].split("/")
    if len(parts) != 2 or not parts[1]:
        raise NotAnInboxKey(f"{key!r} is not {MODELS_PREFIX}<name>/<file>")
    name, file = parts
    try:
        validate_name(name)
    except InvalidModelName as exc:
        raise NotAnInboxKey(exc.detail) from exc
    if file.startswith("."):
        raise NotAnInboxKey(f"{file!r} is hidden")
    if file != METADATA_FILE and not file.endswith(tuple(suffix for suffix, _ in SUFFIXES)):
        raise NotAnInboxKey(f"{file!r} is neither a model (.ubj, .json) nor {METADATA_FILE}")
    return InboxKey(name, file)


@dataclass(frozen=True, slots=True)
class MalformedRecord:
    """A record without the fields the inbox needs. It is reported and skipped, not raised:
    handling its event again could never succeed, and would redo every other record in it."""

    index: int  # its place in the event's Records
    reason: str


class _BadRecord(ValueError):
    pass


def s3_records(event: dict[str, Any]) -> list[S3Record | MalformedRecord]:
    """The records of an S3 notification, each parsed on its own: a malformed one is a
    ``MalformedRecord`` in its place. S3's ``s3:TestEvent`` (sent when notifications are
    configured) has none; anything else without records raises ``NotAnS3Notification``."""
    if not isinstance(event, dict):
        raise NotAnS3Notification(f"the event is a JSON {type(event).__name__}, not an object")
    if event.get("Event") == "s3:TestEvent":
        return []
    records = event.get("Records")
    if not isinstance(records, list):
        raise NotAnS3Notification("the event has no Records: not an S3 notification")
    parsed: list[S3Record | MalformedRecord] = []
    for index, record in enumerate(records):
        try:
            parsed.append(_parse_record(record))
        except _BadRecord as exc:
            parsed.append(MalformedRecord(index, str(exc)))
    return parsed


def _parse_record(record: object) -> S3Record:
    obj = _field(record, "s3.object")
    if not isinstance(obj, dict):
        raise _BadRecord("the record's s3.object is not an object")
    size = obj.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int)):
        raise _BadRecord(f"the record's s3.object.size is not a whole number: {size!r:.40}")
    return S3Record(
        event_name=_text(record, "eventName"),
        bucket=_text(record, "s3.bucket.name"),
        key=unquote_plus(_text(record, "s3.object.key")),
        version_id=_version_id(obj.get("versionId")),
        sequencer=_sequencer(obj.get("sequencer")),
        size=size,
        etag=obj["eTag"] if isinstance(obj.get("eTag"), str) and obj["eTag"] else None,
    )


def _field(record: object, path: str) -> object:
    value = record
    for step in path.split("."):
        if not isinstance(value, dict) or step not in value:
            raise _BadRecord(f"the record has no {path}")
        value = value[step]
    return value


def _text(record: object, path: str) -> str:
    value = _field(record, path)
    if not isinstance(value, str) or not value:
        raise _BadRecord(f"the record's {path} is not a non-empty string: {value!r:.40}")
    return value


def newer_sequencer(candidate: str, than: str) -> bool:
    """Whether ``candidate`` comes after ``than`` on the same key.

    As AWS documents: sequencers are hex strings of possibly different lengths; left-pad the
    shorter with zeros, then compare them as strings.
    """
    width = max(len(candidate), len(than))
    return candidate.upper().rjust(width, "0") > than.upper().rjust(width, "0")


def _version_id(value: object) -> str | None:
    # Unversioned buckets send no versionId; "null" is the version id of objects written
    # while versioning was off, which a plain GET also returns.
    if value is None or value == "null" or value == "":
        return None
    return str(value)


def _sequencer(value: object) -> str | None:
    if not isinstance(value, str) or not _HEX.fullmatch(value):
        return None
    return value
