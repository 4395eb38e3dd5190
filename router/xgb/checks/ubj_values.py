"""The value checks of :mod:`router.xgb.checks.rules` for UBJSON: the values read from the
file's bytes, at offsets found with the :class:`~router.xgb.checks.ubj.UbjSkeleton` that the
structural walk recorded, so nothing is walked twice.

Each tree's typed arrays are sliced straight out of the bytes (big-endian ``>i4`` and the
like). Trees that the walk took in bulk (an :class:`~router.xgb.checks.ubj.ObjectRun`) share
one layout: their keys and array headers are those of the first tree, and the walk has read
every count already. The model's own arrays of scalars, ``tree_info`` and
``iteration_indptr``, are read a run of one marker at a time: one to three runs.
"""

from __future__ import annotations

import struct
from bisect import bisect_left
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from router.xgb.checks.rules import (
    DECODED_ARRAYS,
    LENGTH_ONLY_ARRAYS,
    MAX_PARAMETER,
    TREE_PARAMETERS,
    Forest,
    ModelFormatError,
    check_model,
    first_true,
    path_of,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import NDArray

    from router.xgb.checks.rules import Field
    from router.xgb.checks.ubj import ObjectRun, RunKey, UbjSkeleton

    Integers = NDArray[np.signedinteger[Any]]

__all__ = ["check_ubj_values"]


def check_ubj_values(buf: bytes, skeleton: UbjSkeleton) -> None:
    """Check the values of a UBJSON model whose structural walk recorded ``skeleton``;
    raises :class:`ModelFormatError`."""
    check_model(_UbjObject(_UbjDocument(buf, skeleton), 0, ""))


# Integer markers, of typed arrays and of scalars: numpy type.
_INTEGER_TYPES: Final[dict[int, np.dtype[Any]]] = {
    ord("i"): np.dtype("i1"),
    ord("U"): np.dtype("u1"),
    ord("I"): np.dtype(">i2"),
    ord("l"): np.dtype(">i4"),
    ord("L"): np.dtype(">i8"),
}
_ELEMENT_SIZE: Final = np.zeros(256, dtype=np.int64)
for _marker, _size in [("i", 1), ("U", 1), ("I", 2), ("l", 4), ("d", 4), ("L", 8), ("D", 8)]:
    _ELEMENT_SIZE[ord(_marker)] = _size
_IS_INTEGER: Final = np.zeros(256, dtype=bool)
_IS_INTEGER[list(_INTEGER_TYPES)] = True
_TYPED_MARKS: Final = [0, 1, 3, 4]  # which bytes of a typed array header are always these:
_TYPED_HEAD: Final = np.frombuffer(b"[$#L", dtype=np.uint8)
_INT64: Final = np.dtype(">i8")
_read_int64 = struct.Struct(">q").unpack_from
_DIGIT_VALUE: Final = np.full(256, 10, dtype=np.int64)  # a byte's value as a digit; 10: none
_DIGIT_VALUE[ord("0") : ord("9") + 1] = np.arange(10)
_PLACE: Final = 10 ** np.arange(9, -1, -1, dtype=np.int64)
_POWER: Final = 10 ** np.arange(11, dtype=np.int64)


_FEW_KEYS: Final = 256


class _UbjDocument:
    """The bytes, and the skeleton as numpy arrays; keys are numbered in document order."""

    def __init__(self, buf: bytes, skeleton: UbjSkeleton) -> None:
        self.buf = buf
        self.size = len(buf)
        self.u8 = np.frombuffer(buf, dtype=np.uint8)
        self._views: dict[np.dtype[Any], NDArray[Any]] = {}
        self.opens = np.array(skeleton.container_open, dtype=np.int64)
        self.ends = np.array(skeleton.container_end, dtype=np.int64)
        self.parents = np.array(skeleton.container_parent, dtype=np.int64)
        self.key_start = np.array(skeleton.key_start, dtype=np.int64)
        self.key_length = self.read(_INT64, self.key_start - 8)
        self.value_at = self.key_start + self.key_length
        owner_from = np.array(skeleton.owner_from_key, dtype=np.int64)
        owners = np.array(skeleton.owner, dtype=np.int64)
        keys = np.arange(len(self.key_start))
        self.key_owner = owners[np.searchsorted(owner_from, keys, side="right") - 1]
        self.runs = {run.container: run for run in skeleton.runs}
        # For navigating a few objects, Python lists: no numpy call per key or object.
        self._opens = skeleton.container_open
        self._key_starts = skeleton.key_start
        self._values_at = self.value_at.tolist()
        self._keys_by_owner: dict[int, list[tuple[int, int]]] | None = None

    def container_opening_at(self, at: int) -> int:
        """The number of the container that opens at ``at``; -1 if none does."""
        found = bisect_left(self._opens, at)
        return found if found < len(self._opens) and self._opens[found] == at else -1

    def keys_of(self, container: int) -> list[tuple[int, int]]:
        """Where each key of object ``container`` starts, and where its value does."""
        if len(self._key_starts) > _FEW_KEYS:  # trees walked token by token: use numpy
            keys = np.flatnonzero(self.key_owner == container).tolist()
            return [(self._key_starts[key], self._values_at[key]) for key in keys]
        if self._keys_by_owner is None:
            # Grouped once, in one pass: the checks open a few objects, and a numpy
            # comparison over every key each costs more where the keys are few (the trees
            # walked in bulk have none of their own).
            grouped: dict[int, list[tuple[int, int]]] = {}
            for owner, start, value in zip(
                self.key_owner.tolist(), self._key_starts, self._values_at, strict=True
            ):
                grouped.setdefault(owner, []).append((start, value))
            self._keys_by_owner = grouped
        return self._keys_by_owner.get(container, [])

    def int64_at(self, at: int) -> int:
        value: int = _read_int64(self.buf, at)[0]
        return value

    def _view(self, dtype: np.dtype[Any]) -> NDArray[Any]:
        """The bytes as overlapping values of ``dtype``: value i is bytes i .. i + size - 1."""
        view = self._views.get(dtype)
        if view is None:
            count = max(self.size - dtype.itemsize + 1, 0)
            view = np.ndarray(shape=(count,), dtype=dtype, buffer=self.buf, strides=(1,))
            self._views[dtype] = view
        return view

    def read(self, dtype: np.dtype[Any], at: NDArray[np.int64]) -> NDArray[np.int64]:
        """The numbers of type ``dtype`` at byte offsets ``at``, for a few offsets (an index
        array gathers slowly); an offset past the end reads the last bytes."""
        view = self._view(dtype)
        return view[_clamp(at, len(view) - 1)].astype(np.int64)

    def byte(self, at: NDArray[np.int64]) -> NDArray[np.int64]:
        return self.u8[_clamp(at, self.size - 1)].astype(np.int64)

    def container_at(self, at: NDArray[np.int64]) -> NDArray[np.int64]:
        """The numbers of the containers that open at ``at``; -1 where none does."""
        found = _clamp(np.searchsorted(self.opens, at), len(self.opens) - 1)
        return np.where(self.opens[found] == at, found, -1)

    def key_codes(self, keys: NDArray[np.int64], names: Sequence[str]) -> NDArray[np.int64]:
        """For each of the key numbers ``keys``, the index in ``names`` of the name it
        spells, or -1."""
        code = np.full(len(keys), -1, dtype=np.int64)
        lengths = self.key_length[keys]
        starts = self.key_start[keys]
        for length in sorted({len(name) for name in names}):
            chosen = np.flatnonzero(lengths == length)
            if not len(chosen):
                continue
            spelt = self._view(np.dtype(f"S{length}"))[starts[chosen]]
            for row, name in enumerate(names):
                if len(name) == length:
                    code[chosen[spelt == name.encode()]] = row
        return code

    def typed_arrays(
        self, at: NDArray[np.int64], present: NDArray[np.bool_], what: str, integers: bool
    ) -> _TypedField:
        """The typed arrays whose headers are at ``at``, in the trees where ``present``;
        ``what.format(tree)`` names one in a message."""
        (field,) = self.typed_fields(at[None], present[None], [what], [integers])
        return field

    def typed_fields(
        self,
        at: NDArray[np.int64],
        present: NDArray[np.bool_],
        what: Sequence[str],
        integers: Sequence[bool],
    ) -> list[_TypedField]:
        """:meth:`typed_arrays` for several fields at once (row f of ``at`` and ``present``
        is field f): one numpy step for all their headers rather than one per field."""
        head = at[present]
        header = self.u8[_clamp(head, self.size - 13)[:, None] + np.arange(5)]
        markers = header[:, 2].astype(np.int64)
        typed = (head + 13 <= self.size) & np.all(header[:, _TYPED_MARKS] == _TYPED_HEAD, axis=1)
        typed &= _IS_INTEGER[markers] | ~np.repeat(integers, present.sum(axis=1))
        index = first_true(~typed)
        if index is not None:
            field, tree = (int(i[index]) for i in np.nonzero(present))
            kind = "an integer typed array" if integers[field] else "a typed array"
            raise ModelFormatError(
                f"{what[field].format(tree)} is not {kind}, as XGBoost writes it",
                int(head[index]),
            )
        length = np.zeros(at.shape, dtype=np.int64)
        length[present] = self.read(_INT64, head + 5)
        first = np.zeros(at.shape, dtype=np.int64)
        first[present] = head + 13
        kinds = np.zeros(at.shape, dtype=np.int64)
        kinds[present] = markers
        return [
            _TypedField(self.buf, present[f], length[f], first[f], kinds[f]) for f in range(len(at))
        ]

    def scalar_integers(self, at: NDArray[np.int64], what: str) -> NDArray[np.int64]:
        markers = self.byte(at)
        values = np.zeros(len(at), dtype=np.int64)
        # The markers present, by a count of each byte value: np.unique would import
        # numpy.ma on a process's first miss, tens of milliseconds of its cold start.
        for marker in np.flatnonzero(np.bincount(markers, minlength=256)).tolist():
            chosen = markers == marker
            if marker not in _INTEGER_TYPES:
                index = int(np.flatnonzero(chosen)[0])
                raise ModelFormatError(f"{what.format(index)} is not an integer", int(at[index]))
            values[chosen] = self.read(_INTEGER_TYPES[marker], at[chosen] + 1)
        return values

    def decimal_strings(
        self,
        at: NDArray[np.int64],
        what: Sequence[str],
        lengths: NDArray[np.int64] | None = None,
    ) -> NDArray[np.int64]:
        """Parameters: strings of up to 10 decimal digits, parsed together; row p of ``at``
        holds parameter p of every tree, ``what[p].format(tree)`` names one in a message.
        ``lengths``: the strings' lengths, where the walk has read them (in a run of trees,
        whose layout makes every one a string)."""
        flat = at.ravel()
        if lengths is None:
            # A value that is no string gets length 0, which no parameter has.
            is_string = self.byte(flat) == ord("S")
            length = np.where(is_string, self.read(_INT64, flat + 2), 0)
        else:
            length = lengths.ravel()
        valid = (length >= 1) & (length <= 10)
        width = int(length[valid].max()) if valid.any() else 0
        # The digits after 'S', 'L' and the int64 length, in one gather as wide as the
        # longest (XGBoost's are a few digits); reads past the end (clamped) are never of a
        # valid string, whose bytes the walk found in the file.
        spelt = self.u8[_clamp(flat[:, None] + (10 + np.arange(width)), self.size - 1)]
        digit = _DIGIT_VALUE[spelt]
        used = np.arange(width) < length[:, None]
        valid &= ~(used & (digit > 9)).any(axis=1)
        # Right-aligned in ``width`` places, digit k is worth 10 ** (width - 1 - k); a string
        # of length n <= width is that sum over 10 ** (width - n).
        shift = np.where(used, digit, 0) * _PLACE[10 - width :]
        values: NDArray[np.int64] = shift.sum(axis=1) // _POWER[np.clip(width - length, 0, 10)]
        index = first_true(~valid | (values > MAX_PARAMETER))
        if index is not None:
            parameter, tree = divmod(index, at.shape[1])
            raise ModelFormatError(
                f"{what[parameter].format(tree)} must be a number below 2**31 in decimal digits",
                int(flat[index]),
            )
        return values.reshape(at.shape)


@dataclass(frozen=True, slots=True)
class _TypedField:
    """A field whose arrays are UBJSON typed arrays: ``length`` elements of type ``marker``
    from byte ``first``, in the trees where ``present``. ``every_tree``: the marker of the
    field in a run, where every tree has it with that marker; -1 otherwise."""

    buf: bytes
    present: NDArray[np.bool_]
    length: NDArray[np.int64]
    first: NDArray[np.int64]
    marker: NDArray[np.int64]
    every_tree: int = -1

    def values(self, begin: int, end: int) -> Integers:
        """The elements of trees ``begin`` to ``end``: a slice of the bytes per tree, joined,
        which is much faster than an index array into the bytes."""
        if self.every_tree >= 0:
            first, length = self.first[begin:end], self.length[begin:end]
            markers = None
        else:
            chosen = self.present[begin:end]
            first = self.first[begin:end][chosen]
            length = self.length[begin:end][chosen]
            markers = self.marker[begin:end][chosen]
        if not length.any():
            return np.zeros(0, dtype=np.int32)
        if markers is None or np.all(markers == markers[0]):
            marker = self.every_tree if markers is None else int(markers[0])
            dtype = _INTEGER_TYPES[marker]
            stop = first + length * dtype.itemsize
            buf = self.buf  # slices of bytes: faster than of a memoryview
            joined = b"".join(
                [buf[a:b] for a, b in zip(first.tolist(), stop.tolist(), strict=True)]
            )
            # int32 when that holds them: half the memory traffic of int64.
            native = np.int32 if dtype.itemsize <= 4 else np.int64
            values: Integers = np.frombuffer(joined, dtype=dtype).astype(native)
            return values
        parts = [
            np.frombuffer(self.buf, dtype=_INTEGER_TYPES[m], count=n, offset=a).astype(np.int64)
            for m, a, n in zip(markers.tolist(), first.tolist(), length.tolist(), strict=True)
        ]
        return np.concatenate(parts)

    def offset(self, tree: int, index: int) -> int | None:
        return int(self.first[tree] + index * _ELEMENT_SIZE[self.marker[tree]])


class _UbjObject:
    """An object of a UBJSON document, its keys found from the skeleton."""

    def __init__(self, doc: _UbjDocument, container: int, path: str) -> None:
        self._doc = doc
        self.path = path
        self._members: dict[str, int] = {}
        for start, value in doc.keys_of(container):
            name = doc.buf[start:value].decode("utf-8", errors="replace")
            if name in self._members:
                raise ModelFormatError(f"{path} has the key {name!r} twice", start)
            self._members[name] = value

    def has(self, key: str) -> bool:
        return key in self._members

    def _value(self, key: str) -> int:
        if key not in self._members:
            raise ModelFormatError(f"{self.path or 'the document'} has no {key!r}")
        return self._members[key]

    def object(self, key: str) -> _UbjObject:
        at = self._value(key)
        container = self._doc.container_opening_at(at)
        if self._doc.buf[at] != ord("{") or container < 0:
            raise ModelFormatError(f"{path_of(self, key)} must be an object", at)
        return _UbjObject(self._doc, container, path_of(self, key))

    def string(self, key: str) -> str:
        at = self._value(key)
        buf = self._doc.buf
        if buf[at] != ord("S"):
            raise ModelFormatError(f"{path_of(self, key)} must be a string", at)
        length = self._doc.int64_at(at + 2)
        return buf[at + 10 : at + 10 + length].decode("utf-8", errors="replace")

    def integers(self, key: str) -> NDArray[np.int64]:
        values, _ = self._numbers(key, integers=True)
        return values

    def length(self, key: str) -> int:
        _, count = self._numbers(key, integers=False)
        return count

    def _numbers(self, key: str, *, integers: bool) -> tuple[NDArray[np.int64], int]:
        """An array of numbers: its values if ``integers`` (else it may hold floats, and
        only its length is wanted), and its length."""
        doc, buf, at = self._doc, self._doc.buf, self._value(key)
        where = path_of(self, key)
        if buf[at] != ord("["):
            raise ModelFormatError(f"{where} must be an array", at)
        if buf[at + 1] == ord("$"):
            field = doc.typed_arrays(np.array([at]), np.array([True]), where, integers)
            values = field.values(0, 1).astype(np.int64) if integers else np.zeros(0, np.int64)
            return values, int(field.length[0])
        container = doc.container_opening_at(at)
        if container < 0:  # an empty counted array
            return np.zeros(0, dtype=np.int64), 0
        counted = buf[at + 1] == ord("#")
        pos = at + 11 if counted else at + 1
        end = int(doc.ends[container]) - (0 if counted else 1)
        # The numbers, a run of elements with one marker at a time: such a run sits at a
        # fixed stride, which numpy reads at once. XGBoost writes tree_info in one run,
        # iteration_indptr in a few (small numbers take fewer bytes), weight_drop in one.
        runs: list[NDArray[np.int64]] = []
        count = 0
        while pos < end:
            marker = buf[pos]
            step = 1 + int(_ELEMENT_SIZE[marker])
            if step == 1 or (integers and marker not in _INTEGER_TYPES):
                raise ModelFormatError(f"{where} must hold only numbers", pos)
            same = doc.u8[pos:end:step] == marker
            run = len(same) if same.all() else int(np.argmin(same))
            if integers:
                dtype = _INTEGER_TYPES[marker]
                numbers = np.ndarray((run,), dtype, buffer=buf, offset=pos + 1, strides=(step,))
                runs.append(numbers.astype(np.int64))
            count += run
            pos += run * step
        return np.concatenate([np.zeros(0, dtype=np.int64), *runs]), count

    def forest(self, key: str) -> Forest:
        doc, at = self._doc, self._value(key)
        where = path_of(self, key)
        if doc.buf[at] != ord("[") or doc.buf[at + 1] == ord("$"):
            raise ModelFormatError(f"{where} must be an array of tree objects", at)
        names = ("id", "tree_param", *DECODED_ARRAYS, *LENGTH_ONLY_ARRAYS)
        array = doc.container_opening_at(at)
        run = doc.runs.get(array)
        members: _Members | _RunMembers
        if run is not None:  # trees of one layout, which the walk checked in bulk
            members = _RunMembers(doc.buf, run, 0, names)
        else:
            members = _Members(doc, self._trees(array, at, where), names)
        ids = doc.scalar_integers(members.value_at("id"), "tree {}'s id")
        param_members = members.nested("tree_param", TREE_PARAMETERS, "tree {}: tree_param")
        num_nodes, num_feature, size_leaf_vector = doc.decimal_strings(
            np.array([param_members.value_at(name) for name in TREE_PARAMETERS]),
            [f"tree {{}}: tree_param.{name}" for name in TREE_PARAMETERS],
            param_members.string_lengths(TREE_PARAMETERS),
        )
        arrays = (*DECODED_ARRAYS, *LENGTH_ONLY_ARRAYS)
        fields: list[_TypedField]
        if isinstance(members, _RunMembers):
            fields = members.typed_fields(arrays, DECODED_ARRAYS)
        else:
            fields = doc.typed_fields(
                np.array([members.value_at(name, required=False) for name in arrays]),
                np.array([members.present(name) for name in arrays]),
                [f"tree {{}}: {name}" for name in arrays],
                [name in DECODED_ARRAYS for name in arrays],
            )
        fields_by_name: dict[str, Field] = dict(zip(arrays, fields, strict=True))
        return Forest(ids, num_nodes, num_feature, size_leaf_vector, fields_by_name)

    def _trees(self, array: int, at: int, where: str) -> NDArray[np.int64]:
        """The trees of the array ``array`` at ``at``, which the walk went through token by
        token: the containers directly in the array, which must fill it end to end."""
        doc = self._doc
        if array < 0:
            return np.zeros(0, np.int64)
        trees = np.flatnonzero(doc.parents == array)
        counted = doc.buf[at + 1] == ord("#")
        first = at + (11 if counted else 1)
        last = int(doc.ends[array]) - (0 if counted else 1)
        bounds = np.concatenate(([first], doc.ends[trees]))
        if (
            np.any(doc.opens[trees] != bounds[:-1])
            or bounds[-1] != last
            or np.any(doc.u8[doc.opens[trees]] != ord("{"))
        ):
            raise ModelFormatError(f"{where} must hold only tree objects", at)
        return trees


class _Members:
    """The keys ``names`` in each of a list of objects (the trees, say), found in bulk: a few
    numpy steps for all names together, plus one comparison per name."""

    def __init__(
        self,
        doc: _UbjDocument,
        objects: NDArray[np.int64],
        names: Sequence[str],
        what: str = "tree {}",
    ) -> None:
        self._doc = doc
        self._count = len(objects)
        self._what = what
        self._row = {name: row for row, name in enumerate(names)}
        which = np.full(len(doc.opens), -1, dtype=np.int64)
        which[objects] = np.arange(len(objects))
        keys = np.flatnonzero(which[doc.key_owner] >= 0)
        code = doc.key_codes(keys, names)
        named = code >= 0
        keys, code = keys[named], code[named]
        owner = which[doc.key_owner[keys]]
        # Where each object's value of each name starts, 0 where it has none (a value never
        # starts at 0: its key comes first).
        slot = code * self._count + owner
        twice = first_true(np.bincount(slot, minlength=len(names) * self._count) > 1)
        if twice is not None:
            row, index = divmod(twice, self._count)
            raise ModelFormatError(f"{what.format(index)} has the key {names[row]!r} twice")
        self._at = np.zeros((len(names), self._count), dtype=np.int64)
        self._at[code, owner] = doc.value_at[keys]

    def present(self, name: str) -> NDArray[np.bool_]:
        present: NDArray[np.bool_] = self._at[self._row[name]] != 0
        return present

    def value_at(self, name: str, required: bool = True) -> NDArray[np.int64]:
        """Where each object's value of ``name`` starts (0 where it has none)."""
        at: NDArray[np.int64] = self._at[self._row[name]]
        if required:
            index = first_true(at == 0)
            if index is not None:
                raise ModelFormatError(f"{self._what.format(index)} has no {name!r}")
        return at

    def string_lengths(self, names: Sequence[str]) -> None:
        """Objects walked token by token: their strings' lengths are read from the bytes."""
        return None

    def nested(self, name: str, names: Sequence[str], what: str) -> _Members:
        """The keys ``names`` of the object that is each object's value of ``name``."""
        at = self.value_at(name)
        objects = self._doc.container_at(at)
        index = first_true((objects < 0) | (self._doc.byte(at) != ord("{")))
        if index is not None:
            raise ModelFormatError(
                f"{self._what.format(index)}: {name} must be an object", int(at[index])
            )
        return _Members(self._doc, objects, names, what)


class _RunMembers:
    """:class:`_Members` for the elements of an :class:`~router.xgb.checks.ubj.ObjectRun`:
    they all have one layout, so what holds for one key of the layout holds in every element,
    and the first element is the first where it does."""

    def __init__(
        self,
        buf: bytes,
        run: ObjectRun,
        layout_object: int,
        names: Sequence[str],
        what: str = "tree {}",
    ) -> None:
        self._buf = buf
        self._run = run
        self._what = what
        self._count = count = len(run.columns[0])
        self._all, self._none = np.ones(count, dtype=bool), np.zeros(count, dtype=bool)
        self._zeros = np.zeros(count, dtype=np.int64)
        self._markers: dict[int, NDArray[np.int64]] = {}
        self._keys: dict[str, RunKey] = {}
        found: dict[str, list[RunKey]] = {}
        for key in run.objects[layout_object]:
            found.setdefault(key.name, []).append(key)
        for name in names:
            keys = found.get(name, [])
            if len(keys) > 1:
                raise ModelFormatError(f"{what.format(0)} has the key {name!r} twice")
            if keys:
                self._keys[name] = keys[0]

    def present(self, name: str) -> NDArray[np.bool_]:
        return self._all if name in self._keys else self._none

    def value_at(self, name: str, required: bool = True) -> NDArray[np.int64]:
        """Where each element's value of ``name`` starts (0 where it has none)."""
        key = self._keys.get(name)
        if key is None:
            if required:
                raise ModelFormatError(f"{self._what.format(0)} has no {name!r}")
            return self._zeros
        return self._run.value_at(key)

    def typed_fields(self, names: Sequence[str], integers: Sequence[str]) -> list[_TypedField]:
        """:meth:`_UbjDocument.typed_fields` for the elements' keys ``names`` (those in
        ``integers`` of integers): the first element's headers are checked as that checks
        them, and they stand for all, since a header is a constant of the layout; its count,
        the item after it, the walk has read in every element."""
        run, buf, count = self._run, self._buf, self._count
        found: list[tuple[int, int]] = []  # each present field's column and marker
        for name in names:
            key = self._keys.get(name)
            if key is None:
                found.append((-1, -1))
                continue
            at = int(run.columns[key.column][0]) - key.back
            header = buf[at : at + 5]
            marker = header[2] if len(header) == 5 else -1
            typed = at + 13 <= len(buf) and header[:2] == b"[$" and header[3:] == b"#L"
            if not (typed and (marker in _INTEGER_TYPES or name not in integers)):
                kind = "an integer typed array" if name in integers else "a typed array"
                raise ModelFormatError(f"tree 0: {name} is not {kind}, as XGBoost writes it", at)
            found.append((key.column, marker))
        # Where the elements start, past each header and count: one numpy step for all.
        present = [column for column, _ in found if column >= 0]
        firsts = iter(np.array([run.columns[column] for column in present]) + 8 if present else [])
        fields = []
        for column, marker in found:
            if column < 0:
                fields.append(_TypedField(buf, self._none, self._zeros, self._zeros, self._zeros))
                continue
            markers = self._markers.get(marker)
            if markers is None:
                markers = self._markers[marker] = np.full(count, marker)
            first = next(firsts)
            fields.append(_TypedField(buf, self._all, run.sizes[column], first, markers, marker))
        return fields

    def string_lengths(self, names: Sequence[str]) -> NDArray[np.int64] | None:
        """The lengths of the elements' strings ``names`` (row n: name n), which the walk
        read; None unless each is a string (a one-byte count is also a typed array's)."""
        rows = []
        for name in names:
            key = self._keys.get(name)
            if key is None or self._run.kinds[key.column] != 1 or key.back != 2:
                return None
            if self._buf[int(self._run.columns[key.column][0]) - 2] != ord("S"):
                return None
            rows.append(self._run.sizes[key.column])
        return np.array(rows)

    def nested(self, name: str, names: Sequence[str], what: str) -> _RunMembers:
        at = self.value_at(name)
        child = self._keys[name].child
        if child < 0:
            raise ModelFormatError(f"{self._what.format(0)}: {name} must be an object", int(at[0]))
        return _RunMembers(self._buf, self._run, child, names, what)


def _clamp(at: NDArray[np.int64], highest: int) -> NDArray[np.int64]:
    return np.minimum(np.maximum(at, 0), highest)
