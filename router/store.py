"""What exists on disk: model names, their files, fingerprints that say when one changed,
and the bytes of one version, read so that no other writer can swap what is read.

Two layouts live side by side under the model root::

    <root>/<name>.ubj | <root>/<name>.json                   a flat file
    <root>/<name>/model.ubj | model.json [+ metadata.json]   a directory
    <root>/<name>/.history/<number>-<time>-<sha256>.ubj      versions a publisher recorded

``resolve`` and ``list`` only stat; ``read`` opens, and everything it says about a file
comes from the open descriptor, never from a path looked at earlier: EFS is shared, and
another writer may swap a file, a FIFO or a symlink in between two calls. Names are checked
against one pattern before any path is built, and whatever is opened must lie inside the
root, so neither ``..`` nor a symlink can reach files elsewhere. This module never parses a
model.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from router.content_hash import ContentHash
from router.errors import (
    InvalidModelFile,
    ModelNotFound,
    ModelOutsideRoot,
    ModelTooLarge,
    RouterError,
    StoreUnavailable,
)
from router.names import NAME_PATTERN as NAME_PATTERN  # re-exported: the name rules
from router.names import validate_name as validate_name

if TYPE_CHECKING:
    from collections.abc import Callable

# Re-exported: the store's callers find files by these.
from router.xgb.formats import SUFFIXES as SUFFIXES
from router.xgb.formats import ModelFormat as ModelFormat
from router.xgb.pickles import CONVERSION_RECIPE

DIR_MODEL_STEM = "model"
# Where a trained model saved with pickle or joblib usually lies; named in a 404's detail.
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
METADATA_FILE = "metadata.json"
# The publisher's record of every version it wrote: file names carry the SHA-256.
HISTORY_DIR = ".history"
HISTORY_NAME = re.compile(r"(?P<number>\d{6,})-(?P<stamp>\d{8}T\d{6}Z)-(?P<sha>[0-9a-f]{64})\.ubj")
# Non-blocking: opening a FIFO swapped in by another writer must not wait for a writer of
# its own. No controlling terminal, whatever a symlink points at.
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
_HAS_PROC_FD = Path("/proc/self/fd").is_dir()
# History listings a store keeps (one per model folder read): bounded, against roots of
# very many models.
_MAX_HISTORIES = 4096


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """Identity of one file version. ``os.replace`` gives a new inode, so a swapped-in file is
    seen as changed even when its size and mtime happen to match the old one; every write
    moves the change time, which no tool can set back (``rsync --inplace`` restores mtime)."""

    device: int
    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, stat: os.stat_result) -> Fingerprint:
        return cls(stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


VersionKey = tuple[Fingerprint, Fingerprint | None]


@dataclass(frozen=True, slots=True)
class ModelRef:
    """One model's files as they are on disk right now."""

    name: str
    path: Path
    format: ModelFormat
    layout: Literal["file", "directory"]
    fingerprint: Fingerprint
    metadata_path: Path | None = None
    metadata_fingerprint: Fingerprint | None = None

    @property
    def version_key(self) -> VersionKey:
        """Changes whenever the model or its metadata changes."""
        return (self.fingerprint, self.metadata_fingerprint)


@dataclass(frozen=True, slots=True)
class ModelFiles:
    """The bytes of one version of a model, as read through checked descriptors.

    ``ref`` describes what was opened: its fingerprints come from the descriptors.
    ``published`` says a publisher recorded exactly these bytes (their SHA-256 is in the
    model's history), so they passed the publisher's checks already. ``sha256`` waits for
    the hash where the store left it to a background thread (router.content_hash).
    """

    ref: ModelRef
    data: bytes
    metadata: bytes | None
    published: bool
    content_hash: ContentHash = field(repr=False)

    @property
    def sha256(self) -> str:
        return self.content_hash.hexdigest()


@dataclass(frozen=True, slots=True)
class StoreListing:
    """Every model in the root: the readable ones, and the error of each one that is not."""

    refs: list[ModelRef]
    errors: dict[str, RouterError]


