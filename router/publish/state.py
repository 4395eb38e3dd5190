"""The inbox function's memory, kept on EFS beside each model: which events it has handled
and which S3 object version is live.

S3 delivers events at least once and in any order. The sequencer of the newest event
handled for each key is stored, so a duplicate or an older event is recognised and skipped:
an older upload never overwrites a newer one. Sequencers only order events on one key, and
only events this function handled, so the live object's upload time guards changes between
keys (``model.json`` then ``model.ubj``) and from an upload no event of which was handled
yet (the newest, published by a metadata upload). Upload times count whole seconds: two
uploads within one second are ordered by their events alone. An upload of the bytes
already live (under another key, or again under the same one) publishes nothing, but it
holds the live version too: the state remembers it, so deleting one of them leaves the
model live from the other. The file is hidden, written atomically, and read and written
under the model's lock.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from router.publish.events import newer_sequencer

if TYPE_CHECKING:
    from router.publish.local import ModelFolder

STATE_FILE = ".inbox-state.json"
# The most other object versions remembered as holding the live version: a job that uploads
# one model again and again must not grow the state without end. The oldest are forgotten
# first, so deleting every newer one then unpublishes the model.
COPIES_KEPT = 20
logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HeldCopy:
    """An object version uploaded with the bytes that were live already."""

    key: str
    version_id: str | None
    last_modified: datetime


@dataclass(frozen=True, slots=True)
class LiveObject:
    """The S3 object version the live model file was published from (or the newest upload
    of the same bytes since), and the other versions that hold it too."""

    key: str
    version_id: str | None
    last_modified: datetime
    metadata_version_id: str | None = None  # the metadata.json version embedded, if any
    copies: tuple[HeldCopy, ...] = ()  # newest first
    # The SHA-256 of the model file published from it: what its copies hold too. None in
    # older state files.
    sha256: str | None = None
    # The sequencer of the event of this key that published it; None when no event of it
    # did (the metadata path published the key's newest) or in older state files.
    sequencer: str | None = None

    @property
    def version(self) -> tuple[str, str | None]:
        """Which object version this is: its key and version id."""
        return (self.key, self.version_id)

    def held_by(self, key: str) -> bool:
        """Whether a version of ``key`` holds the live version."""
        return key == self.key or any(copy.key == key for copy in self.copies)

    def superseded_by(self, newer: LiveObject) -> LiveObject:
        """``newer``, an upload of the bytes that are live, as the live object; this one and
        its copies are kept as its copies. The newest upload stays the live object, so that
        its upload time keeps ordering events between keys."""
        held = (HeldCopy(self.key, self.version_id, self.last_modified), *self.copies)
        copies = tuple(copy for copy in held if (copy.key, copy.version_id) != newer.version)
        return replace(newer, copies=copies[:COPIES_KEPT])

    def without(self, key: str, version_id: str | None) -> LiveObject | None:
        """What holds the live version once ``key`` left the bucket (its version
        ``version_id``, or every version when ``None``): this, or the newest copy left in
        place of the live object; ``None`` when nothing holds it any more."""

        def gone(copy_key: str, copy_version: str | None) -> bool:
            return copy_key == key and version_id in (None, copy_version)

        copies = tuple(copy for copy in self.copies if not gone(copy.key, copy.version_id))
        if not gone(self.key, self.version_id):
            return replace(self, copies=copies)
        if not copies:
            return None
        newest, *older = copies
        return replace(
            self,
            key=newest.key,
            version_id=newest.version_id,
            last_modified=newest.last_modified,
            sequencer=None,  # the event that published it was another object's
            copies=tuple(older),
        )


@dataclass(slots=True)
class InboxState:
    sequencers: dict[str, str] = field(default_factory=dict)
    live: LiveObject | None = None

    def is_stale(self, key: str, sequencer: str | None) -> bool:
        """An event on ``key`` no newer than one already handled (a duplicate or a late one).
        Without a sequencer nothing can be said, and the event is handled."""
        handled = self.sequencers.get(key)
        if sequencer is None or handled is None:
            return False
        return not newer_sequencer(sequencer, handled)

    def record(self, key: str, sequencer: str | None) -> None:
        handled = self.sequencers.get(key)
        if sequencer is not None and (handled is None or newer_sequencer(sequencer, handled)):
            self.sequencers[key] = sequencer

    @classmethod
    def load(cls, folder: ModelFolder) -> InboxState:
        try:
            raw = (folder.path / STATE_FILE).read_bytes()
        except FileNotFoundError:
            return cls()
        try:
            document: dict[str, Any] = orjson.loads(raw)
            live = document.get("live")
            return cls(
                sequencers={str(k): str(v) for k, v in document.get("sequencers", {}).items()},
                live=None
                if live is None
                else LiveObject(
                    key=live["key"],
                    version_id=live.get("version_id"),
                    last_modified=_aware(live["last_modified"]),
                    metadata_version_id=live.get("metadata_version_id"),
                    sha256=live.get("sha256"),
                    sequencer=live.get("sequencer"),
                    copies=tuple(
                        HeldCopy(
                            key=copy["key"],
                            version_id=copy.get("version_id"),
                            last_modified=_aware(copy["last_modified"]),
                        )
                        for copy in live.get("copies", [])  # none in older state files
                    ),
                ),
            )
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
            # Written atomically, so this takes a hand edit; ordering starts afresh.
            logger.warning("inbox state unreadable; starting afresh", extra={"model": folder.name})
            return cls()

    def save(self, folder: ModelFolder) -> None:
        document = {"sequencers": self.sequencers, "live": asdict(self.live) if self.live else None}
        folder.write_hidden_file(STATE_FILE, orjson.dumps(document, option=orjson.OPT_INDENT_2))


def _aware(text: str) -> datetime:
    """A time the state wrote (with its zone): one without, from a hand edit, would fail
    every later comparison with S3's times, so it makes the file unreadable instead."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return moment
