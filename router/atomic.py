"""Writing a file so that a reader sees the old content or the new one whole, never a part.

The data goes to a hidden temporary file in the same folder (a rename across file systems
is a copy), is fsynced, and is renamed over the target; then the folder is fsynced, so the
rename survives a crash. The router serves a file renamed into place at once (a new inode),
so every writer of model or metadata files goes through here.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

FILE_MODE = 0o644  # readers may be another user: the router's access point, a web server
TEMP_PREFIX = ".tmp-"


def write_atomically(
    path: Path, data: bytes | Iterable[bytes], *, temp_prefix: str = TEMP_PREFIX
) -> None:
    """Replace ``path`` with ``data`` (bytes, or chunks of them) in one rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = write_temp_file(path.parent, data, prefix=temp_prefix)
    try:
        temp.replace(path)
        fsync_directory(path.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def write_temp_file(folder: Path, data: bytes | Iterable[bytes], *, prefix: str) -> Path:
    """A new hidden file in ``folder`` holding exactly ``data``, fsynced; the caller renames
    or links it into place. Its name starts with ``prefix`` and names this process, so a
    cleanup can tell whose it is."""
    path = temp_path(folder, prefix)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in [data] if isinstance(data, bytes) else data:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        raise
    return path


def temp_path(folder: Path, prefix: str = TEMP_PREFIX) -> Path:
    """A name for a new hidden file in ``folder`` that names this process."""
    return folder / f"{prefix}{os.getpid()}-{secrets.token_hex(6)}"


def fsync_directory(path: Path) -> None:
    """Make a rename or unlink in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
