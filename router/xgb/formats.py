"""The model file formats the router reads, in one table: suffix, checks, memory estimate.

Store, loader, registry and publisher look a format up here instead of comparing ``"ubj"``
and ``"json"`` strings. Each format's checks run in two steps, so that the value checks
reuse what the structural check found: the UBJSON walk's :class:`~router.xgb.checks.ubj.
UbjSkeleton`, JSON's parsed document.

Model files arrive on a shared file system and may be half-written or corrupt, and XGBoost's
readers trust the lengths and indices they read: :func:`check_model_bytes` is what keeps such
a file from crashing the process, so every byte handed to XGBoost has passed it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias

from router.xgb.checks import json as json_checks
from router.xgb.checks import ubj, ubj_values
from router.xgb.checks.rules import ModelFormatError, show_byte
from router.xgb.pickles import pickle_refusal

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "FORMATS",
    "MEMORY_BASE_BYTES",
    "MEMORY_PER_UBJ_BYTE",
    "SUFFIXES",
    "FileFormat",
    "ModelFormat",
    "ModelFormatError",
    "check_model_bytes",
    "sniff_format",
]

ModelFormat: TypeAlias = Literal["ubj", "json"]
Buffer: TypeAlias = bytes | bytearray | memoryview

# Measured resident memory of a loaded booster is 0.9-1.35x its UBJ size (~48 bytes a node
# plus ~370 a tree), from 50 to 1000 trees; 1.4x keeps the byte budget an upper bound.
MEMORY_PER_UBJ_BYTE: Final = 1.4
MEMORY_BASE_BYTES: Final = 64 * 1024

_OBJECT_OPEN: Final = 0x7B  # {
_JSON_WHITESPACE: Final = b" \t\r\n"


@dataclass(frozen=True, slots=True)
class FileFormat:
    """One format: its file suffix, its two checks, and what its file size says about the
    memory a loaded model takes."""

    name: ModelFormat
    suffix: str
    # Structure: what XGBoost's parser needs to read the file safely. Returns what the value
    # check reads the values through.
    check_structure: Callable[[bytes], Any]
    # Values: the numbers XGBoost uses as indices and sizes (router.xgb.checks.rules).
    check_values: Callable[[bytes, Any], None]
    # Memory of the loaded model from the file size, before parsing; None when the file
    # size does not bound it.
    memory_before_parse: Callable[[int], float | None]

    def check(self, data: Buffer) -> None:
        """Both checks; raises :class:`ModelFormatError`."""
        buf = data if isinstance(data, bytes) else bytes(data)
        self.check_values(buf, self.check_structure(buf))


def ubj_memory(ubj_bytes: int) -> float:
    """The memory budget of a loaded model whose UBJSON form has ``ubj_bytes`` bytes."""
    return ubj_bytes * MEMORY_PER_UBJ_BYTE + MEMORY_BASE_BYTES


FORMATS: Final[dict[ModelFormat, FileFormat]] = {
    "ubj": FileFormat(
        "ubj", ".ubj", ubj.walk_ubj, ubj_values.check_ubj_values, memory_before_parse=ubj_memory
    ),
    "json": FileFormat(
        "json",
        ".json",
        json_checks.load_json,
        lambda _, document: json_checks.check_json_values(document),
        # JSON is larger on disk than in memory: only the loaded size tells.
        memory_before_parse=lambda _: None,
    ),
}
# Suffix and format, in the order the store tries them. UBJ first: it loads many times
# faster than JSON, so it wins when both exist.
SUFFIXES: Final[tuple[tuple[str, ModelFormat], ...]] = tuple(
    (entry.suffix, name) for name, entry in FORMATS.items()
)


def check_model_bytes(data: Buffer, fmt: ModelFormat, *, trusted: bool = False) -> None:
    """Check ``data`` as a model in format ``fmt``: its structure, then the values XGBoost
    uses as indices and sizes without checking them. Raises :class:`ModelFormatError`.

    ``trusted`` says that the caller knows, by a content hash of these very bytes, that they
    passed both checks before: a version the publisher validated and recorded. Then nothing
    is walked again. That is as safe as the checks themselves: a torn read, a truncation or
    a flipped bit changes the hash, so bytes that match it are the bytes that were checked.
    """
    entry = FORMATS.get(fmt)
    if entry is None:  # a caller's bug, not a bad file
        raise ValueError(f"unknown model format {fmt!r}; expected one of {sorted(FORMATS)}")
    if not trusted:
        entry.check(data)


def sniff_format(data: Buffer) -> ModelFormat:
    """Tell a JSON model from a UBJSON one by its first two bytes.

    Both are objects, so the first byte is ``{``; XGBoost reads a model from memory only if
    it is, so leading whitespace or a byte-order mark is refused too. The second byte is the
    ``L`` of the first key's length in UBJSON, and the ``"`` of the first key or whitespace
    in JSON. ``{}`` is the same empty object in both and is called UBJSON; it is no model
    either way. Callers normally know the format from the file's suffix; this is for a file
    whose suffix may be wrong. Raises :class:`ModelFormatError` for anything else.
    """
    head = bytes(data[:2])
    if not head:
        raise ModelFormatError("empty file: not an XGBoost model", 0)
    if head[0] != _OBJECT_OPEN:
        if (refusal := pickle_refusal(data)) is not None:
            raise ModelFormatError(refusal)
        raise ModelFormatError(
            f"an XGBoost model's first byte is '{{', this file's is {show_byte(head[0])}", 0
        )
    if len(head) == 1 or head[1] in b"L}":
        return "ubj"
    if head[1] in b'"' + _JSON_WHITESPACE:
        return "json"
    raise ModelFormatError(
        f"'{{' followed by {show_byte(head[1])} starts neither a JSON nor a UBJSON model", 1
    )
