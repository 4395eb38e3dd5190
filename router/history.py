"""A model's publish history on the store: which versions of it exist, and where they are.

Every publish (``model-router publish --model-root`` and the inbox function) keeps each
version it made live in the model's folder, under a name that carries its content hash::

    <root>/<name>/.history/000007-20261123T142001Z-<sha256>.ubj

A version, as every response reports it, is the first 12 hex digits of a model file's
SHA-256, so a history entry's version is read from its name without reading the file. A
model with no history (a file or folder made by hand) has exactly one version: its live
file. This module only lists and stats; it never parses a model.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from router.errors import ModelNotFound, ModelOutsideRoot, StoreUnavailable
from router.names import VERSION_LENGTH, VERSION_PATTERN
from router.store import HISTORY_DIR, Fingerprint, ModelRef, ModelStore, validate_name
from router.store import HISTORY_NAME as ENTRY_NAME

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

STAMP_FORMAT = "%Y%m%dT%H%M%SZ"


def parse_stamp(text: str) -> datetime | None:
    """The publish time a history entry's name carries; ``None`` for digits that are no
    time (a month 13): not a name a publisher wrote, so not an entry."""
    try:
        return datetime.strptime(text, STAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


_READ_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One published version kept in the model's history folder."""

    number: int
    published_at: datetime
    sha256: str
    ref: ModelRef  # the entry as a file to load: published files carry their metadata

    @property
    def version(self) -> str:
        return self.sha256[:VERSION_LENGTH]

    def is_file_of(self, ref: ModelRef) -> bool:
        """``ref`` is this very file: publishers before entries were copies hard-linked the
        live file into the history."""
        mine, theirs = self.ref.fingerprint, ref.fingerprint
        return (mine.device, mine.inode) == (theirs.device, theirs.inode)


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One version a request can pin, as ``GET /models/{name}/versions`` lists it."""

    version: str
    number: int | None  # its number in the history; None for a live file made by hand
    published_at: datetime  # from the history; a hand-made live file's modification time
    size: int
    live: bool


def history(store: ModelStore, name: str) -> list[HistoryEntry]:
    """The published versions of ``name``, newest first; [] when it has none."""
    folder = _history_folder(store, name)
    try:
        entries = list(os.scandir(folder))
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return []
        raise StoreUnavailable(f"cannot list the history of {name!r}: {exc.strerror}") from exc
    found = []
    for entry in entries:
        match = ENTRY_NAME.fullmatch(entry.name)
        stamp = parse_stamp(match["stamp"]) if match is not None else None
        if match is None or stamp is None:
            continue
        try:
            entry_stat = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue  # pruned meanwhile
        except OSError as exc:
            raise StoreUnavailable(f"cannot read the history of {name!r}: {exc.strerror}") from exc
        if not stat.S_ISREG(entry_stat.st_mode):
            continue  # a link could lead out of the root; publishers write regular files
        ref = ModelRef(
            name=name,
            path=folder / entry.name,
            format="ubj",
            layout="directory",
            fingerprint=Fingerprint.of(entry_stat),
        )
        found.append(HistoryEntry(int(match["number"]), stamp, match["sha"], ref))
    return sorted(found, key=lambda entry: entry.number, reverse=True)


def find(store: ModelStore, name: str, version: str) -> HistoryEntry | None:
    """The newest history entry of ``name`` with this version, if any."""
    if not VERSION_PATTERN.fullmatch(version):
        return None
    return next((entry for entry in history(store, name) if entry.version == version), None)


def versions(
    store: ModelStore,
    name: str,
    *,
    live_version: Callable[[ModelRef], str | None] | None = None,
    fails_to_load: Callable[[ModelRef], bool] | None = None,
) -> list[ModelVersion]:
    """Every version of ``name`` that can be served, newest first, the live one marked.

    The live file is matched to its history entry by content (or by inode, in folders
    published when entries were hard links). ``live_version`` may already know the live
    file's version (the registry, when it has that exact file loaded); otherwise the file
    is hashed. A live file no publisher
    recorded is listed unless ``fails_to_load`` knows it does not load (the registry, when
    it tried). Raises ``ModelNotFound`` when the model has neither a live file nor a history.
    """
    entries = history(store, name)
    try:
        live: ModelRef | None = store.resolve(name)
    except ModelNotFound:
        if not entries:
            raise
        live = None  # unpublished: its history can still be served
    live_entry: HistoryEntry | None = None
    live_digest: str | None = None
    if live is not None:
        live_entry = next((entry for entry in entries if entry.is_file_of(live)), None)
        if live_entry is None and fails_to_load is not None and fails_to_load(live):
            live = None  # not a version that can be served: listed as no live file is
        elif live_entry is None:
            live_digest = (live_version(live) if live_version else None) or file_version(live)
            live_entry = next((entry for entry in entries if entry.version == live_digest), None)
    listed = [
        ModelVersion(
            entry.version,
            entry.number,
            entry.published_at,
            entry.ref.fingerprint.size,
            entry is live_entry,
        )
        for entry in entries
    ]
    if live is not None and live_entry is None and live_digest is not None:
        modified = datetime.fromtimestamp(live.fingerprint.mtime_ns / 1e9, UTC)
        listed.insert(0, ModelVersion(live_digest, None, modified, live.fingerprint.size, True))
    return listed


def _history_folder(store: ModelStore, name: str) -> Path:
    validate_name(name)
    store.check()
    folder = store.root / name / HISTORY_DIR
    # A folder (or a history folder) linked elsewhere must not serve files from outside.
    try:
        real = folder.resolve(strict=True)
    except OSError:
        return folder  # no history; history() reports it as empty, or why it cannot list it
    except RuntimeError as exc:  # a symlink loop (raised as RuntimeError before Python 3.13)
        raise ModelOutsideRoot(f"the history of {name!r} is a symlink loop") from exc
    if not real.is_relative_to(store.root.resolve()):
        raise ModelOutsideRoot(f"the history of {name!r} resolves to a folder outside the root")
    return folder


def file_version(ref: ModelRef) -> str:
    """Hash a live file made by hand. Opened without blocking and checked to be a regular
    file, so a FIFO or a device swapped in after the store's stat cannot hang the request."""
    try:
        fd = os.open(ref.path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise ModelNotFound(f"model {ref.name!r} was removed while it was read") from exc
        raise StoreUnavailable(f"cannot read model {ref.name!r}: {exc.strerror}") from exc
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ModelNotFound(f"model {ref.name!r} is not a regular file")
        digest = hashlib.sha256()
        remaining = ref.fingerprint.size
        try:
            while remaining > 0 and (chunk := handle.read(min(_READ_CHUNK, remaining))):
                digest.update(chunk)
                remaining -= len(chunk)
        except OSError as exc:
            raise StoreUnavailable(f"cannot read model {ref.name!r}: {exc.strerror}") from exc
    return digest.hexdigest()[:VERSION_LENGTH]
