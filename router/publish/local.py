"""Publishing into a model root (a local folder or the EFS mount): atomic, one writer per
model at a time, with a bounded history.

A model's folder, as the router and this module see it::

    <root>/<name>/model.ubj                 the live version (all the router reads here)
    <root>/<name>/.history/000007-20261123T142001Z-<sha256>.ubj
                                            every published version, newest numbers last
    <root>/<name>/.history/replaced/        hand-made files a publish took over
    <root>/<name>/.lock                     flock: one publisher per model at a time
    <root>/<name>/.tmp-*                    files being written (or left behind by a crash)
    <root>/<name>/.inbox-state.json         the inbox function's ordering state

Everything but ``model.ubj`` is hidden, and the router reads only the exact names of its
layouts, so it never mistakes one of them for a model. A version is written to a hidden
temporary file in the model's own folder (never across file systems), fsynced, copied into
the history and renamed over ``model.ubj`` with ``os.replace``; then the folder is fsynced.
A reader opens either the old file or the new one, never half of one.

The history entry is a copy, not a hard link of the live file: a tool that writes into
``model.ubj`` in place (``cp new.ubj model.ubj``, ``rsync --inplace``) would write into a
linked entry too, destroying the very version a rollback or a new process falls back to.
With a copy, such a write only makes ``model.ubj`` a hand-placed file (served once it has
settled); every published version stays as it was published.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from stat import S_ISDIR
from typing import TYPE_CHECKING, BinaryIO

from router.atomic import (
    FILE_MODE,
    TEMP_PREFIX,
    fsync_directory,
    temp_path,
    write_atomically,
    write_temp_file,
)
from router.errors import ModelOutsideRoot, RouterError, StoreUnavailable
from router.history import STAMP_FORMAT, parse_stamp
from router.publish.errors import (
    FolderUnusable,
    NothingToRollBack,
    VersionDamaged,
    VersionNotFound,
)
from router.publish.validate import validate_model
from router.store import (
    DIR_MODEL_STEM,
    HISTORY_DIR,
    HISTORY_NAME,
    METADATA_FILE,
    SUFFIXES,
    ModelStore,
    validate_name,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from types import TracebackType

logger = logging.getLogger(__name__)

LIVE_FILE = f"{DIR_MODEL_STEM}.ubj"
REPLACED_DIR = "replaced"
COPY_CHUNK_BYTES = 1024 * 1024
LOCK_FILE = ".lock"


@dataclass(frozen=True, slots=True)
class LocalVersion:
    """One published version, kept in the model's history folder."""

    number: int
    published_at: datetime
    sha256: str
    size: int
    path: Path
    live: bool


@dataclass(frozen=True, slots=True)
class PublishResult:
    version: LocalVersion
    changed: bool  # False: this exact model was live already, nothing was written


@dataclass(frozen=True, slots=True)
class RollbackResult:
    target: LocalVersion
    published: PublishResult


