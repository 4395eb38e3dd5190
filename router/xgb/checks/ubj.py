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

A model is mostly its trees, objects of one layout, and the token loop costs about a
microsecond a key; so a counted array of objects that share the first one's layout is
walked in bulk, by numpy (:class:`ObjectRun`), and so are runs of scalars with one marker.
The bulk walk applies the same rules; what it cannot vouch for goes to the token loop.
"""

from __future__ import annotations

import struct
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, TypeAlias

import numpy as np

from router.xgb.checks.rules import ModelFormatError, show_byte

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["MAX_UBJ_DEPTH", "ObjectRun", "RunKey", "UbjSkeleton", "check_ubj", "walk_ubj"]

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
class RunKey:
    """A key of an object in an :class:`ObjectRun`'s layout, and where its value starts in
    every element: ``back`` bytes before the run's ``columns[column]``. ``child`` is the
    layout object that the value is, or -1 for a value that is no object."""

    name: str
    column: int
    back: int
    child: int


@dataclass(frozen=True, slots=True)
class ObjectRun:
    """A counted array of objects that all have one layout, checked in bulk by numpy rather
    than token by token (XGBoost's trees: the same keys in the same order, values of the
    same kinds, differing only in lengths, numbers and array contents).

    A layout alternates constant bytes (keys, braces, value headers) with variable items: a
    scalar (its marker and payload), or the int64 length or count of a string or typed array
    and its payload. ``columns[j]`` holds, for every element, the offset where item ``j``
    starts; the last column, where the element ends. ``kinds[j]`` is what item ``j`` is: 0
    for a scalar, k > 0 for a count of k-byte elements (1 for a string's length), and
    ``sizes[j]`` its count, or a scalar's payload size. The elements are not among the
    skeleton's containers and their keys not among its keys."""

    container: int  # the array's number among the skeleton's containers
    objects: tuple[tuple[RunKey, ...], ...]  # the layout's objects' keys; the element first
    columns: list[NDArray[np.int64]]
    kinds: tuple[int, ...]
    sizes: list[NDArray[np.int64]]

    def value_at(self, key: RunKey) -> NDArray[np.int64]:
        """Where ``key``'s value starts in each element."""
        return self.columns[key.column] - key.back


@dataclass(frozen=True, slots=True)
class UbjSkeleton:
    """Where :func:`check_ubj`'s walk found the containers and the object keys of a document:
    what the value checks (:mod:`router.xgb.checks.ubj_values`) need to find a model's arrays
    without walking it again. Containers are objects and arrays other than typed arrays (and other
    than empty counted arrays, which hold nothing), numbered in the order they open; the
    top-level object is number 0. The elements of an :class:`ObjectRun` are in ``runs``
    instead."""

    container_open: list[int]  # offset of each container's '{' or '['
    container_end: list[int]  # offset just past its last byte ('}' or ']', or last value)
    container_parent: list[int]  # the number of the container it is in; -1 for the top level
    key_start: list[int]  # offset of each object key's first byte, after 'L' and the length
    # Which object a key is in changes only where a container opens or closes, so rather than
    # an owner for every key (an append more per key, a measurable cost) the walk notes,
    # at each of those points, how many keys came before and which container the walk is in.
    owner_from_key: list[int]
    owner: list[int]
    runs: list[ObjectRun] = field(default_factory=list)


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
    runs = skeleton.runs
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
                        number = len(opens)
                        parents.append(current)
                        opens.append(opened_at)
                        if count >= _MIN_BULK:
                            # Room for the objects nested in its elements: opening the
                            # array and then each level of them takes one more stack entry.
                            room = max_stack - 1 - len(stack)
                            pos, count = _walk_in_bulk(buf, pos, count, room, number, runs)
                        if count:
                            stack.append(state)
                            state = count
                            enclosing.append(current)
                            current = number
                            ends.append(0)
                            owner_from_key.append(len(key_starts))
                            owner.append(current)
                        else:  # walked in bulk: no key inside to give an owner to
                            ends.append(pos)
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


# Counted arrays of at least this many values are walked in bulk where they can be: fewer
# gain too little over the token loop to pay for numpy's calls.
_MIN_BULK: Final = 2
_MIN_SCALARS: Final = 8
_SCALAR_SIZES: Final = np.array(_SCALAR_SIZE, dtype=np.int64)


def _walk_in_bulk(
    buf: bytes, pos: int, count: int, room: int, container: int, runs: list[ObjectRun]
) -> tuple[int, int]:
    """Walk what numpy can of the ``count`` values of a counted array from ``pos``: objects of
    one layout (an :class:`ObjectRun`, added to ``runs``), or runs of scalars with one marker.
    Returns where the token loop goes on and how many of the values it has left to walk.

    Bulk or not, the bytes pass the same rules: what the bulk walk does not vouch for, all of
    it, is left to the token loop, which finds the error, or the document valid after all."""
    marker = buf[pos]
    if marker == 0x7B:  # {
        run = _object_run(buf, pos, count, room, container)
        if run is None:
            return pos, count
        runs.append(run)
        return int(run.columns[-1][-1]), 0
    if count >= _MIN_SCALARS and _SCALAR_SIZE[marker] >= 0:
        return _skip_scalars(buf, pos, count)
    return pos, count


def _skip_scalars(buf: bytes, pos: int, count: int) -> tuple[int, int]:
    """Skip the scalars at the start of ``count`` values from ``pos``, one run of a marker at
    a time: those sit at a fixed stride, whose markers numpy compares at once. XGBoost writes
    ``tree_info`` in one run, ``iteration_indptr`` in two or three (the integers as small as
    their values allow)."""
    u8 = np.frombuffer(buf, dtype=np.uint8)
    end = len(buf)
    while count and pos < end:
        marker = buf[pos]
        step = 1 + _SCALAR_SIZE[marker]
        if step == 0:  # no scalar: the token loop takes it from here
            break
        same = u8[pos : pos + count * step : step] == marker
        run = len(same) if same.all() else int(same.argmin())
        count -= run
        # Past the end where the last payload is cut: the token loop's next read fails.
        pos += run * step
    return pos, count


@dataclass(frozen=True, slots=True)
class _Layout:
    """An object's bytes as a pattern: ``constants[j]``, then variable item ``j`` of kind
    ``kinds[j]`` (0: a scalar, its marker and payload; k > 0: an int64 count then count x k
    bytes), ..., then the last constant."""

    constants: tuple[bytes, ...]
    kinds: tuple[int, ...]
    objects: tuple[tuple[RunKey, ...], ...]
    least: int  # the fewest bytes an object of the layout takes
    widths: NDArray[np.int64] = field(init=False)
    # Where item j starts in an object whose payloads are all empty: the constants and the
    # items' headers (a marker, or an int64 count) before it. The last, where it ends.
    fixed: NDArray[np.int64] = field(init=False)
    # The constants in windows of 64-bit words, as many as the widest takes, end to end: the
    # bits that must be equal in each window, and those bits (zero elsewhere).
    mask: NDArray[np.uint64] = field(init=False)
    expected: NDArray[np.uint64] = field(init=False)
    words: int = field(init=False)  # how many words a window takes

    def __post_init__(self) -> None:
        widths = [len(constant) for constant in self.constants]
        wide = -(-max(widths) // 8) * 8
        mask = b"".join((b"\xff" * len(c)).ljust(wide, b"\0") for c in self.constants)
        expected = b"".join(constant.ljust(wide, b"\0") for constant in self.constants)
        fixed = [widths[0]]
        for kind, width in zip(self.kinds, widths[1:], strict=True):
            fixed.append(fixed[-1] + (8 if kind else 1) + width)
        object.__setattr__(self, "widths", np.array(widths, dtype=np.int64))
        object.__setattr__(self, "fixed", np.array(fixed, dtype=np.int64))
        object.__setattr__(self, "mask", np.frombuffer(mask, np.uint64))
        object.__setattr__(self, "expected", np.frombuffer(expected, np.uint64))
        object.__setattr__(self, "words", wide // 8)


# Layouts by their constants and kinds, which determine the rest: XGBoost writes a few
# (numerical trees, categorical ones, vector leaves), and making one takes longer than
# checking a small model's trees with it. Bounded, against files made of many layouts.
_LAYOUTS: dict[tuple[tuple[bytes, ...], tuple[int, ...]], _Layout] = {}
_MAX_LAYOUTS: Final = 64


def _object_run(buf: bytes, pos: int, count: int, room: int, container: int) -> ObjectRun | None:
    """The ``count`` objects from ``pos`` as an :class:`ObjectRun`, if they all have the
    layout of the first; None if not, or if something in them is not valid, which the token
    loop then reports.

    The elements' offsets are guessed, by a search for the bytes every element of the layout
    starts with, and then proved: an element's layout is checked from each guessed offset,
    and element i + 1 must start where element i ends. Since the first starts at ``pos``,
    by induction every guess is the offset the token loop would reach, and the bytes in
    between are what it would accept. A wrong guess (those bytes inside a string, say) only
    sends the array to the token loop."""
    layout = _layout(buf, pos, room)
    if layout is None:
        return None
    # Every item adds at most 9 x (file size + 1) to an offset: far from int64's limit.
    if len(layout.kinds) * 9 * (len(buf) + 1) >= 1 << 62:
        return None
    # A search that skips most of each element's arrays first; should its guesses fail, one
    # that searches every byte.
    per_unit = _per_unit(buf, pos, layout)
    for skip_per_unit in dict.fromkeys((per_unit, 0)):
        starts = _guess_starts(buf, pos, count, layout, skip_per_unit)
        if starts is None:
            continue
        checked = _check_layout(buf, np.array(starts, dtype=np.int64), layout)
        if checked is not None:
            columns, sizes = checked
            return ObjectRun(container, layout.objects, columns, layout.kinds, sizes)
    return None


def _guess_starts(
    buf: bytes, pos: int, count: int, layout: _Layout, per_unit: int
) -> list[int] | None:
    """Where the ``count`` elements from ``pos`` seem to start: each at the next occurrence
    of the bytes every element starts with, searched from the fewest bytes the element
    before can take, plus ``per_unit`` bytes for each unit of its first item's count (see
    :func:`_per_unit`). None where a search finds nothing."""
    pattern, least = layout.constants[0], layout.least
    first_count = int(layout.fixed[0])  # where an element's first count is, from its start
    starts = [pos]
    at = pos
    find = buf.find
    for _ in range(count - 1):
        skip = least
        if per_unit:
            try:
                units: int = _read_int64(buf, at + first_count)[0]
            except struct.error:
                return None
            skip += max(units, 0) * per_unit
        at = find(pattern, at + skip)
        if at < 0:
            return None
        starts.append(at)
    return starts


def _per_unit(buf: bytes, pos: int, layout: _Layout) -> int:
    """The bytes the element at ``pos`` spends, per unit of its first item's count, on the
    arrays that have that count: in a tree, the per-node arrays, nearly all of its bytes.
    Other elements of a run are likely to spend as much per unit of their own first count,
    which makes a search skip their arrays; if one does not, the guesses it leads to fail
    their proof, and the search is made again without skipping. 0 where the layout's first
    item is no count."""
    kinds = layout.kinds
    if not kinds or not kinds[0]:
        return 0
    fixed = layout.fixed.tolist()
    payload = 0
    first = per_unit = 0
    try:
        for index, kind in enumerate(kinds):
            item = pos + fixed[index] + payload
            if not kind:
                payload += _SCALAR_SIZE[buf[item]]
                continue
            units: int = _read_int64(buf, item)[0]
            if index == 0:
                first = units
            if units == first:
                per_unit += kind
            payload += units * kind
    except (IndexError, struct.error):
        return 0
    return per_unit if first > 0 else 0


def _layout(buf: bytes, pos: int, room: int) -> _Layout | None:
    """The layout of the object at ``pos``; None where it holds what a layout does not (an
    array other than a typed one, objects nested more than ``room`` deep) or where it is not
    valid. Only a guess, which :func:`_check_layout` proves or refutes, for this object too:
    the rules are applied there, in bulk."""
    if room < 1:
        return None
    end = len(buf)
    constants: list[bytes] = []
    kinds: list[int] = []
    items: list[int] = []  # where each variable item starts
    keys: list[list[tuple[bytes, int, int]]] = [[]]  # each object's: name, value, child
    open_objects = [0]
    segment = pos  # where the current constant began
    pos += 1
    try:
        while True:
            marker = buf[pos]
            if marker == 0x7D:  # }
                pos += 1
                open_objects.pop()
                if not open_objects:
                    break
                continue
            if marker != 0x4C:  # L: a key
                return None
            length: int = _read_int64(buf, pos + 1)[0]
            if length < 0 or pos + 9 + length > end:
                return None
            name = buf[pos + 9 : pos + 9 + length]
            pos += 9 + length
            value = pos
            marker = buf[pos]
            if marker == 0x7B:  # {
                if len(open_objects) >= room:
                    return None
                keys[open_objects[-1]].append((name, value, len(keys)))
                open_objects.append(len(keys))
                keys.append([])
                pos += 1
                continue
            if marker == 0x53:  # S
                if buf[pos + 1] != 0x4C:
                    return None
                kind, item = 1, pos + 2
            elif marker == 0x5B:  # [
                kind, item = _TYPED_HEADER_SIZE.get(buf[pos : pos + 5], 0), pos + 5
                if not kind:
                    return None
            elif _SCALAR_SIZE[marker] >= 0:
                kind, item = 0, pos
            else:
                return None
            keys[open_objects[-1]].append((name, value, -1))
            constants.append(buf[segment:item])
            kinds.append(kind)
            items.append(item)
            if kind:
                size: int = _read_int64(buf, item)[0]
                if size < 0:
                    return None
                pos = item + 8 + size * kind
            else:
                pos = item + 1 + _SCALAR_SIZE[marker]
            if pos > end:
                return None
            segment = pos
    except (IndexError, struct.error):
        return None
    constants.append(buf[segment:pos])
    # Where the keys are among the items follows from the constants (the items' payloads are
    # what is skipped), so a layout seen before is that one.
    cache_key = (tuple(constants), tuple(kinds))
    layout = _LAYOUTS.get(cache_key)
    if layout is not None:
        return layout
    items.append(pos)
    objects = tuple(
        tuple(_run_key(name, value, child, items) for name, value, child in object_keys)
        for object_keys in keys
    )
    least = sum(map(len, constants)) + sum(8 if kind else 1 for kind in kinds)
    layout = _Layout(*cache_key, objects, least)
    if len(_LAYOUTS) >= _MAX_LAYOUTS:
        _LAYOUTS.clear()
    _LAYOUTS[cache_key] = layout
    return layout


def _run_key(name: bytes, value: int, child: int, items: list[int]) -> RunKey:
    """A key whose value starts at ``value`` in the object whose items start at ``items``:
    the value is ``back`` bytes before the first item at or after it, in every element."""
    column = bisect_left(items, value)
    return RunKey(name.decode("utf-8", errors="replace"), column, items[column] - value, child)


def _check_layout(
    buf: bytes, starts: NDArray[np.int64], layout: _Layout
) -> tuple[list[NDArray[np.int64]], list[NDArray[np.int64]]] | None:
    """Check that an object of ``layout`` starts at each of ``starts``, and that each ends
    where the next starts; returns the run's columns and sizes, or None where one does not
    hold.

    The rules are the token loop's, for all the objects at once: a scalar's marker has a
    payload size, a count is not negative, and the payload it sizes ends within the file;
    and the constants are the same bytes. A negative count, read as unsigned, and a marker
    that is no scalar's count as larger than the file, and every offset after them is at
    least the one before: so one bound, on the last end, stands for every read and every
    count. A read past the end of the file (numpy's IndexError; offsets are never negative)
    means an item past it, as that bound would find; and the sums cannot overflow (see the
    caller). The constants are compared last, all in one gather of windows as wide as the
    widest: by then the offsets are known to rise, so none of those windows reaches past
    the last one.

    Item j of every object starts at its start, plus ``layout.fixed[j]`` (the constants and
    headers before it), plus the payloads before it: one numpy step for the first two, for
    all items, and then, item by item, the payloads so far and the item's own count."""
    end = len(buf)
    if end < 8:
        return None
    counts = np.ndarray(shape=(end - 7,), dtype=">u8", buffer=buf, strides=(1,))
    markers = np.frombuffer(buf, dtype=np.uint8)
    kinds = layout.kinds
    scalar_sizes = np.where(_SCALAR_SIZES < 0, end + 1, _SCALAR_SIZES)
    # Row j: where item j starts in each object; the last row, where each object ends.
    grid = starts[None, :] + layout.fixed[:, None]
    payloads: NDArray[np.int64] | None = None  # each object's payload bytes so far
    sizes: list[NDArray[np.int64]] = []
    try:
        for index, kind in enumerate(kinds):
            at = grid[index]
            if payloads is not None:
                at += payloads
            if kind:
                size = np.minimum(counts[at], end).view(np.int64)
                step = size * kind if kind > 1 else size
            else:
                size = scalar_sizes[markers[at]]
                step = size
            payloads = step if payloads is None else payloads + step
            sizes.append(size)
    except IndexError:
        return None
    ends = grid[-1]
    if payloads is not None:
        ends += payloads
    if not (ends[:-1] == starts[1:]).all():
        return None
    # Each constant ends where the item after it starts (the last, where the object ends).
    begins = grid - layout.widths[:, None]
    wide = 8 * layout.words
    # The bound: the last window ends at or after the last object, so within the file.
    if begins[-1, -1] + wide > end:
        return None
    windows = np.ndarray(shape=(end - wide + 1,), dtype=f"V{wide}", buffer=buf, strides=(1,))
    # One row of words per object against the layout's words: numpy's inner loop then runs
    # over the whole row, not over the few words of one constant (several times slower).
    read = windows[np.ascontiguousarray(begins.T)].view(np.uint64).reshape(len(starts), -1)
    read &= layout.mask
    if not (read == layout.expected).all():
        return None
    return list(grid), sizes


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
    """Read the ``#L`` int64 count whose ``#`` is at ``pos``; negative counts are errors.
    ``what`` names the container: "array" or "typed array"."""
    end = len(buf)
    a_what = f"an {what}" if what[0] in "aeiou" else f"a {what}"
    if pos + 1 >= end:
        raise _truncated(f"the 'L' marker of {a_what} count", pos + 1)
    if buf[pos + 1] != _INT64:
        raise ModelFormatError(
            f"{a_what} count must use marker 'L' (int64), found {show_byte(buf[pos + 1])}", pos + 1
        )
    if pos + 10 > end:
        raise _truncated(f"the 8-byte count of {a_what}", pos + 2)
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
