"""What exists on disk: model names, their files, and fingerprints that say when one changed.

Two layouts live side by side under the model root::

    <root>/<name>.ubj | <root>/<name>.json                   a flat file
    <root>/<name>/model.ubj | model.json [+ metadata.json]   a directory

This module only stats and resolves paths; it never parses a model. Names are checked
against one pattern before any path is built, and every resolved path must stay inside the
root, so neither ``..`` nor a symlink can reach files elsewhere.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from router.errors import InvalidModelName, ModelNotFound, ModelOutsideRoot, StoreUnavailable

# Re-exported: the store's callers find files by these.
from router.xgb.formats import SUFFIXES as SUFFIXES
from router.xgb.formats import ModelFormat as ModelFormat

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
DIR_MODEL_STEM = "model"
METADATA_FILE = "metadata.json"


def validate_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidModelName(
            f"{name[:64]!r} is not a model name: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """Identity of one file version. ``os.replace`` gives a new inode, so a swapped-in file is
    seen as changed even when its size and mtime happen to match the old one."""

    device: int
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, stat: os.stat_result) -> Fingerprint:
        return cls(stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


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
    def version_key(self) -> tuple[Fingerprint, Fingerprint | None]:
        """Changes whenever the model or its metadata changes."""
        return (self.fingerprint, self.metadata_fingerprint)


class ModelStore:
    """Resolves model names to files under one root folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

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
        """Every servable model, sorted by name; one scan of the root and one resolve each.
        Hidden files (publishers' temp files) never match."""
        self._real_root()  # a missing or unmounted root is a 503, not an empty list
        try:
            entries = list(os.scandir(self.root))
        except OSError as exc:
            raise StoreUnavailable(f"cannot list the model root: {exc.strerror}") from exc
        refs: dict[str, ModelRef] = {}
        for entry in entries:
            name = _candidate_name(entry)
            if name is None or name in refs:
                continue
            try:
                refs[name] = self.resolve(name)
            except (ModelNotFound, ModelOutsideRoot):
                continue  # not a model, removed meanwhile, or leaving the root
        return [refs[name] for name in sorted(refs)]

    def check(self) -> None:
        """Raise ``StoreUnavailable`` unless the root is a readable folder (EFS mounted)."""
        self._real_root()

    def _real_root(self) -> Path:
        try:
            real_root = self.root.resolve(strict=True)
        except OSError as exc:
            raise StoreUnavailable(
                f"model root {str(self.root)!r} is not available: {exc.strerror}"
            ) from exc
        if not real_root.is_dir():
            raise StoreUnavailable(f"model root {str(self.root)!r} is not a folder")
        return real_root

    def _ref(self, name: str, path: Path, fmt: ModelFormat, real_root: Path) -> ModelRef | None:
        file_stat = _stat_regular(path, real_root)
        if file_stat is None:
            return None
        layout: Literal["file", "directory"] = "file" if path.parent == self.root else "directory"
        metadata_path = metadata_stat = None
        if layout == "directory":
            candidate = path.parent / METADATA_FILE
            metadata_stat = _stat_regular(candidate, real_root)
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


def _stat_regular(path: Path, real_root: Path) -> os.stat_result | None:
    """Stat a regular file that really lies inside ``real_root``; ``None`` if there is none."""
    try:
        result = path.stat()
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            return None
        raise StoreUnavailable(f"cannot read {path.name!r}: {exc.strerror}") from exc
    if not path.resolve().is_relative_to(real_root):
        raise ModelOutsideRoot(f"{path.name!r} resolves to a file outside the model root")
    if not stat.S_ISREG(result.st_mode):
        return None
    return result


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