class ModelFolder:
    """One model's folder under a root, locked against other publishers inside ``with``.

    Entering creates the folder if needed, takes an exclusive ``flock`` on its lock file
    (EFS supports NFSv4 locks, so this holds across Lambda instances and hosts) and removes
    temporary files that crashed publishers left behind: every publisher writes them under
    the lock, and a killed process loses its lock, so once we hold it any temporary file
    there is a dead one's. Different models never wait for each other.
    """

    def __init__(
        self,
        root: Path,
        name: str,
        *,
        history_limit: int,
        clock: Callable[[], float] = time.time,
        validate_up_to: int | None = None,
        nthread: int = 1,
    ) -> None:
        """``validate_up_to``: the largest hand-made model a publish validates to keep as a
        version (the inbox's memory budget of one upload); larger ones, like those that do
        not validate, are kept aside in ``.history/replaced/`` as they are."""
        self.name = validate_name(name)
        self.root = Path(root)
        self.path = self.root / name
        self.live_path = self.path / LIVE_FILE
        self.history_path = self.path / HISTORY_DIR
        self.history_limit = history_limit
        self.validate_up_to = validate_up_to
        self.nthread = nthread
        self._clock = clock
        self._lock_fd: int | None = None

    def __enter__(self) -> ModelFolder:
        ModelStore(self.root).check()  # a missing root (EFS not mounted, a typo) is an error
        try:
            self.path.mkdir(exist_ok=True)
        except FileExistsError as exc:
            # Only what lstat shows is no folder is an operator's to fix; an error of the
            # file system itself (EFS) raises as it is, for a retry.
            if S_ISDIR(os.lstat(self.path).st_mode):
                raise
            raise FolderUnusable(
                f"{self.name!r} in the model root is a file, not a model's folder"
            ) from exc
        if not self.path.resolve().is_relative_to(self.root.resolve()):
            raise ModelOutsideRoot(f"{self.name!r} resolves to a folder outside the model root")
        if self.history_path.is_symlink():  # the server trusts no history kept elsewhere
            raise FolderUnusable(
                f"{self.name}/{HISTORY_DIR} is a link; a model's history is a folder of its own"
            )
        fd = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                # Said once, so that a publish behind another (or a stuck one) is not silence.
                logger.warning(
                    "waiting for another publish of %r to finish (%s/%s is locked)",
                    self.name,
                    self.name,
                    LOCK_FILE,
                )
                fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._lock_fd = fd
        self.remove_abandoned_temp_files()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- writing -------------------------------------------------------------------------

    def publish(self, data: bytes, *, staged: Path | None = None) -> PublishResult:
        """Make ``data`` (a validated UBJ model) the live version.

        ``staged`` is a temporary file of this folder (from ``staging_file``) that already
        holds exactly ``data``, fsynced; it is renamed into place instead of writing again.
        """
        self._require_lock()
        sha256 = hashlib.sha256(data).hexdigest()
        versions = self.versions()
        live = next((version for version in versions if version.live), None)
        if live is not None and live.sha256 == sha256 and self._live_holds(data):
            return PublishResult(live, changed=False)
        if live is None and self._keep_hand_made_model(versions, sha256):
            versions = self.versions()
        entry = self._entry_path(versions, data)
        temp = staged if staged is not None else self._write_temp(data)
        try:
            self._add_to_history(entry, data)
            temp.replace(self.live_path)
            fsync_directory(self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        self._retire_replaced_layouts()
        self._prune_history()
        version = next(version for version in self.versions() if version.path == entry)
        return PublishResult(version, changed=True)

    def unpublish(self) -> bool:
        """Remove the live file; the history keeps it for a rollback. False: nothing was live."""
        self._require_lock()
        if not self.live_path.exists():
            return False
        versions = self.versions()
        if not any(version.live for version in versions):
            self._keep_hand_made_model(versions)
        self.live_path.unlink()
        fsync_directory(self.path)
        return True

    @contextlib.contextmanager
    def staging_file(self) -> Iterator[tuple[Path, BinaryIO]]:
        """A new hidden temporary file in this folder, open for writing; removed on exit
        unless ``publish`` renamed it into place. The caller writes and fsyncs it."""
        self._require_lock()
        path = temp_path(self.path)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        try:
            with os.fdopen(fd, "wb") as handle:
                yield path, handle
        finally:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def write_hidden_file(self, filename: str, data: bytes) -> None:
        """Atomically replace the hidden file ``filename`` of this folder (state, not models)."""
        self._require_lock()
        if not filename.startswith("."):
            raise ValueError(f"{filename!r} is not hidden: the router could take it for a model")
        write_atomically(self.path / filename, data)

    def remove_abandoned_temp_files(self) -> list[Path]:
        """Remove the temporary files of publishers that died (see the class docstring)."""
        self._require_lock()
        removed = []
        for folder in (self.path, self.history_path):
            try:
                entries = list(os.scandir(folder))
            except FileNotFoundError:
                continue
            for entry in entries:
                if not entry.name.startswith(TEMP_PREFIX):
                    continue
                with contextlib.suppress(FileNotFoundError):
                    Path(entry.path).unlink()
                    removed.append(Path(entry.path))
        return removed

    # -- reading -------------------------------------------------------------------------

    def versions(self) -> list[LocalVersion]:
        """Published versions, newest first; see ``list_versions``."""
        return list_versions(self.root, self.name)

    # -- internals -----------------------------------------------------------------------

    def _require_lock(self) -> None:
        if self._lock_fd is None:
            raise RuntimeError("use ModelFolder inside `with`: writes need the model's lock")

    def _write_temp(self, data: bytes, folder: Path | None = None) -> Path:
        return write_temp_file(folder or self.path, data, prefix=TEMP_PREFIX)

    def _live_holds(self, data: bytes) -> bool:
        """Whether model.ubj holds ``data`` itself, not only the name of its entry: in a
        folder published before entries were copies, a copy over model.ubj rewrote the entry
        it is a hard link of, so the name can lie, and "publish it again" repairs it."""
        try:
            return self.live_path.read_bytes() == data
        except OSError:
            return False

    def _entry_path(self, versions: list[LocalVersion], data: bytes) -> Path:
        """The history name of the next version: its number, UTC time and SHA-256."""
        number = max((version.number for version in versions), default=0) + 1
        stamp = datetime.fromtimestamp(self._clock(), UTC).strftime(STAMP_FORMAT)
        sha256 = hashlib.sha256(data).hexdigest()
        return self.history_path / f"{number:06d}-{stamp}-{sha256}.ubj"

    def _add_to_history(self, entry: Path, data: bytes) -> None:
        """Write ``data`` as history ``entry``: a file of its own (see the module docstring),
        fsynced, then renamed into place, so a crash leaves no half-written entry."""
        self.history_path.mkdir(exist_ok=True)
        copy = self._write_temp(data, self.history_path)
        copy.replace(entry)
        fsync_directory(self.history_path)

    def _keep_hand_made_model(self, versions: list[LocalVersion], unless: str = "") -> bool:
        """A model.ubj put here by hand (no publisher recorded it), about to be replaced or
        removed, becomes a version of the history, so that ``rollback`` can bring it back.
        It is validated first, with its metadata.json, as every version is: the router
        trusts the bytes of history entries. One that does not validate is kept in
        ``.history/replaced/`` instead. Nothing is kept when it is the content ``unless``
        (the SHA-256 about to be published anyway). Whether an entry was added."""
        try:
            size = self.live_path.stat().st_size
        except FileNotFoundError:
            return False
        too_large = self.validate_up_to is not None and size > self.validate_up_to
        if too_large or self.history_limit == 0:  # an entry would be pruned at once
            self._keep_replaced(self.live_path)
            return False
        data = self.live_path.read_bytes()
        metadata_path = self.path / METADATA_FILE
        metadata = metadata_path.read_bytes() if metadata_path.is_file() else None
        try:
            kept = validate_model(
                data, metadata=metadata, prefer="embedded", nthread=self.nthread
            ).data
        except RouterError:
            self._keep_replaced(self.live_path)
            return False
        if hashlib.sha256(kept).hexdigest() == unless:
            return False
        self._add_to_history(self._entry_path(versions, kept), kept)
        return True

    def _keep_replaced(self, source: Path) -> None:
        """A copy of ``source`` in ``.history/replaced/``, streamed (it may be large)."""
        replaced = self.history_path / REPLACED_DIR
        replaced.mkdir(parents=True, exist_ok=True)
        stamp = datetime.fromtimestamp(self._clock(), UTC).strftime(STAMP_FORMAT)
        with source.open("rb") as handle:
            copy = write_temp_file(
                replaced, iter(lambda: handle.read(COPY_CHUNK_BYTES), b""), prefix=TEMP_PREFIX
            )
        copy.replace(replaced / f"{stamp}-{source.name}")
        fsync_directory(replaced)

    def _retire_replaced_layouts(self) -> None:
        """Move hand-made files that ``model.ubj`` now supersedes into the history.

        They would otherwise come back to life when the model is unpublished (``model.json``,
        ``<name>.ubj``), or be read beside the published file (a stale ``metadata.json``).
        """
        candidates = [self.path / f"{DIR_MODEL_STEM}.json", self.path / METADATA_FILE]
        candidates += [self.root / f"{self.name}{suffix}" for suffix, _ in SUFFIXES]
        replaced = self.history_path / REPLACED_DIR
        stamp = datetime.fromtimestamp(self._clock(), UTC)
        for path in candidates:
            if not path.is_file():
                continue
            replaced.mkdir(parents=True, exist_ok=True)
            path.replace(replaced / f"{stamp.strftime(STAMP_FORMAT)}-{path.name}")
            fsync_directory(path.parent)

    def _prune_history(self) -> None:
        """Keep the live version and the ``history_limit`` newest others."""
        earlier = [version for version in self.versions() if not version.live]
        for version in earlier[self.history_limit :]:
            with contextlib.suppress(FileNotFoundError):
                version.path.unlink()


def list_versions(root: Path, name: str) -> list[LocalVersion]:
    """The published versions of ``name`` under ``root``, newest first; [] when none."""
    validate_name(name)
    folder = Path(root) / name
    try:
        entries = list(os.scandir(folder / HISTORY_DIR))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise StoreUnavailable(f"cannot list the history of {name!r}: {exc.strerror}") from exc
    found = []
    for entry in entries:
        match = HISTORY_NAME.fullmatch(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False):
            continue
        published_at = parse_stamp(match["stamp"])
        if published_at is None:
            continue
        found.append((int(match["number"]), match, published_at, entry.stat(follow_symlinks=False)))
    found.sort(key=lambda item: item[0], reverse=True)
    live_number = _live_number(folder / LIVE_FILE, [(n, m["sha"], s) for n, m, _, s in found])
    return [
        LocalVersion(
            number=number,
            published_at=published_at,
            sha256=match["sha"],
            size=stat.st_size,
            path=folder / HISTORY_DIR / match.group(0),
            live=number == live_number,
        )
        for number, match, published_at, stat in found
    ]


def _live_number(live_path: Path, entries: list[tuple[int, str, os.stat_result]]) -> int | None:
    """Which history entry ``model.ubj`` is: the same inode (a hard link, as publishers
    before copies made them), or else the newest entry with the same content."""
    try:
        live = live_path.stat()
    except FileNotFoundError:
        return None
    for number, _, stat in entries:
        if (stat.st_dev, stat.st_ino) == (live.st_dev, live.st_ino):
            return number
    # Hashed only when an entry is as large: a publish lists its versions several times,
    # and a file written by hand over a 100 MB model should not be read for each.
    same_size = [(number, sha) for number, sha, stat in entries if stat.st_size == live.st_size]
    if not same_size:
        return None
    digest = _digest_of(live_path, live)
    return next((number for number, sha in same_size if sha == digest), None)


# SHA-256 of live files by what their stat says; a write changes the change time (ctime),
# which no tool can set back, so a stat that matches is the same bytes.
_DIGESTS: dict[tuple[int, int, int, int, int], str] = {}
_MAX_DIGESTS = 64


def _digest_of(path: Path, stat: os.stat_result) -> str:
    key = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
    digest = _DIGESTS.get(key)
    if digest is None:
        with path.open("rb") as handle:  # streamed: the inbox holds an upload meanwhile
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        if len(_DIGESTS) >= _MAX_DIGESTS:
            _DIGESTS.clear()
        _DIGESTS[key] = digest
    return digest


def rollback_target(versions: list[LocalVersion], to: int | None) -> LocalVersion:
    """The version ``rollback`` republishes: ``to``, or else the newest one before the live
    one with different content (with nothing live: the newest, which restores it)."""
    if to is not None:
        for version in versions:
            if version.number == to:
                return version
        known = ", ".join(str(version.number) for version in versions[:10]) or "none"
        raise VersionNotFound(f"there is no version {to}; the versions kept are: {known}")
    live = next((version for version in versions if version.live), None)
    if live is None:
        if versions:
            return versions[0]
        raise NothingToRollBack("no version has been published here")
    for version in versions:
        if version.number < live.number and version.sha256 != live.sha256:
            return version
    raise NothingToRollBack(f"version {live.number} is live and no earlier version is kept")


def rollback(folder: ModelFolder, to: int | None = None, *, nthread: int = 1) -> RollbackResult:
    """Republish an earlier version through the same checks as a new one."""
    target = rollback_target(folder.versions(), to)
    data = target.path.read_bytes()
    if hashlib.sha256(data).hexdigest() != target.sha256:
        # Bit rot, a hand edit, or (in a folder published when entries were hard links of
        # the live file) a copy onto model.ubj, which wrote into the entry too.
        raise VersionDamaged(
            f"version {target.number}'s bytes are not the ones published as it (written over "
            "in place); roll back to another version, or publish the model file again"
        )
    validated = validate_model(data, nthread=nthread)
    return RollbackResult(target, folder.publish(validated.data))