class FileRefused(InvalidModelFile):
    """What was opened cannot be a version of the model (not a regular file, changed while
    read, damaged); ``version_key`` is what was opened, for remembering the failure."""

    def __init__(self, detail: str, version_key: VersionKey) -> None:
        super().__init__(detail)
        self.version_key = version_key


class FileTooLarge(ModelTooLarge):
    """Refused from its size before a byte was read."""

    def __init__(self, detail: str, version_key: VersionKey) -> None:
        super().__init__(detail)
        self.version_key = version_key


class ModelStore:
    """Resolves model names to files under one root folder, and reads them."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        # The root's real path, and the folder it was found for (see _real_root).
        self._resolved_root: tuple[tuple[int, int, int], Path] | None = None
        # Per history folder: the folder as listed, and the SHA-256s recorded in it then.
        self._recorded: dict[Path, tuple[tuple[int, int, int, int], frozenset[str]]] = {}

    def resolve(self, name: str) -> ModelRef:
        """The files of ``name`` now; raises ``ModelNotFound`` when it has none."""
        validate_name(name)
        real_root = self._real_root()
        directory = self.root / name
        for suffix, fmt in SUFFIXES:
            ref = self._ref(name, directory / f"{DIR_MODEL_STEM}{suffix}", fmt, real_root)
            if ref is not None:
                return ref
        for suffix, fmt in SUFFIXES:
            ref = self._ref(name, self.root / f"{name}{suffix}", fmt, real_root)
            if ref is not None:
                return ref
        raise ModelNotFound(f"no model named {name!r} in the model store")

    # names() comes first: below a method called `list`, `list[...]` in annotations means it.
    def names(self) -> list[str]:
        return [ref.name for ref in self.list()]

    def list(self) -> list[ModelRef]:
        """Every readable model, sorted by name (see ``scan``)."""
        return self.scan().refs

    def scan(self) -> StoreListing:
        """Every servable model, sorted by name; one scan of the root and one resolve each.
        Hidden files (publishers' temp files) never match. A model that cannot be read
        (a folder without permissions) is listed in ``errors``, not allowed to hide the
        others."""
        self._real_root()  # a missing or unmounted root is a 503, not an empty list
        try:
            entries = list(os.scandir(self.root))
        except OSError as exc:
            raise StoreUnavailable(f"cannot list the model root: {exc.strerror}") from exc
        refs: dict[str, ModelRef] = {}
        errors: dict[str, RouterError] = {}
        for entry in entries:
            name = _candidate_name(entry)
            if name is None or name in refs or name in errors:
                continue
            try:
                refs[name] = self.resolve(name)
            except (ModelNotFound, ModelOutsideRoot):
                continue  # not a model, removed meanwhile, or leaving the root
            except StoreUnavailable as exc:
                errors[name] = exc
        return StoreListing([refs[name] for name in sorted(refs)], errors)

    def check(self) -> None:
        """Raise ``StoreUnavailable`` unless the root is a readable folder (EFS mounted)."""
        self._real_root()

    def read(
        self, ref: ModelRef, *, size_limit: Callable[[ModelFormat], int] | None = None
    ) -> ModelFiles:
        """The bytes of ``ref``'s files now, and their fingerprints as opened.

        Each file is opened first (non-blocking), and then the descriptor is checked: a
        regular file, inside the root, no larger than ``size_limit(format)`` bytes. Size and
        fingerprint come from the descriptor, and the read stops at the size it reported:
        a file swapped, grown or rewritten while it is read is refused. Raises
        ``FileRefused``, ``FileTooLarge``, ``ModelOutsideRoot`` or ``StoreUnavailable``.
        """
        real_root = self._real_root()
        limit = size_limit(ref.format) if size_limit is not None else None
        data, fingerprint = _read_inside(ref.path, real_root, limit, ref)
        metadata: bytes | None = None
        metadata_fingerprint: Fingerprint | None = None
        if ref.metadata_path is not None:
            with contextlib.suppress(FileNotFoundError):
                metadata, metadata_fingerprint = _read_inside(
                    ref.metadata_path, real_root, limit, ref
                )
        opened = replace(ref, fingerprint=fingerprint, metadata_fingerprint=metadata_fingerprint)
        content_hash = ContentHash(data)
        published = False
        if ref.layout == "directory":
            # A version read from the history itself (a pinned one) is checked against it.
            folder = ref.path.parent
            history = folder if folder.name == HISTORY_DIR else folder / HISTORY_DIR
            published = self._published(history, content_hash, opened)
        if not published:
            # Only the version id needs the hash now, after the checks and the parse.
            content_hash.start()
        return ModelFiles(opened, data, metadata, published, content_hash)

    def read_named(self, name: str) -> ModelFiles:
        """The bytes of model ``name`` now: ``read(resolve(name))``, without a size limit."""
        return self.read(self.resolve(name))

    def _real_root(self) -> Path:
        """The root's real path; raises ``StoreUnavailable`` unless it is a folder now.

        The root is stat-ed on every call (an unmounted EFS shows here), but its path is
        resolved again only when the stat shows another folder than the one it was resolved
        for: a resolve looks at every component of the path, and this runs on every read.
        The change time is in that identity, so a folder made anew with a reused inode
        number is resolved again too. A path resolved for this very folder names it still,
        so the checks against it accept only what lies in the root as it is now."""
        try:
            root_stat = os.stat(self.root)  # noqa: PTH116 - os.stat_result, not a Path's
        except OSError as exc:
            raise StoreUnavailable(
                f"model root {str(self.root)!r} is not available: {exc.strerror}"
            ) from exc
        if not stat.S_ISDIR(root_stat.st_mode):
            raise StoreUnavailable(f"model root {str(self.root)!r} is not a folder")
        identity = (root_stat.st_dev, root_stat.st_ino, root_stat.st_ctime_ns)
        resolved = self._resolved_root
        if resolved is not None and resolved[0] == identity:
            return resolved[1]
        try:
            real_root = Path(os.path.realpath(self.root, strict=True))
            real_stat = real_root.stat()
        except OSError as exc:
            raise StoreUnavailable(
                f"model root {str(self.root)!r} is not available: {exc.strerror}"
            ) from exc
        # Swapped while it was resolved: this path is not known to be that folder's.
        if (real_stat.st_dev, real_stat.st_ino, real_stat.st_ctime_ns) == identity:
            self._resolved_root = (identity, real_root)
        return real_root

    def _published(self, history: Path, content_hash: ContentHash, opened: ModelRef) -> bool:
        """``_check_published``, without listing ``history`` again while the folder is as it
        was when listed: a stat instead of a listing on every read of a published version.
        Adding or pruning an entry changes the folder's times, and so brings a new listing."""
        try:
            folder = os.lstat(history)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StoreUnavailable(
                f"cannot list the history of {opened.name!r}: {exc.strerror}"
            ) from exc
        if not stat.S_ISDIR(folder.st_mode):  # a link (out of the root, maybe): not a record
            return False
        identity = (folder.st_dev, folder.st_ino, folder.st_mtime_ns, folder.st_ctime_ns)
        listed = self._recorded.get(history)
        if listed is not None and listed[0] == identity:
            if not listed[1]:
                return False
            if content_hash.hexdigest() in listed[1]:
                return True
        # Listed again on a miss: a folder time too coarse to show an entry added since.
        published, recorded = _check_published(history, content_hash, opened)
        if len(self._recorded) >= _MAX_HISTORIES:
            self._recorded.clear()
        self._recorded[history] = (identity, recorded)
        return published

    def _ref(self, name: str, path: Path, fmt: ModelFormat, real_root: Path) -> ModelRef | None:
        file_stat = _stat_regular(path, self.root, real_root)
        if file_stat is None:
            return None
        layout: Literal["file", "directory"] = "file" if path.parent == self.root else "directory"
        metadata_path = metadata_stat = None
        if layout == "directory":
            candidate = path.parent / METADATA_FILE
            metadata_stat = _stat_regular(candidate, self.root, real_root)
            if metadata_stat is not None:
                metadata_path = candidate
        return ModelRef(
            name=name,
            path=path,
            format=fmt,
            layout=layout,
            fingerprint=Fingerprint.of(file_stat),
            metadata_path=metadata_path,
            metadata_fingerprint=Fingerprint.of(metadata_stat) if metadata_stat else None,
        )


def _stat_regular(path: Path, root: Path, real_root: Path) -> os.stat_result | None:
    """Stat a regular file that really lies inside ``real_root``, the real path of ``root``
    (which ``path`` is below); ``None`` if there is none."""
    try:
        result = os.stat(path)  # noqa: PTH116 - os.stat_result, not a Path's
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            return None
        raise StoreUnavailable(f"cannot read {path.name!r}: {exc.strerror}") from exc
    if not _no_link_below(path, root) and not path.resolve().is_relative_to(real_root):
        raise ModelOutsideRoot(f"{path.name!r} resolves to a file outside the model root")
    if not stat.S_ISREG(result.st_mode):
        return None
    return result


def _no_link_below(path: Path, root: Path) -> bool:
    """Whether neither ``path`` nor a folder between it and ``root`` is a symlink: then it
    lies inside the root, and resolving every component of its path (a stat each, from the
    file system's root down) would only say so again. This runs for every file a resolve
    looks at; what ``read`` opens is checked again from its descriptor."""
    try:
        while path != root:
            if path.parent == path or stat.S_ISLNK(os.lstat(path).st_mode):
                return False  # not below the root after all, or a symlink
            path = path.parent
    except OSError:
        return False
    return True


def _read_inside(
    path: Path, real_root: Path, limit: int | None, ref: ModelRef
) -> tuple[bytes, Fingerprint]:
    """Open ``path``, check the descriptor, and read exactly the size it reports."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        if path == ref.path:
            raise FileRefused(
                f"{path.name} disappeared before it could be read", ref.version_key
            ) from None
        raise
    except OSError as exc:
        raise StoreUnavailable(f"cannot open {path.name!r}: {exc.strerror}") from exc
    try:
        opened = os.fstat(fd)
        before = Fingerprint.of(opened)
        key = _key_with(ref, path, before)
        if not _opened_inside(fd, path, real_root):
            raise ModelOutsideRoot(f"{path.name!r} resolves to a file outside the model root")
        if not stat.S_ISREG(opened.st_mode):
            raise FileRefused(f"{path.name} is not a regular file", key)
        if limit is not None and before.size > limit:
            raise FileTooLarge(
                f"model {ref.name!r} is a {before.size / 2**20:.0f} MiB {ref.format.upper()} "
                f"file; at most {limit / 2**20:.0f} MiB fit the cache budget "
                "(ROUTER_CACHE_MAX_BYTES)",
                key,
            )
        # One byte more than reported: a file that grew while read shows it.
        data = _read_up_to(fd, before.size + 1)
        after = Fingerprint.of(os.fstat(fd))
    finally:
        os.close(fd)
    # The change time is left out: a publisher renaming over the file or pruning its history
    # moves it (the link count changes) without touching the bytes being read.
    if _content_identity(before) != _content_identity(after) or len(data) != after.size:
        raise FileRefused(
            f"{path.name} changed while it was read; still being written?",
            _key_with(ref, path, after),
        )
    return data, after


def _content_identity(fingerprint: Fingerprint) -> tuple[int, int, int, int]:
    return (fingerprint.device, fingerprint.inode, fingerprint.size, fingerprint.mtime_ns)


def _key_with(ref: ModelRef, path: Path, fingerprint: Fingerprint) -> VersionKey:
    if path == ref.path:
        return (fingerprint, ref.metadata_fingerprint)
    return (ref.fingerprint, fingerprint)


def _read_up_to(fd: int, count: int) -> bytes:
    """Up to ``count`` bytes from ``fd``, fewer only at the end of the file. One ``os.read``
    usually returns them all; NFS (EFS) or a signal can cut a read short, so it loops.
    Unbuffered: a buffered reader copies what it read once more."""
    data = os.read(fd, count)
    if not data or len(data) == count:
        return data
    parts = [data]
    missing = count - len(data)
    while missing > 0:
        chunk = os.read(fd, missing)
        if not chunk:
            break
        parts.append(chunk)
        missing -= len(chunk)
    return b"".join(parts)


def _opened_inside(fd: int, path: Path, real_root: Path) -> bool:
    """Whether the file behind ``fd`` (not whatever ``path`` names now) lies inside the root."""
    opened: str | None = None
    if _HAS_PROC_FD:
        # Plain strings, not pathlib: this runs on every read of a model.
        opened = os.readlink(f"/proc/self/fd/{fd}")  # noqa: PTH115
    elif sys.platform == "darwin":
        import fcntl

        raw = fcntl.fcntl(fd, fcntl.F_GETPATH, bytes(1024))
        opened = os.fsdecode(raw.rstrip(b"\0"))
    if opened is not None:
        root = str(real_root)
        return opened == root or opened.startswith(root.rstrip(os.sep) + os.sep)
    # Neither: compare the descriptor with the file the path leads to now.
    try:
        now = path.resolve(strict=True)
        same = os.path.samestat(os.fstat(fd), now.stat())
    except OSError:
        return False
    return same and now.is_relative_to(real_root)


def _check_published(
    history: Path, content_hash: ContentHash, opened: ModelRef
) -> tuple[bool, frozenset[str]]:
    """Whether the publisher recorded the bytes' SHA-256 in ``history``, and every SHA-256
    it recorded there; hashed here only if it recorded any. A published live file written
    in place since (``cp new.ubj model.ubj``) holds bytes no entry names: it is then a
    hand-placed file like any other, served once it has settled and passed every check."""
    try:
        entries = [(entry, HISTORY_NAME.fullmatch(entry.name)) for entry in os.scandir(history)]
    except (FileNotFoundError, NotADirectoryError):  # no history, or a file named like it
        return False, frozenset()
    except OSError as exc:
        raise StoreUnavailable(
            f"cannot list the history of {opened.name!r}: {exc.strerror}"
        ) from exc
    recorded = [(entry, match) for entry, match in entries if match is not None]
    shas = frozenset(match["sha"] for _, match in recorded)
    if not recorded:
        return False, shas
    return content_hash.hexdigest() in shas, shas


def _candidate_name(entry: os.DirEntry[str]) -> str | None:
    if entry.name.startswith("."):
        return None
    try:
        is_dir = entry.is_dir()
    except OSError:
        return None
    if is_dir:
        return entry.name if NAME_PATTERN.fullmatch(entry.name) else None
    for suffix, _ in SUFFIXES:
        if entry.name.endswith(suffix):
            stem = entry.name[: -len(suffix)]
            return stem if NAME_PATTERN.fullmatch(stem) else None
    return None


def pickle_hint(root: Path, name: str) -> str:
    """What to say when the file where ``name``'s model would be is a pickle, which is what
    most trained models on disk are: never loaded, so no model, but the likely reason for a
    request's 404. Asked only by a request's lookup (a few stats on the model root), not by
    scans; a link is not followed."""
    for suffix in PICKLE_SUFFIXES:
        for relative in (f"{name}/{DIR_MODEL_STEM}{suffix}", f"{name}{suffix}"):
            try:
                regular = stat.S_ISREG(os.lstat(root / relative).st_mode)
            except OSError:
                continue
            if regular:
                return f"; {relative} is a pickle, which is never loaded: {CONVERSION_RECIPE}"
    return ""
