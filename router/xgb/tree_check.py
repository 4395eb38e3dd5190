"""Value checks for XGBoost models: the numbers XGBoost uses as indices and sizes unchecked.

:mod:`router.xgb.model_format` makes sure XGBoost's reader can parse a file. A well-formed file
can still take the process down through its values, because XGBoost 3.x (``RegTree::
LoadModel``, ``MultiTargetTree::LoadModel``, ``GBTreeModel::LoadModel``, ``Dart``,
``GBLinearModel`` and the CPU predictor) indexes its vectors with numbers from the file:

* ``RegTree::LoadModel`` sets each node's left-child flag through ``nodes_[parent]``: a
  parent outside the tree reads out of bounds (the segfaults a byte-flip fuzzer found);
* prediction walks down from the root by ``left_children`` (a numerical split's right child
  is taken to be ``left + 1``), reads the row's feature ``split_indices``, adds leaves into
  output group ``tree_info``, and takes an iteration's trees from ``iteration_indptr``;
  SHAP values recurse through ``left_children`` and ``right_children``; DART scales tree
  ``i`` by ``weight_drop[i]``; gblinear reads ``(num_feature + 1) x groups`` weights;
* trees are stored at their ``id``, so two trees with one id leave a null tree behind;
* a categorical split's ``categories_segments`` and ``categories_sizes`` point into
  ``categories``, whose codes become bit positions in a bitfield sized by the largest one;
* a vector-leaf (multi-target) tree keeps a leaf's row of ``leaf_weights`` in
  ``right_children``, and looks its arrays up without checking that they exist;
* a missing gblinear ``weights`` is dereferenced all the same.

So this module checks, for every tree: ``tree_param`` holds decimal numbers; each per-node
array has ``num_nodes`` elements; a split's children are ``left`` and ``left + 1``, both in
the tree and neither the root, and both name the split as their parent (so the nodes reached
from the root form a tree: no cycles, no shared children); a scalar leaf has no children, a
vector leaf a row of ``leaf_weights``; the root's parent is XGBoost's sentinel (``2**31 - 1``
as written, or -1) and every other node's parent is a node of the tree; a split's feature is
below ``num_feature``; ``split_type`` is 0 or 1, 1 only at splits, and those are listed in
increasing order in ``categories_nodes``, each with a non-empty segment of ``categories``,
whose codes are in [0, 2**24). And for the model: ``num_trees`` trees with ids 0 .. n-1 once
each, one output group in [0, groups) per tree in ``tree_info``, an ``iteration_indptr``
rising from 0 to the number of trees, one DART weight per tree, vector leaves as wide as the
model's output, all of gblinear's weights, and parameters below ``2**31`` (so that XGBoost
reads them as the same numbers).

Not checked: float values and ``num_deleted`` (XGBoost checks what it needs of them and
raises an error rather than crashing), the types of arrays (``get<>`` checks them), and the
categorical re-coder ``cats``, which only data-frame input uses (a model whose re-coder has
offsets, sorted indices and segments out of range loads, predicts from numpy, and saves,
unharmed). Where a part every model has is missing (``learner_model_param``,
``gradient_booster``), XGBoost refuses the file with an error, and that is left to it.

The tree arrays are read with numpy, never element by element in Python. For UBJSON each
tree's typed arrays are sliced straight out of the file's bytes (big-endian ``>i4`` and the
like) at offsets found with the :class:`~router.xgb.model_format.UbjSkeleton` that the structural
walk recorded, so nothing is walked twice; for JSON the lists of the trees are joined and
converted at once. (The model's own arrays of scalars, ``tree_info`` and
``iteration_indptr``, are read a run of one marker at a time: one to three runs.) Nodes are
checked in chunks of trees of about ``_CHUNK_NODES`` nodes: on a Firecracker VM (Lambda's,
and the one this was measured on) each page of a freshly allocated array costs a fault of
microseconds; five whole-forest arrays of 205,000 nodes took 7.7 ms, the same work in chunks
that malloc can reuse 0.6 ms.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain, pairwise
from typing import TYPE_CHECKING, Any, Final, Protocol

import numpy as np

from router.xgb.model_format import ModelFormatError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from numpy.typing import NDArray

    from router.xgb.model_format import UbjSkeleton

    Integers = NDArray[np.signedinteger[Any]]

__all__ = ["MAX_CATEGORY", "check_json_values", "check_ubj_values"]

# XGBoost treats category codes from 2**24 up (where float32 stops being exact) as invalid;
# one in a split would only make it allocate a bitfield that large.
MAX_CATEGORY: Final = 1 << 24
_MAX_PARAMETER: Final = 2**31 - 1  # XGBoost's parameters are int32 or uint32
_ROOT_SENTINEL: Final = 2**31 - 1  # the root's parent: -1 without its "left child" bit
_CHUNK_NODES: Final = 1 << 15

_INDEX_ARRAYS: Final = ("left_children", "right_children", "parents", "split_indices")
_NODE_ARRAYS: Final = ("split_conditions", "default_left", "loss_changes", "sum_hessian")
_CATEGORY_ARRAYS: Final = (
    "categories_nodes",
    "categories_segments",
    "categories_sizes",
    "categories",
)
_DECODED: Final = (*_INDEX_ARRAYS, "split_type", *_CATEGORY_ARRAYS)
_LENGTH_ONLY: Final = (*_NODE_ARRAYS, "base_weights", "leaf_weights")
_TREE_PARAMETERS: Final = ("num_nodes", "num_feature", "size_leaf_vector")


def check_ubj_values(buf: bytes, skeleton: UbjSkeleton) -> None:
    """Check the values of a UBJSON model whose structural walk recorded ``skeleton``;
    raises :class:`ModelFormatError`."""
    _check_model(_UbjObject(_UbjDocument(buf, skeleton), 0, ""))


def check_json_values(document: dict[str, Any]) -> None:
    """Check the values of a parsed JSON model; raises :class:`ModelFormatError`."""
    _check_model(_JsonObject(document, ""))


# What the checks read from a model, in either format.


class _Field(Protocol):
    """One array of every tree (``left_children``, say): which trees have it, how long it
    is in each, and the elements of a range of trees, end to end."""

    @property
    def present(self) -> NDArray[np.bool_]: ...
    @property
    def length(self) -> NDArray[np.int64]: ...
    def values(self, begin: int, end: int) -> Integers: ...

    def offset(self, tree: int, index: int) -> int | None:
        """The byte offset of an element, for an error message; None for JSON."""


@dataclass(frozen=True, slots=True)
class _Forest:
    ids: NDArray[np.int64]
    num_nodes: NDArray[np.int64]
    num_feature: NDArray[np.int64]
    size_leaf_vector: NDArray[np.int64]
    fields: dict[str, _Field]


class _Object(Protocol):
    """An object of the model document, as the checks navigate it."""

    path: str  # where it is in the document, say "learner.gradient_booster"; "" at the top

    def has(self, key: str) -> bool: ...
    def object(self, key: str) -> _Object: ...
    def string(self, key: str) -> str: ...
    def integers(self, key: str) -> NDArray[np.int64]: ...
    def length(self, key: str) -> int: ...
    def forest(self, key: str) -> _Forest: ...


# The checks.


def _check_model(root: _Object) -> None:
    learner = root.object("learner")
    if not (learner.has("learner_model_param") and learner.has("gradient_booster")):
        return  # not a model XGBoost reads: it refuses the file with an error, no crash
    params = learner.object("learner_model_param")
    num_feature = _parameter(params, "num_feature", 0)
    groups = max(_parameter(params, "num_class", 0), _parameter(params, "num_target", 1), 1)
    booster = learner.object("gradient_booster")
    name = booster.string("name")
    if name == "gblinear":
        model = booster.object("model")
        weights = model.length("weights")
        if weights != (num_feature + 1) * groups:
            raise ModelFormatError(
                f"{_path(model, 'weights')} has {weights} values; {num_feature} features and "
                f"{groups} output groups need {(num_feature + 1) * groups}"
            )
    elif name in ("gbtree", "dart"):
        gbtree = booster.object("gbtree") if name == "dart" else booster
        model = gbtree.object("model")
        trees = _check_gbtree(model, num_feature, groups)
        # DART's weight per tree: beside "gbtree" as XGBoost 3.2 writes it (without it, it
        # refuses the file), in the model as later versions may.
        for holder in (booster, model):
            if name == "dart" and holder.has("weight_drop"):
                weights = holder.length("weight_drop")
                if weights != trees:
                    raise ModelFormatError(
                        f"{_path(holder, 'weight_drop')} has {weights} weights for {trees} trees"
                    )
    else:
        raise ModelFormatError(f"{_path(booster, 'name')} is {name!r}, not a booster XGBoost has")


def _check_gbtree(model: _Object, num_feature: int, groups: int) -> int:
    """Check a gbtree ``model`` object; returns its number of trees."""
    param = model.object("gbtree_model_param")
    num_trees = _parameter(param, "num_trees", 0)
    if _parameter(param, "num_parallel_tree", 1) < 1:
        raise ModelFormatError(f"{_path(param, 'num_parallel_tree')} must be at least 1")
    forest = model.forest("trees")
    trees = len(forest.ids)
    if num_trees != trees:
        raise ModelFormatError(f"{_path(param, 'num_trees')} is {num_trees}; there are {trees}")
    ids = forest.ids
    tree = _first((ids < 0) | (ids >= trees))
    if tree is not None:
        raise ModelFormatError(f"tree {tree} has id {ids[tree]}, not one of 0 .. {trees - 1}")
    if trees and np.bincount(ids, minlength=trees).max() > 1:
        raise ModelFormatError(f"tree ids must be 0 .. {trees - 1} once each: {_show(ids)}")

    tree_info = model.integers("tree_info")
    if len(tree_info) != trees:
        raise ModelFormatError(
            f"{_path(model, 'tree_info')} has {len(tree_info)} for {trees} trees"
        )
    tree = _first((tree_info < 0) | (tree_info >= groups))
    if tree is not None:
        raise ModelFormatError(
            f"{_path(model, 'tree_info')} puts tree {tree} in output group {tree_info[tree]}; "
            f"the model has groups 0 .. {groups - 1}"
        )
    if model.has("iteration_indptr"):
        indptr = model.integers("iteration_indptr")
        if (
            len(indptr) == 0
            or indptr[0] != 0
            or indptr[-1] != trees
            or np.any(indptr[1:] < indptr[:-1])
        ):
            raise ModelFormatError(
                f"{_path(model, 'iteration_indptr')} must rise from 0 to {trees}: {_show(indptr)}"
            )
    _check_forest(forest, num_feature, groups)
    return trees


def _check_forest(forest: _Forest, num_feature: int, groups: int) -> None:
    """What can be checked per tree, then the nodes, a chunk of trees at a time."""
    fields = forest.fields
    trees = len(forest.ids)
    nodes = forest.num_nodes
    width = forest.size_leaf_vector
    vector = width > 1
    everywhere = np.ones(trees, dtype=bool)
    tree = _first(nodes < 1)
    if tree is not None:
        raise ModelFormatError(f"tree {tree}: tree_param.num_nodes must be at least 1")
    tree = _first(vector & (width != groups))
    if tree is not None:
        raise ModelFormatError(
            f"tree {tree}: its leaves have {width[tree]} values (tree_param.size_leaf_vector); "
            f"the model has {groups} outputs"
        )
    for name in (*_INDEX_ARRAYS, *_NODE_ARRAYS):
        _expect_lengths(fields[name], name, nodes, everywhere)
    weights = fields["base_weights"]
    _expect_present(weights, "base_weights", everywhere)
    per_node = weights.length // np.maximum(nodes, 1)
    vector_bad = (per_node * nodes != weights.length) | (per_node < 1) | (per_node > width)
    tree = _first(np.where(vector, vector_bad, weights.length != nodes))
    if tree is not None:
        raise ModelFormatError(
            f"tree {tree}: base_weights has {weights.length[tree]} values for {nodes[tree]} nodes"
        )
    leaf_weights = fields["leaf_weights"]
    _expect_present(leaf_weights, "leaf_weights", vector)
    tree = _first(vector & (leaf_weights.length % np.maximum(width, 1) != 0))
    if tree is not None:
        raise ModelFormatError(
            f"tree {tree}: leaf_weights has {leaf_weights.length[tree]} values, not rows of "
            f"{width[tree]}"
        )
    # Categorical splits: XGBoost reads the other arrays only in trees with a split_type. A
    # vector-leaf tree must have one: without it, XGBoost leaves the tree's split types empty
    # and aborts when it predicts.
    _expect_present(fields["split_type"], "split_type", vector)
    categorical = fields["split_type"].present
    _expect_lengths(fields["split_type"], "split_type", nodes, categorical)
    for name in _CATEGORY_ARRAYS:
        _expect_present(fields[name], name, categorical)

    limits = np.minimum(num_feature, forest.num_feature)
    rows = leaf_weights.length // np.maximum(width, 1)
    for begin, end in _chunks(nodes):
        _check_nodes(forest, begin, end, limits, rows)


def _check_nodes(
    forest: _Forest, begin: int, end: int, limits: NDArray[np.int64], rows: NDArray[np.int64]
) -> None:
    """The nodes of trees ``begin`` to ``end``, end to end: node k is node ``k - base[k]`` of
    tree ``begin + at.tree_of(k)``, which has ``size[k]`` nodes."""
    fields = forest.fields
    # int32 per node: a chunk has fewer than 2**31 nodes, and half the bytes of int64 is
    # about half the time.
    nodes = forest.num_nodes[begin:end].astype(np.int32)
    vector = forest.size_leaf_vector[begin:end] > 1
    at = _Locator(np.cumsum(nodes, dtype=np.int64) - nodes, begin)
    base = np.repeat(at.start.astype(np.int32), nodes)
    size = np.repeat(nodes, nodes)
    left = fields["left_children"].values(begin, end)
    right = fields["right_children"].values(begin, end)
    parent = fields["parents"].values(begin, end)
    split = left != -1

    # A split's children are left and left + 1, in the tree, and not the root.
    bad = split & ((left < 1) | (left >= size - 1))
    at.raise_first(bad, fields["left_children"], lambda k: (
        f"has left child {left[k]}, not in 1 .. {size[k] - 2} (the right child is left + 1)"
    ))  # fmt: skip
    if vector.any():
        leaf_rows = np.repeat(np.minimum(rows[begin:end], _MAX_PARAMETER).astype(np.int32), nodes)
        leaf_bad = np.where(
            np.repeat(vector, nodes), (right < 0) | (right >= leaf_rows), right != -1
        )
        bad = np.where(split, right != left + 1, leaf_bad)
    else:  # right = left + 1 at a split, and -1 = left at a leaf: in int32, safe from here
        bad = right - left != split
    at.raise_first(bad, fields["right_children"], lambda k: (
        f"has right child {right[k]}, not "
        + (f"left + 1 = {left[k] + 1}" if split[k] else "-1 (or, in a vector leaf, a row)")
    ))  # fmt: skip

    # The root's parent is the sentinel; every other parent is a node of the tree.
    bad = (parent < 0) | (parent >= size)
    root_parent = parent[at.start]
    scalar_root_bad = (root_parent != -1) & (root_parent != _ROOT_SENTINEL)
    bad[at.start] = np.where(vector, root_parent != -1, scalar_root_bad)
    at.raise_first(bad, fields["parents"], lambda k: (
        f"has parent {parent[k]}, "
        + ("not the root's sentinel" if k == base[k] else f"not one of its {size[k]} nodes")
    ))  # fmt: skip
    # And both children of a split name it as their parent.
    splits = np.flatnonzero(split)
    child = base[splits] + left[splits]
    local = splits - base[splits]
    bad = np.zeros(len(left), dtype=bool)
    bad[splits] = (parent[child] != local) | (parent[child + 1] != local)
    at.raise_first(bad, fields["parents"], lambda k: (
        f"has children {left[k]} and {left[k] + 1}, whose parents are "
        f"{parent[base[k] + left[k]]} and {parent[base[k] + left[k] + 1]}"
    ))  # fmt: skip

    feature = fields["split_indices"].values(begin, end)
    limit = np.repeat(limits[begin:end].astype(np.int32), nodes)
    bad = split & ((feature < 0) | (feature >= limit))
    at.raise_first(bad, fields["split_indices"], lambda k: (
        f"splits on feature {feature[k]}; the model has {limit[k]}"
    ))  # fmt: skip
    _check_categories(forest, at, split)


def _check_categories(forest: _Forest, at: _Locator, split: NDArray[np.bool_]) -> None:
    """The categorical splits of the chunk of trees that ``at`` locates nodes in. XGBoost
    reads categories only in trees with a ``split_type``; they are ignored in the others."""
    fields = forest.fields
    begin = at.first_tree
    end = begin + len(at.start)
    split_type = fields["split_type"]
    typed = split_type.present[begin:end]
    if not typed.any():
        return
    nodes = forest.num_nodes[begin:end]
    kind = split_type.values(begin, end)
    if not typed.all():  # the nodes of trees without split_type are numerical
        kind, present_kind = np.zeros(len(split), dtype=kind.dtype), kind
        kind[np.repeat(typed, nodes)] = present_kind
    categorical = np.zeros(0, dtype=np.int64)
    if kind.any():
        bad = (kind != 0) & ((kind != 1) | ~split)
        at.raise_first(bad, split_type, lambda k: (
            f"has split type {kind[k]}" + (" but is a leaf" if kind[k] == 1 else ", not 0 or 1")
        ))  # fmt: skip
        categorical = np.flatnonzero(kind)
    count = np.bincount(at.tree_of(categorical), minlength=end - begin)
    listed, segments, sizes, categories = (fields[name] for name in _CATEGORY_ARRAYS)
    node, listed_length = _in_trees(listed, begin, end, typed)
    segment, segments_length = _in_trees(segments, begin, end, typed)
    size, sizes_length = _in_trees(sizes, begin, end, typed)
    tree = _first((listed_length != count) | (segments_length != count) | (sizes_length != count))
    if tree is not None:
        raise ModelFormatError(
            f"tree {begin + tree}: {count[tree]} nodes have categorical splits; "
            f"categories_nodes, _segments and _sizes have {listed_length[tree]}, "
            f"{segments_length[tree]} and {sizes_length[tree]} entries"
        )
    if not count.any():
        return

    # One entry per categorical split, of all the chunk's trees end to end.
    entries = _Locator(np.cumsum(count) - count, begin)
    owner = np.repeat(np.arange(end - begin), count)
    bad = (node < 0) | (node >= nodes[owner])
    bad[1:] |= (owner[1:] == owner[:-1]) & (node[1:] <= node[:-1])
    entries.raise_first(bad, listed, lambda j: (
        f"is node {node[j]}: categories_nodes must rise, inside the tree"
    ), what="categorical split")  # fmt: skip
    bad = kind[at.start[owner] + node] != 1
    entries.raise_first(bad, listed, lambda j: (
        f"is node {node[j]}, whose split_type is not categorical"
    ), what="categorical split")  # fmt: skip
    code, codes_length = _in_trees(categories, begin, end, typed)
    total = codes_length[owner]
    bad = (segment < 0) | (size < 1) | (segment > total - size)
    entries.raise_first(bad, segments, lambda j: (
        f"has categories {segment[j]} .. {segment[j]} + {size[j]} - 1, not a non-empty part "
        f"of the tree's {total[j]}"
    ), what="categorical split")  # fmt: skip
    bad = (code < 0) | (code >= MAX_CATEGORY)
    _Locator(np.cumsum(codes_length) - codes_length, begin).raise_first(bad, categories, lambda j: (
        f"is {code[j]}, not in 0 .. 2**24 - 1"
    ), what="category")  # fmt: skip


def _in_trees(
    field: _Field, begin: int, end: int, keep: NDArray[np.bool_]
) -> tuple[Integers, NDArray[np.int64]]:
    """The elements of those of trees ``begin`` to ``end`` that ``keep`` selects, and the
    lengths of all these trees' arrays, 0 for the others."""
    values = field.values(begin, end)
    length = field.length[begin:end]
    if keep.all():
        return values, length
    return values[np.repeat(keep, length)], np.where(keep, length, 0)


