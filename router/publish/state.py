"""The inbox function's memory, kept on EFS beside each model: which events it has handled
and which S3 object version is live.

S3 delivers events at least once and in any order. The sequencer of the newest event
handled for each key is stored, so a duplicate or an older event is recognised and skipped:
an older upload never overwrites a newer one. Sequencers only order events on one key, so
the live object's upload time guards changes between keys (``model.json`` then
``model.ubj``). The file is hidden, written atomically, and read and written under the
model's lock.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from router.publish.events import newer_sequencer

if TYPE_CHECKING:
    from router.publish.local import ModelFolder

STATE_FILE = ".inbox-state.json"
logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LiveObject:
    """The S3 object version the live model file was published from."""

    key: str
    version_id: str | None
    last_modified: datetime
    metadata_version_id: str | None = None  # the metadata.json version embedded, if any

    @property
    def version(self) -> tuple[str, str | None]:
        """Which object version this is: its key and version id."""
        return (self.key, self.version_id)


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
                    last_modified=datetime.fromisoformat(live["last_modified"]),
                    metadata_version_id=live.get("metadata_version_id"),
                ),
            )
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
            # Written atomically, so this takes a hand edit; ordering starts afresh.
            logger.warning("inbox state unreadable; starting afresh", extra={"model": folder.name})
            return cls()

    def save(self, folder: ModelFolder) -> None:
        document = {"sequencers": self.sequencers, "live": asdict(self.live) if self.live else None}
        folder.write_hidden_file(STATE_FILE, orjson.dumps(document, option=orjson.OPT_INDENT_2))
