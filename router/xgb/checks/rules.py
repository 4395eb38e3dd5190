"""The value checks, whatever the format: the numbers XGBoost uses as indices and sizes
unchecked.

:mod:`router.xgb.checks.ubj` and :mod:`router.xgb.checks.json` make sure XGBoost's reader can
parse a file. A well-formed file
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

The rules read a model through :class:`ModelObject` and :class:`Field`, which
:mod:`router.xgb.checks.ubj_values` implements over the bytes of a UBJSON file and
:mod:`router.xgb.checks.json` over a parsed JSON document: the tree arrays are read with
numpy, never element by element in Python. Nodes are checked in chunks of trees of about
``_CHUNK_NODES`` nodes: on a Firecracker VM (Lambda's) each page of a freshly allocated array
costs a page fault, and chunks that malloc can reuse avoid most of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any, Final, Protocol

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable

    from numpy.typing import NDArray

    Integers = NDArray[np.signedinteger[Any]]

__all__ = [
    "DECODED_ARRAYS",
    "LENGTH_ONLY_ARRAYS",
    "MAX_CATEGORY",
    "MAX_PARAMETER",
    "TREE_PARAMETERS",
    "Field",
    "Forest",
    "ModelFormatError",
    "ModelObject",
    "check_model",
    "first_true",
    "parse_parameter",
    "path_of",
    "show_byte",
]


class ModelFormatError(ValueError):
    """The bytes are not a well-formed XGBoost model. ``reason`` says what is wrong and
    ``offset`` at which byte, or is ``None`` when the problem is the document as a whole."""

    def __init__(self, reason: str, offset: int | None = None) -> None:
        super().__init__(reason if offset is None else f"{reason} (at byte offset {offset})")
        self.reason = reason
        self.offset = offset


# XGBoost treats category codes from 2**24 up (where float32 stops being exact) as invalid;
# one in a split would only make it allocate a bitfield that large.
MAX_CATEGORY: Final = 1 << 24
MAX_PARAMETER: Final = 2**31 - 1  # XGBoost's parameters are int32 or uint32
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
DECODED_ARRAYS: Final = (*_INDEX_ARRAYS, "split_type", *_CATEGORY_ARRAYS)
LENGTH_ONLY_ARRAYS: Final = (*_NODE_ARRAYS, "base_weights", "leaf_weights")
TREE_PARAMETERS: Final = ("num_nodes", "num_feature", "size_leaf_vector")


# What the checks read from a model, in either format.


class Field(Protocol):
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
class Forest:
    ids: NDArray[np.int64]
    num_nodes: NDArray[np.int64]
    num_feature: NDArray[np.int64]
    size_leaf_vector: NDArray[np.int64]
    fields: dict[str, Field]


class ModelObject(Protocol):
    """An object of the model document, as the checks navigate it."""

    path: str  # where it is in the document, say "learner.gradient_booster"; "" at the top

    def has(self, key: str) -> bool: ...
    def object(self, key: str) -> ModelObject: ...
    def string(self, key: str) -> str: ...
    def integers(self, key: str) -> NDArray[np.int64]: ...
    def length(self, key: str) -> int: ...
    def forest(self, key: str) -> Forest: ...


# The checks.


def check_model(root: ModelObject) -> None:
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
                f"{path_of(model, 'weights')} has {weights} values; {num_feature} features and "
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
                        f"{path_of(holder, 'weight_drop')} has {weights} weights for {trees} trees"
                    )
    else:
        raise ModelFormatError(f"{path_of(booster, 'name')} is {name!r}, not a booster XGBoost has")


def _check_gbtree(model: ModelObject, num_feature: int, groups: int) -> int:
    """Check a gbtree ``model`` object; returns its number of trees."""
    param = model.object("gbtree_model_param")
    num_trees = _parameter(param, "num_trees", 0)
    if _parameter(param, "num_parallel_tree", 1) < 1:
        raise ModelFormatError(f"{path_of(param, 'num_parallel_tree')} must be at least 1")
    forest = model.forest("trees")
    trees = len(forest.ids)
    if num_trees != trees:
        raise ModelFormatError(f"{path_of(param, 'num_trees')} is {num_trees}; there are {trees}")
    ids = forest.ids
    tree = first_true((ids < 0) | (ids >= trees))
    if tree is not None:
        raise ModelFormatError(f"tree {tree} has id {ids[tree]}, not one of 0 .. {trees - 1}")
    if trees and np.bincount(ids, minlength=trees).max() > 1:
        raise ModelFormatError(f"tree ids must be 0 .. {trees - 1} once each: {_show(ids)}")

    tree_info = model.integers("tree_info")
    if len(tree_info) != trees:
        raise ModelFormatError(
            f"{path_of(model, 'tree_info')} has {len(tree_info)} for {trees} trees"
        )
    tree = first_true((tree_info < 0) | (tree_info >= groups))
    if tree is not None:
        raise ModelFormatError(
            f"{path_of(model, 'tree_info')} puts tree {tree} in output group {tree_info[tree]}; "
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
                f"{path_of(model, 'iteration_indptr')} must rise from 0 to {trees}: {_show(indptr)}"
            )
    _check_forest(forest, num_feature, groups)
    return trees


def _check_forest(forest: Forest, num_feature: int, groups: int) -> None:
    """What can be checked per tree, then the nodes, a chunk of trees at a time."""
    fields = forest.fields
    trees = len(forest.ids)
    nodes = forest.num_nodes
    width = forest.size_leaf_vector
    vector = width > 1
    everywhere = np.ones(trees, dtype=bool)
    tree = first_true(nodes < 1)
    if tree is not None:
        raise ModelFormatError(f"tree {tree}: tree_param.num_nodes must be at least 1")
    tree = first_true(vector & (width != groups))
    if tree is not None:
        raise ModelFormatError(
            f"tree {tree}: its leaves have {width[tree]} values (tree_param.size_leaf_vector); "
            f"the model has {groups} outputs"
        )
    # Every tree has every per-node array, num_nodes long: checked for all of them at once,
    # and only if that fails one by one, to say which is the first that is not.
    node_fields = [fields[name] for name in (*_INDEX_ARRAYS, *_NODE_ARRAYS)]
    lengths = np.array([field.length for field in node_fields])
    if not (np.array([field.present for field in node_fields]).all() and (lengths == nodes).all()):
        for name in (*_INDEX_ARRAYS, *_NODE_ARRAYS):
            _expect_lengths(fields[name], name, nodes, everywhere)
    weights = fields["base_weights"]
    _expect_present(weights, "base_weights", everywhere)
    per_node = weights.length // np.maximum(nodes, 1)
    vector_bad = (per_node * nodes != weights.length) | (per_node < 1) | (per_node > width)
    tree = first_true(np.where(vector, vector_bad, weights.length != nodes))
    if tree is not None:
        raise ModelFormatError(
            f"tree {tree}: base_weights has {weights.length[tree]} values for {nodes[tree]} nodes"
        )
    leaf_weights = fields["leaf_weights"]
    _expect_present(leaf_weights, "leaf_weights", vector)
    tree = first_true(vector & (leaf_weights.length % np.maximum(width, 1) != 0))
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
    if (categorical & ~np.array([fields[name].present for name in _CATEGORY_ARRAYS])).any():
        for name in _CATEGORY_ARRAYS:
            _expect_present(fields[name], name, categorical)

    limits = np.minimum(num_feature, forest.num_feature)
    rows = leaf_weights.length // np.maximum(width, 1)
    for begin, end in _chunks(nodes):
        _check_nodes(forest, begin, end, limits, rows)


def _check_nodes(
    forest: Forest, begin: int, end: int, limits: NDArray[np.int64], rows: NDArray[np.int64]
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
        leaf_rows = np.repeat(np.minimum(rows[begin:end], MAX_PARAMETER).astype(np.int32), nodes)
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


def _check_categories(forest: Forest, at: _Locator, split: NDArray[np.bool_]) -> None:
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
    listed_length, segments_length, sizes_length = (
        _lengths_in_trees(field, begin, end, typed) for field in (listed, segments, sizes)
    )
    lengths_bad = (listed_length != count) | (segments_length != count) | (sizes_length != count)
    tree = first_true(lengths_bad)
    if tree is not None:
        raise ModelFormatError(
            f"tree {begin + tree}: {count[tree]} nodes have categorical splits; "
            f"categories_nodes, _segments and _sizes have {listed_length[tree]}, "
            f"{segments_length[tree]} and {sizes_length[tree]} entries"
        )
    if not count.any():
        return
    node, segment, size = (
        _in_trees(field, begin, end, typed) for field in (listed, segments, sizes)
    )

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
    code = _in_trees(categories, begin, end, typed)
    codes_length = _lengths_in_trees(categories, begin, end, typed)
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


def _in_trees(field: Field, begin: int, end: int, keep: NDArray[np.bool_]) -> Integers:
    """The elements of those of trees ``begin`` to ``end`` that ``keep`` selects."""
    values = field.values(begin, end)
    if keep.all():
        return values
    return values[np.repeat(keep, field.length[begin:end])]


def _lengths_in_trees(
    field: Field, begin: int, end: int, keep: NDArray[np.bool_]
) -> NDArray[np.int64]:
    """The lengths of the arrays of trees ``begin`` to ``end``, 0 for those that ``keep``
    does not select."""
    length = field.length[begin:end]
    return length if keep.all() else np.where(keep, length, 0)


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
        field: Field,
        describe: Callable[[int], str],
        what: str = "node",
    ) -> None:
        """Raise for the first element where ``bad`` holds, naming its tree and index and,
        for UBJSON, its byte offset."""
        k = first_true(bad)
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


def _parameter(obj: ModelObject, key: str, default: int) -> int:
    """A model parameter: XGBoost stores numbers as strings of decimal digits."""
    if not obj.has(key):
        return default
    return parse_parameter(obj.string(key), path_of(obj, key))


def path_of(obj: ModelObject, key: str) -> str:
    """Where a key of ``obj`` is in the document, for messages."""
    return f"{obj.path}.{key}" if obj.path else key


def parse_parameter(text: str, where: str) -> int:
    if not (0 < len(text) <= 10 and text.isascii() and text.isdigit()):
        raise ModelFormatError(f"{where} must be a number in decimal digits, not {text[:20]!r}")
    value = int(text)
    if value > MAX_PARAMETER:
        raise ModelFormatError(f"{where} is {value}, beyond what XGBoost reads")
    return value


def first_true(mask: NDArray[np.bool_]) -> int | None:
    """The index of the first true element, or None. Called some 60 times a check, nearly
    always on an all-false mask, for which ``any`` is one C reduction."""
    if not mask.any():
        return None
    return int(np.argmax(mask))


def _expect_present(field: Field, name: str, needed: NDArray[np.bool_]) -> None:
    tree = first_true(needed & ~field.present)
    if tree is not None:
        raise ModelFormatError(f"tree {tree} has no {name}")


def _expect_lengths(
    field: Field, name: str, nodes: NDArray[np.int64], needed: NDArray[np.bool_]
) -> None:
    _expect_present(field, name, needed)
    tree = first_true(needed & (field.length != nodes))
    if tree is not None:
        raise ModelFormatError(
            f"tree {tree}: {name} has {field.length[tree]} elements for "
            f"tree_param.num_nodes = {nodes[tree]}"
        )


def _show(values: NDArray[np.int64]) -> str:
    shown = ", ".join(str(value) for value in values[:8])
    return f"[{shown}{', ...' if len(values) > 8 else ''}]"


def show_byte(byte: int) -> str:
    """A marker byte for a message: printable ASCII as itself, anything else in hex."""
    return repr(chr(byte)) if 0x21 <= byte <= 0x7E else f"byte 0x{byte:02x}"