# Helpers of the checks.


@dataclass(frozen=True, slots=True)
class _Locator:
    """Finds the tree and the index in it of an element of arrays laid end to end."""

    start: NDArray[np.int64]  # where each tree's elements begin
    first_tree: int  # the number of the first of these trees in the model

    def tree_of(self, elements: NDArray[np.int64]) -> NDArray[np.int64]:
        """The trees of ``elements``, counted from ``first_tree``."""
        return np.searchsorted(self.start, elements, side="right") - 1

    def raise_first(
        self,
        bad: NDArray[np.bool_],
        field: _Field,
        describe: Callable[[int], str],
        what: str = "node",
    ) -> None:
        """Raise for the first element where ``bad`` holds, naming its tree and index and,
        for UBJSON, its byte offset."""
        k = _first(bad)
        if k is None:
            return
        tree = int(self.tree_of(np.array([k]))[0])
        index = k - int(self.start[tree])
        tree += self.first_tree
        raise ModelFormatError(
            f"tree {tree}: {what} {index} {describe(k)}", field.offset(tree, index)
        )


def _chunks(nodes: NDArray[np.int64]) -> list[tuple[int, int]]:
    """Ranges of trees whose nodes start in the same stretch of ``_CHUNK_NODES``: at most
    that many nodes and those of the range's last tree."""
    group = (np.cumsum(nodes) - nodes) // _CHUNK_NODES
    bounds = [0, *(np.flatnonzero(group[1:] != group[:-1]) + 1).tolist(), len(nodes)]
    return [(a, b) for a, b in pairwise(bounds) if a < b]


