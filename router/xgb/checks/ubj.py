"""The structural check of UBJSON model files, run before any byte reaches XGBoost.

Model files arrive on a shared file system and may be half-written or corrupt. XGBoost's
UBJSON reader trusts every length it reads: a file cut just after an int64 length marker makes
it read past the buffer and then allocate or copy a garbage length, which ends in
``std::bad_alloc`` or a segfault and takes the whole process down. So loaders call
:func:`router.xgb.formats.check_model_bytes` first; it raises :class:`ModelFormatError` for
anything XGBoost must not see: first the structure, here, then the values XGBoost uses as
indices and sizes, in :mod:`router.xgb.checks.ubj_values`.

The UBJSON check is a complete walk of the document in the dialect XGBoost reads and writes
(``UBJReader`` / ``UBJWriter`` in ``src/common/json.cc``):

* object: ``{``, keys and values, ``}``. A key is ``L``, a big-endian int64 byte length and
  the bytes; XGBoost reads no other key form and no ``#`` count on objects.
* array: ``[`` values ``]``; counted ``[#L`` int64-count values; typed ``[$`` type ``#L``
  int64-count and the raw big-endian elements, of type ``i U I`` (1, 1, 2 bytes), ``l d``
  (4: int32, float32) or ``L D`` (8: int64, float64).
* scalars: ``Z T F`` (no payload), ``i U C`` (1 byte), ``I`` (2), ``l d`` (4), ``L D`` (8);
  strings: ``SL``, int64 byte length and the bytes.

Everything else is rejected, as XGBoost rejects it: the ``N`` no-op, ``H`` high-precision
numbers, other length markers, extension types. Values are not looked at: a flipped bit in a
float, or in a tree's node indices, passes. That is the limit of a structural check; XGBoost
3.x still crashes on a well-formed file whose ``parents`` array points outside the tree, which
is what :mod:`router.xgb.checks.ubj_values` is for. It finds the trees' arrays through the
:class:`UbjSkeleton` that the walk records on its way, rather than by walking again.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final, TypeAlias

from router.xgb.checks.rules import ModelFormatError, show_byte

__all__ = ["MAX_UBJ_DEPTH", "UbjSkeleton", "check_ubj", "walk_ubj"]

Buffer: TypeAlias = bytes | bytearray | memoryview

# XGBoost's models nest about six containers deep (learner > gradient_booster > model >
# trees > tree > tree_param) and its readers are recursive, so a document nested thousands
# deep could exhaust the C++ stack. 64 leaves room for new layouts and stops that long before.
MAX_UBJ_DEPTH: Final = 64

_OBJECT_OPEN: Final = 0x7B  # {
_INT64: Final = 0x4C  # L, also the only length and count marker XGBoost reads
_TYPED: Final = 0x24  # $
_COUNT: Final = 0x23  # #
# check_ubj's loop spells these as literals (a local constant costs a global lookup):
# { 0x7B, } 0x7D, [ 0x5B, ] 0x5D, L 0x4C, S 0x53.


def _size_table(sizes: dict[str, int]) -> tuple[int, ...]:
    """Payload size by marker byte, -1 for other bytes: one index replaces a chain of
    comparisons in the hot loop."""
    table = [-1] * 256
    for marker, size in sizes.items():
        table[ord(marker)] = size
    return tuple(table)


_SCALAR_SIZE: Final = _size_table(
    {"Z": 0, "T": 0, "F": 0, "i": 1, "U": 1, "C": 1, "I": 2, "l": 4, "d": 4, "L": 8, "D": 8}
)
_TYPED_SIZE: Final = _size_table({"i": 1, "U": 1, "I": 2, "l": 4, "d": 4, "L": 8, "D": 8})
# Every valid typed-array header, ``[$`` type ``#L``, and its element size.
_TYPED_HEADER_SIZE: Final = {
    b"[$" + bytes([marker]) + b"#L": size for marker, size in enumerate(_TYPED_SIZE) if size >= 0
}

_read_int64 = struct.Struct(">q").unpack_from
_read_marker_int64 = struct.Struct(">Bq").unpack_from  # a marker and the int64 after it
_read_typed_header = struct.Struct(">5sq").unpack_from  # ``[$`` type ``#L`` and the count

# What check_ubj is inside of: an object, an array closed by ``]``, or a counted array, held
# as the number of its values still due (>= 0).
_IN_OBJECT: Final = -1
_IN_ARRAY: Final = -2


def check_ubj(data: Buffer) -> None:
    """Walk a UBJSON document in the dialect XGBoost reads and check that it is whole.

    Rejects, with :class:`ModelFormatError` and the byte offset: truncation at any byte,
    negative lengths and counts, lengths and counts larger than the bytes left (count x
    element size for typed arrays), markers XGBoost does not read, bytes after the document,
    nesting deeper than :data:`MAX_UBJ_DEPTH`, a top level that is not an object, and a top
    level without an object under ``learner``. Iterative, so hostile nesting cannot raise
    ``RecursionError``; typed arrays are skipped by arithmetic, never element by element.
    A ``bytearray`` or ``memoryview`` is copied to ``bytes`` once (a memcpy, ~0.1 ms per MB):
    indexing ``bytes`` and hashing its slices is what keeps the loop fast.
    """
    walk_ubj(data if isinstance(data, bytes) else bytes(data))


@dataclass(frozen=True, slots=True)
class UbjSkeleton:
    """Where :func:`check_ubj`'s walk found the containers and the object keys of a document:
    what the value checks (:mod:`router.xgb.checks.ubj_values`) need to find a model's arrays
    without walking it again. Containers are objects and arrays other than typed arrays (and other
    than empty counted arrays, which hold nothing), numbered in the order they open; the
    top-level object is number 0."""

    container_open: list[int]  # offset of each container's '{' or '['
    container_end: list[int]  # offset just past its last byte ('}' or ']', or last value)
    container_parent: list[int]  # the number of the container it is in; -1 for the top level
    key_start: list[int]  # offset of each object key's first byte, after 'L' and the length
    # Which object a key is in changes only where a container opens or closes, so rather than
    # an owner for every key (an append more per key, a measurable cost) the walk notes,
    # at each of those points, how many keys came before and which container the walk is in.
    owner_from_key: list[int]
    owner: list[int]


def walk_ubj(buf: bytes) -> UbjSkeleton:
    """:func:`check_ubj`'s walk; also returns the :class:`UbjSkeleton` it recorded on the way
    (a list append a key and a few a container: ~10% of the walk's time)."""
    end = len(buf)
    if end == 0:
        raise ModelFormatError("empty file: not an XGBoost model", 0)
    if buf[0] != _OBJECT_OPEN:
        raise ModelFormatError(
            f"an XGBoost UBJSON model is an object starting with '{{', not {show_byte(buf[0])}", 0
        )
    # A 1000-tree model is ~45 000 tokens, so the loop is written for speed: names bound to
    # locals, marker bytes as literals, common cases first, a key or a typed-array header
    # read together with its int64 by one unpack, and no explicit bounds check where
    # indexing or unpacking past the end raises anyway: IndexError and struct.error, caught
    # at the bottom, both mean that the file ends too early.
    scalar_size = _SCALAR_SIZE
    typed_header_size = _TYPED_HEADER_SIZE
    read_marker_int64 = _read_marker_int64
    read_typed_header = _read_typed_header
    max_stack = MAX_UBJ_DEPTH - 1  # the innermost container lives in `state`, not the stack
    stack: list[int] = []  # the states of the enclosing containers
    state = _IN_OBJECT  # the innermost container, the top-level object to begin with
    pos = 1
    has_learner = False
    # The skeleton, and the numbers of the innermost container and of those around it.
    skeleton = UbjSkeleton([0], [0], [-1], [], [0], [0])
    opens, ends, parents = (
        skeleton.container_open,
        skeleton.container_end,
        skeleton.container_parent,
    )
    key_starts, owner_from_key, owner = skeleton.key_start, skeleton.owner_from_key, skeleton.owner
    add_key_start = key_starts.append
    current = 0
    enclosing: list[int] = []
    try:
        while True:
            # First what comes before a value: a key in an object, a count going down in a
            # counted array. Or instead the end of the innermost container.
            if state == -1:  # _IN_OBJECT
                try:
                    marker, length = read_marker_int64(buf, pos)
                except struct.error:  # under 9 bytes left: only closing '}'s can be valid
                    marker, length = buf[pos], 0
                    if marker == 0x4C:
                        raise _truncated("the 8-byte length of an object key", pos + 1) from None
                if marker == 0x4C:  # L: a key
                    start = pos + 9
                    pos = start + length
                    if length < 0 or pos > end:
                        raise _bad_length("object key", length, end - start, start - 8)
                    add_key_start(start)
                    if length == 7 and not stack and buf[start:pos] == b"learner":
                        if buf[pos] != 0x7B:
                            raise ModelFormatError(
                                f"'learner' must be an object, found {show_byte(buf[pos])}", pos
                            )
                        has_learner = True
                elif marker == 0x7D:  # }
                    pos += 1
                    ends[current] = pos
                    if not stack:
                        break  # the top-level object is complete
                    state = stack.pop()
                    current = enclosing.pop()
                    owner_from_key.append(len(key_starts))
                    owner.append(current)
                    continue
                else:
                    raise ModelFormatError(
                        f"expected an object key (length marker 'L') or '}}', found "
                        f"{show_byte(marker)}",
                        pos,
                    )
            elif state > 0:
                state -= 1
            elif state == 0:
                ends[current] = pos
                state = stack.pop()
                current = enclosing.pop()
                owner_from_key.append(len(key_starts))
                owner.append(current)
                continue
            elif buf[pos] == 0x5D:  # ] while state is _IN_ARRAY
                pos += 1
                ends[current] = pos
                state = stack.pop()
                current = enclosing.pop()
                owner_from_key.append(len(key_starts))
                owner.append(current)
                continue

            # Then the value.
            marker = buf[pos]
            if marker == 0x5B:  # [
                try:
                    header, count = read_typed_header(buf, pos)
                    element_size = typed_header_size.get(header, 0)
                except struct.error:  # under 13 bytes left: not a typed array, or truncated
                    element_size = 0
                if element_size:
                    first = pos + 13
                    pos = first + count * element_size
                    # The check that stops XGBoost from allocating a count read from a torn
                    # file.
                    if count < 0 or pos > end:
                        raise _bad_typed_count(count, element_size, end - first, first - 8)
                else:
                    if len(stack) >= max_stack:
                        raise _too_deep(pos)
                    opened_at = pos
                    pos, count = _read_array_header(buf, pos)
                    if count:
                        stack.append(state)
                        state = count
                        enclosing.append(current)
                        parents.append(current)
                        current = len(opens)
                        opens.append(opened_at)
                        ends.append(0)
                        owner_from_key.append(len(key_starts))
                        owner.append(current)
                continue
            size = scalar_size[marker]
            if size >= 0:
                pos += 1 + size  # a cut payload fails at the next read, or at the end
            elif marker == 0x53:  # S
                try:
                    marker, length = read_marker_int64(buf, pos + 1)
                except struct.error:
                    marker, length = buf[pos + 1], 0
                    if marker == 0x4C:
                        raise _truncated("the 8-byte length of a string", pos + 2) from None
                if marker != 0x4C:
                    raise ModelFormatError(
                        f"a string length must use marker 'L' (int64), found {show_byte(marker)}",
                        pos + 1,
                    )
                start = pos + 10
                pos = start + length
                if length < 0 or pos > end:
                    raise _bad_length("string", length, end - start, start - 8)
            elif marker == 0x7B:  # {
                if len(stack) >= max_stack:
                    raise _too_deep(pos)
                stack.append(state)
                state = -1  # _IN_OBJECT
                enclosing.append(current)
                parents.append(current)
                current = len(opens)
                opens.append(pos)
                ends.append(0)
                owner_from_key.append(len(key_starts))
                owner.append(current)
                pos += 1
            else:
                raise ModelFormatError(
                    f"unknown or unsupported UBJSON marker {show_byte(marker)} where a value "
                    "should start",
                    pos,
                )
    except (IndexError, struct.error):
        raise ModelFormatError(
            f"file is truncated: its {end} bytes end in the middle of the document", end
        ) from None

    if pos != end:
        raise ModelFormatError(
            f"{end - pos} bytes of trailing data after the end of the document", pos
        )
    if not has_learner:
        raise ModelFormatError("the top-level object has no 'learner' key: not an XGBoost model")
    return skeleton


def _read_array_header(buf: bytes, pos: int) -> tuple[int, int]:
    """Read an array header that check_ubj's fast path did not take as a typed array.

    Return where the walk goes on and its state there: after a typed array, 0; at the first
    value of a counted array, its count (0 when empty: nothing to walk); at the first value
    of an array closed by ``]``, ``_IN_ARRAY``. Broken headers raise with the exact reason.
    """
    end = len(buf)
    if pos + 1 >= end:
        raise _truncated("an array's first value, '$', '#' or ']'", pos + 1)
    marker = buf[pos + 1]
    if marker == _TYPED:
        if pos + 2 >= end:
            raise _truncated("a typed array's element type", pos + 2)
        element_size = _TYPED_SIZE[buf[pos + 2]]
        if element_size < 0:
            raise ModelFormatError(
                f"unsupported typed-array element type {show_byte(buf[pos + 2])}", pos + 2
            )
        if pos + 3 >= end:
            raise _truncated("a typed array's '#' count marker", pos + 3)
        if buf[pos + 3] != _COUNT:
            raise ModelFormatError(
                f"a typed array needs a '#' count after its type, found {show_byte(buf[pos + 3])}",
                pos + 3,
            )
        count = _read_count(buf, pos + 3, "typed array")
        first = pos + 13
        if count * element_size > end - first:
            raise _bad_typed_count(count, element_size, end - first, pos + 5)
        return first + count * element_size, 0
    if marker == _COUNT:
        count = _read_count(buf, pos + 1, "array")
        first = pos + 11
        if count > end - first:  # every value takes at least its one marker byte
            raise ModelFormatError(
                f"array count {count} exceeds the {end - first} bytes left in the file", pos + 3
            )
        return first, count
    return pos + 1, _IN_ARRAY


def _read_count(buf: bytes, pos: int, what: str) -> int:
    """Read the ``#L`` int64 count whose ``#`` is at ``pos``; negative counts are errors."""
    end = len(buf)
    if pos + 1 >= end:
        raise _truncated(f"the 'L' marker of an {what} count", pos + 1)
    if buf[pos + 1] != _INT64:
        raise ModelFormatError(
            f"an {what} count must use marker 'L' (int64), found {show_byte(buf[pos + 1])}", pos + 1
        )
    if pos + 10 > end:
        raise _truncated(f"the 8-byte count of an {what}", pos + 2)
    count: int = _read_int64(buf, pos + 2)[0]
    if count < 0:
        raise ModelFormatError(f"negative {what} count {count}", pos + 2)
    return count


def _truncated(what: str, offset: int) -> ModelFormatError:
    return ModelFormatError(f"file is truncated: it ends where {what} should be", offset)


def _bad_length(what: str, length: int, left: int, offset: int) -> ModelFormatError:
    if length < 0:
        return ModelFormatError(f"negative {what} length {length}", offset)
    return ModelFormatError(
        f"{what} length {length} exceeds the {left} bytes left in the file", offset
    )


def _bad_typed_count(count: int, element_size: int, left: int, offset: int) -> ModelFormatError:
    if count < 0:
        return ModelFormatError(f"negative typed array count {count}", offset)
    return ModelFormatError(
        f"typed array of {count} x {element_size}-byte elements exceeds the {left} bytes "
        "left in the file",
        offset,
    )


def _too_deep(offset: int) -> ModelFormatError:
    return ModelFormatError(f"containers nested more than {MAX_UBJ_DEPTH} deep", offset)
