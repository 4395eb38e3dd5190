"""The SHA-256 of a model's bytes, hashed beside the work that needs it last.

A cache miss of content no publisher recorded hashes the bytes only for the version id it
reports once the model is loaded; the checks and XGBoost's parse come first. ``hashlib``
lets go of the GIL while it hashes a large buffer, and XGBoost's parse runs in C through
ctypes, which lets go of it too: on a machine with a second core (a Lambda function of more
than 1,769 MB has one) the hash then adds nearly nothing to the miss. Where
the hash decides something first (is this a version the publisher recorded?) it is taken
on the spot, in the caller's thread.
"""

from __future__ import annotations

import hashlib
import os
import threading
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

# Below this, handing the bytes to another thread costs more than hashing them here.
BACKGROUND_MIN_BYTES: Final = 256 * 1024
# Loads in flight at once are few: the server loads in its worker threads, Lambda one at a
# time. Two threads keep a second load's hash from waiting behind the first's.
_WORKERS: Final = 2

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _background() -> ThreadPoolExecutor:
    global _executor  # made on first use: most processes never need it
    with _executor_lock:
        if _executor is None:
            # Imported here: a cold start that never hashes in the background skips it.
            from concurrent.futures import ThreadPoolExecutor

            _executor = ThreadPoolExecutor(_WORKERS, thread_name_prefix="router-sha256")
        return _executor


def _forget_executor() -> None:
    # A forked child has none of the parent's threads: it makes an executor of its own.
    global _executor
    _executor = None


os.register_at_fork(after_in_child=_forget_executor)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ContentHash:
    """The hex SHA-256 of ``data``: hashed now by ``hexdigest`` unless ``start`` handed it to
    a background thread first, in which case ``hexdigest`` waits for that thread."""

    __slots__ = ("_data", "_digest", "_pending")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._digest: str | None = None
        self._pending: Future[str] | None = None

    def start(self) -> None:
        """Hash in the background, where the bytes are large enough to be worth it."""
        if (
            self._digest is None
            and self._pending is None
            and len(self._data) >= BACKGROUND_MIN_BYTES
        ):
            self._pending = _background().submit(_sha256, self._data)

    def hexdigest(self) -> str:
        # Two threads asking at once may both hash: the same answer, and no lock per read.
        if self._digest is None:
            pending = self._pending
            self._digest = pending.result() if pending is not None else _sha256(self._data)
        return self._digest