def _parameter(obj: _Object, key: str, default: int) -> int:
    """A model parameter: XGBoost stores numbers as strings of decimal digits."""
    if not obj.has(key):
        return default
    return _parse_parameter(obj.string(key), _path(obj, key))


def _path(obj: _Object, key: str) -> str:
    """Where a key of ``obj`` is in the document, for messages."""
    return f"{obj.path}.{key}" if obj.path else key


def _parse_parameter(text: str, where: str) -> int:
    if not (0 < len(text) <= 10 and text.isascii() and text.isdigit()):
        raise ModelFormatError(f"{where} must be a number in decimal digits, not {text[:20]!r}")
    value = int(text)
    if value > _MAX_PARAMETER:
        raise ModelFormatError(f"{where} is {value}, beyond what XGBoost reads")
    return value


def _clamp(at: NDArray[np.int64], highest: int) -> NDArray[np.int64]:
    return np.minimum(np.maximum(at, 0), highest)


def _first(mask: NDArray[np.bool_]) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if len(hits) else None


def _expect_present(field: _Field, name: str, needed: NDArray[np.bool_]) -> None:
    tree = _first(needed & ~field.present)
    if tree is not None:
        raise ModelFormatError(f"tree {tree} has no {name}")


def _expect_lengths(
    field: _Field, name: str, nodes: NDArray[np.int64], needed: NDArray[np.bool_]
) -> None:
    _expect_present(field, name, needed)
    tree = _first(needed & (field.length != nodes))
    if tree is not None:
        raise ModelFormatError(
            f"tree {tree}: {name} has {field.length[tree]} elements for "
            f"tree_param.num_nodes = {nodes[tree]}"
        )


def _show(values: NDArray[np.int64]) -> str:
    shown = ", ".join(str(value) for value in values[:8])
    return f"[{shown}{', ...' if len(values) > 8 else ''}]"


# UBJSON: the values read from the bytes, at offsets from the structural walk.

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

    def keys_named(self, keys: NDArray[np.int64], names: Sequence[str]) -> dict[str, Any]:
        """For each name, those of the key numbers ``keys`` that spell it."""
        found: dict[str, Any] = {}
        lengths = self.key_length[keys]
        for length in sorted({len(name) for name in names}):
            same_length = keys[lengths == length]
            spelt = self._view(np.dtype(f"S{length}"))[self.key_start[same_length]]
            for name in names:
                if len(name) == length:
                    found[name] = same_length[spelt == name.encode()]
        return found

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
        index = _first(~typed)
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
        for marker in np.unique(markers).tolist():
            chosen = markers == marker
            if marker not in _INTEGER_TYPES:
                index = int(np.flatnonzero(chosen)[0])
                raise ModelFormatError(f"{what.format(index)} is not an integer", int(at[index]))
            values[chosen] = self.read(_INTEGER_TYPES[marker], at[chosen] + 1)
        return values

    def decimal_strings(self, at: NDArray[np.int64], what: Sequence[str]) -> NDArray[np.int64]:
        """Parameters: strings of up to 10 decimal digits, parsed together; row p of ``at``
        holds parameter p of every tree, ``what[p].format(tree)`` names one in a message."""
        flat = at.ravel()
        length = self.read(_INT64, flat + 2)
        digits = self.byte((flat + 10)[:, None] + np.arange(10)) - ord("0")
        power = length[:, None] - 1 - np.arange(10)  # of ten, for each digit; < 0: not a digit
        used = power >= 0
        valid = (self.byte(flat) == ord("S")) & (length >= 1) & (length <= 10)
        valid &= np.all(~used | ((digits >= 0) & (digits <= 9)), axis=1)
        scale = 10 ** np.minimum(np.maximum(power, 0), 9)
        values: NDArray[np.int64] = (np.where(used, digits, 0) * scale).sum(axis=1)
        index = _first(~valid | (values > _MAX_PARAMETER))
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
    from byte ``first``, in the trees where ``present``."""

    buf: bytes
    present: NDArray[np.bool_]
    length: NDArray[np.int64]
    first: NDArray[np.int64]
    marker: NDArray[np.int64]

    def values(self, begin: int, end: int) -> Integers:
        """The elements of trees ``begin`` to ``end``: a slice of the bytes per tree, joined,
        which is much faster than an index array into the bytes."""
        chosen = self.present[begin:end]
        first = self.first[begin:end][chosen]
        length = self.length[begin:end][chosen]
        markers = self.marker[begin:end][chosen]
        if not length.any():
            return np.zeros(0, dtype=np.int32)
        buf = memoryview(self.buf)
        if np.all(markers == markers[0]):
            dtype = _INTEGER_TYPES[int(markers[0])]
            stop = first + length * dtype.itemsize
            joined = b"".join(
                [buf[a:b] for a, b in zip(first.tolist(), stop.tolist(), strict=True)]
            )
            # int32 when that holds them: half the memory traffic of int64.
            native = np.int32 if dtype.itemsize <= 4 else np.int64
            values: Integers = np.frombuffer(joined, dtype=dtype).astype(native)
            return values
        parts = [
            np.frombuffer(buf, dtype=_INTEGER_TYPES[m], count=n, offset=a).astype(np.int64)
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
        for key in np.flatnonzero(doc.key_owner == container).tolist():
            start, value = int(doc.key_start[key]), int(doc.value_at[key])
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
        container = int(self._doc.container_at(np.array([at]))[0])
        if self._doc.buf[at] != ord("{") or container < 0:
            raise ModelFormatError(f"{_path(self, key)} must be an object", at)
        return _UbjObject(self._doc, container, _path(self, key))

    def string(self, key: str) -> str:
        at = self._value(key)
        buf = self._doc.buf
        if buf[at] != ord("S"):
            raise ModelFormatError(f"{_path(self, key)} must be a string", at)
        length = int(self._doc.read(_INT64, np.array([at + 2]))[0])
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
        where = _path(self, key)
        if buf[at] != ord("["):
            raise ModelFormatError(f"{where} must be an array", at)
        if buf[at + 1] == ord("$"):
            field = doc.typed_arrays(np.array([at]), np.array([True]), where, integers)
            values = field.values(0, 1).astype(np.int64) if integers else np.zeros(0, np.int64)
            return values, int(field.length[0])
        container = int(doc.container_at(np.array([at]))[0])
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

    def forest(self, key: str) -> _Forest:
        doc, at = self._doc, self._value(key)
        where = _path(self, key)
        if doc.buf[at] != ord("[") or doc.buf[at + 1] == ord("$"):
            raise ModelFormatError(f"{where} must be an array of tree objects", at)
        # The trees: the containers directly in the array, which must fill it end to end.
        array = int(doc.container_at(np.array([at]))[0])
        trees = np.flatnonzero(doc.parents == array) if array >= 0 else np.zeros(0, np.int64)
        if array >= 0:
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
        members = _Members(doc, trees, ("id", "tree_param", *_DECODED, *_LENGTH_ONLY))
        ids = doc.scalar_integers(members.value_at("id"), "tree {}'s id")
        params_at = members.value_at("tree_param")
        params = doc.container_at(params_at)
        tree = _first((params < 0) | (doc.byte(params_at) != ord("{")))
        if tree is not None:
            raise ModelFormatError(
                f"tree {tree}: tree_param must be an object", int(params_at[tree])
            )
        param_members = _Members(doc, params, _TREE_PARAMETERS, "tree {}: tree_param")
        num_nodes, num_feature, size_leaf_vector = doc.decimal_strings(
            np.array([param_members.value_at(name) for name in _TREE_PARAMETERS]),
            [f"tree {{}}: tree_param.{name}" for name in _TREE_PARAMETERS],
        )
        names = (*_DECODED, *_LENGTH_ONLY)
        present = np.array([members.present(name) for name in names])
        fields = doc.typed_fields(
            np.array([members.value_at(name, required=False) for name in names]),
            present,
            [f"tree {{}}: {name}" for name in names],
            [name in _DECODED for name in names],
        )
        fields_by_name: dict[str, _Field] = dict(zip(names, fields, strict=True))
        return _Forest(ids, num_nodes, num_feature, size_leaf_vector, fields_by_name)


class _Members:
    """The keys ``names`` in each of a list of objects (the trees, say), found in bulk."""

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
        which = np.full(len(doc.opens), -1, dtype=np.int64)
        which[objects] = np.arange(len(objects))
        keys = np.flatnonzero(which[doc.key_owner] >= 0)
        self._found: dict[str, tuple[NDArray[np.int64], NDArray[np.int64]]] = {}
        for name, spelt in doc.keys_named(keys, names).items():
            owner = which[doc.key_owner[spelt]]
            times = np.bincount(owner, minlength=self._count)
            index = _first(times > 1)
            if index is not None:
                raise ModelFormatError(f"{what.format(index)} has the key {name!r} twice")
            self._found[name] = (owner, doc.value_at[spelt])

    def present(self, name: str) -> NDArray[np.bool_]:
        owner, _ = self._found[name]
        present = np.zeros(self._count, dtype=bool)
        present[owner] = True
        return present

    def value_at(self, name: str, required: bool = True) -> NDArray[np.int64]:
        """Where each object's value of ``name`` starts (0 where it has none)."""
        owner, value_at = self._found[name]
        if required:
            index = _first(~self.present(name))
            if index is not None:
                raise ModelFormatError(f"{self._what.format(index)} has no {name!r}")
        at = np.zeros(self._count, dtype=np.int64)
        at[owner] = value_at
        return at


# JSON: the same values, from the parsed document.


class _JsonObject:
    def __init__(self, value: dict[str, Any], path: str) -> None:
        self._value = value
        self.path = path

    def has(self, key: str) -> bool:
        return key in self._value

    def _get(self, key: str) -> Any:
        if key not in self._value:
            raise ModelFormatError(f"{self.path or 'the document'} has no {key!r}")
        return self._value[key]

    def object(self, key: str) -> _JsonObject:
        value = self._get(key)
        if not isinstance(value, dict):
            raise ModelFormatError(f"{_path(self, key)} must be an object")
        return _JsonObject(value, _path(self, key))

    def string(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str):
            raise ModelFormatError(f"{_path(self, key)} must be a string")
        return value

    def _list(self, key: str) -> list[Any]:
        value = self._get(key)
        if not isinstance(value, list):
            raise ModelFormatError(f"{_path(self, key)} must be an array")
        return value

    def integers(self, key: str) -> NDArray[np.int64]:
        return _json_integers(self._list(key), _path(self, key))

    def length(self, key: str) -> int:
        return len(self._list(key))

    def forest(self, key: str) -> _Forest:
        trees = self._list(key)
        ids = np.zeros(len(trees), dtype=np.int64)
        parameters = {name: np.zeros(len(trees), dtype=np.int64) for name in _TREE_PARAMETERS}
        for index, tree in enumerate(trees):
            if not isinstance(tree, dict):
                raise ModelFormatError(f"{_path(self, key)}[{index}] must be a tree object")
            tree_id = tree.get("id")
            if not isinstance(tree_id, int) or isinstance(tree_id, bool):
                raise ModelFormatError(f"tree {index}'s id must be an integer")
            ids[index] = tree_id
            param = tree.get("tree_param")
            if not isinstance(param, dict):
                raise ModelFormatError(f"tree {index}: tree_param must be an object")
            for name in _TREE_PARAMETERS:
                text = param.get(name)
                if not isinstance(text, str):
                    raise ModelFormatError(f"tree {index}: tree_param must have {name!r}")
                where = f"tree {index}: tree_param.{name}"
                parameters[name][index] = _parse_parameter(text, where)
        fields: dict[str, _Field] = {
            name: _ListField(name, [tree.get(name) for tree in trees])
            for name in (*_DECODED, *_LENGTH_ONLY)
        }
        return _Forest(
            ids,
            parameters["num_nodes"],
            parameters["num_feature"],
            parameters["size_leaf_vector"],
            fields,
        )


class _ListField:
    """A field whose arrays are JSON lists (or absent: None)."""

    def __init__(self, name: str, columns: list[Any]) -> None:
        for tree, column in enumerate(columns):
            if column is not None and not isinstance(column, list):
                raise ModelFormatError(f"tree {tree}: {name} must be an array")
        self._name = name
        self._columns: list[list[Any] | None] = columns
        self.present = np.array([column is not None for column in columns], dtype=bool)
        self.length = np.array([len(column or ()) for column in columns], dtype=np.int64)

    def values(self, begin: int, end: int) -> Integers:
        columns = self._columns[begin:end]
        return _json_integers(list(chain.from_iterable(c for c in columns if c)), self._name)

    def offset(self, tree: int, index: int) -> int | None:
        return None


def _json_integers(values: list[Any], where: str) -> NDArray[np.int64]:
    """A JSON list of integers as int64; anything else (floats, booleans, numbers beyond
    int64, nested lists) is refused, as XGBoost refuses it."""
    if not values:
        return np.zeros(0, dtype=np.int64)
    try:
        array = np.array(values)
    except (OverflowError, ValueError, TypeError):
        array = np.zeros(0, dtype=object)
    if array.dtype.kind != "i" or array.ndim != 1:
        raise ModelFormatError(f"{where} must hold only integers that fit in 64 bits")
    return array.astype(np.int64, copy=False)
