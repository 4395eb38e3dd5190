"""The value checks (router.xgb.checks, run by check_model_bytes): real models of every kind
pass; each index or size XGBoost would trust, once corrupted, is refused with
ModelFormatError in UBJSON and in JSON; and no byte-flip mutant that passes the checks
crashes XGBoost, which is checked in child processes."""

from __future__ import annotations

import json
import random
import struct
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import xgboost as xgb

from router.xgb.checks import rules
from router.xgb.checks.rules import MAX_CATEGORY
from router.xgb.formats import ModelFormat, ModelFormatError, check_model_bytes
from tests import ubjson
from tests.modelkit import MODEL_KINDS, model_bytes, rows, train_booster

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

Document = dict[str, Any]


def _encode(document: Document, fmt: ModelFormat) -> bytes:
    return ubjson.encode(document) if fmt == "ubj" else json.dumps(document).encode()


@pytest.fixture
def documents(boosters: dict[str, xgb.Booster]) -> dict[str, Document]:
    """The models as JSON documents, fresh for every test, which may edit them."""
    return {name: json.loads(model_bytes(booster, "json")) for name, booster in boosters.items()}


def _model(document: Document) -> Document:
    """The gbtree model object: its trees, tree_info, iteration_indptr and parameters."""
    booster = document["learner"]["gradient_booster"]
    return booster["gbtree"]["model"] if booster["name"] == "dart" else booster["model"]


def _tree(document: Document, index: int) -> Document:
    return _model(document)["trees"][index]  # type: ignore[no-any-return]


def _first_leaf(tree: Document) -> int:
    return tree["left_children"].index(-1)  # type: ignore[no-any-return]


def _put(array: list[Any] | Document, index: int | str, value: Any) -> None:
    array[index] = value  # type: ignore[index]


# Valid models


@pytest.mark.parametrize("name", MODEL_KINDS)
@pytest.mark.parametrize("fmt", ["ubj", "json"])
def test_models_written_back_load_alike_and_pass(
    boosters: dict[str, xgb.Booster], documents: dict[str, Document], name: str, fmt: ModelFormat
) -> None:
    # What the corruption tests below rely on: a model written back unedited is the model.
    data = _encode(documents[name], fmt)

    check_model_bytes(data, fmt)
    copy = xgb.Booster(model_file=bytearray(data))
    matrix = xgb.DMatrix(rows())  # not inplace_predict: gblinear has none
    np.testing.assert_allclose(
        copy.predict(matrix, validate_features=False),
        boosters[name].predict(matrix, validate_features=False),
        rtol=1e-6,
    )


@pytest.mark.parametrize(
    "params",
    [
        {"num_parallel_tree": 3, "subsample": 0.8, "colsample_bynode": 0.7},  # a forest
        {"tree_method": "exact", "gamma": 3.0, "max_depth": 6},  # pruned: deleted nodes
        {"objective": "multi:softprob", "num_class": 3, "booster": "dart", "rate_drop": 0.5},
        {"booster": "gblinear", "objective": "multi:softprob", "num_class": 3},
    ],
    ids=["forest", "pruned", "dart-multiclass", "gblinear-multiclass"],
)
@pytest.mark.parametrize("fmt", ["ubj", "json"])
def test_more_model_kinds_pass(params: dict[str, Any], fmt: ModelFormat) -> None:
    matrix = rows(300, 4, seed=3)
    label = np.digitize(matrix[:, 0], [-0.5, 0.5]) if "num_class" in params else matrix[:, 0]
    booster = xgb.train({"seed": 0, "nthread": 1, **params}, xgb.DMatrix(matrix, label), 3)

    check_model_bytes(model_bytes(booster, fmt), fmt)


@pytest.mark.parametrize("fmt", ["ubj", "json"])
def test_a_model_without_trees_passes(fmt: ModelFormat) -> None:
    booster = xgb.train({"nthread": 1}, xgb.DMatrix(rows(20), np.arange(20.0)), 0)

    check_model_bytes(model_bytes(booster, fmt), fmt)


def test_pruned_models_have_deleted_nodes_and_pass() -> None:
    # Deleted nodes stay in the arrays, unreachable, with their old parent: allowed.
    matrix = rows(300, 4, seed=3)
    params = {"tree_method": "exact", "gamma": 3.0, "max_depth": 6, "nthread": 1, "seed": 0}
    booster = xgb.train(params, xgb.DMatrix(matrix, matrix[:, 0] * 3), 3)
    document = json.loads(model_bytes(booster, "json"))
    deleted = sum(int(tree["tree_param"]["num_deleted"]) for tree in _model(document)["trees"])

    assert deleted > 0
    check_model_bytes(_encode(document, "ubj"), "ubj")


# Targeted corruptions: each value XGBoost indexes with, set out of range.

Corruption = tuple[str, "Callable[[Document], None]", str]

CORRUPTIONS: dict[str, Corruption] = {
    # Parents: the crash the fuzzer found. RegTree::LoadModel reads nodes_[parent].
    "parent past the end": (
        "binary",
        lambda d: _put(_tree(d, 1)["parents"], 3, len(_tree(d, 1)["parents"]) + 7),
        "tree 1: node 3 has parent 20, not one of its 13 nodes",
    ),
    "negative parent": ("binary", lambda d: _put(_tree(d, 0)["parents"], 4, -3), "parent -3"),
    "parent that does not have the node as a child": (
        "binary",
        lambda d: _put(_tree(d, 0)["parents"], 3, 2),
        "tree 0: node 1 has children 3 and 4, whose parents are 2 and 1",
    ),
    "root with a parent": (
        "binary",
        lambda d: _put(_tree(d, 2)["parents"], 0, 0),
        "tree 2: node 0 has parent 0, not the root's sentinel",
    ),
    # Children: the predictor walks left_children, and takes the right child as left + 1.
    "left child past the end": (
        "binary",
        lambda d: _put(_tree(d, 0)["left_children"], 2, 12),
        "tree 0: node 2 has left child 12, not in 1 .. 11",
    ),
    "left child that is the root": (
        "binary",
        lambda d: _put(_tree(d, 0)["left_children"], 1, 0),
        "node 1 has left child 0",
    ),
    "right child that is not left + 1": (
        "binary",
        lambda d: _put(_tree(d, 0)["right_children"], 0, 3),
        "tree 0: node 0 has right child 3, not left + 1 = 2",
    ),
    "leaf with a right child": (
        "binary",
        lambda d: _put(_tree(d, 3)["right_children"], _first_leaf(_tree(d, 3)), 1),
        "has right child 1, not -1",
    ),
    "cycle through the children": (
        "binary",
        lambda d: (
            _put(_tree(d, 0)["left_children"], 3, 1),
            _put(_tree(d, 0)["right_children"], 3, 2),
        ),
        "tree 0: node 3 has children 1 and 2, whose parents are 0 and 0",
    ),
    # Features: the predictor reads the row at split_indices, SHAP writes there.
    "split feature past num_feature": (
        "binary",
        lambda d: _put(_tree(d, 1)["split_indices"], 0, 4),
        "tree 1: node 0 splits on feature 4; the model has 4",
    ),
    "negative split feature": (
        "binary",
        lambda d: _put(_tree(d, 1)["split_indices"], 1, -1),
        "splits on feature -1",
    ),
    "num_feature below the features used": (
        "binary",
        lambda d: _put(d["learner"]["learner_model_param"], "num_feature", "1"),
        "splits on feature",
    ),
    # Sizes: every array has num_nodes elements.
    "num_nodes one less than the arrays": (
        "binary",
        lambda d: _put(_tree(d, 4)["tree_param"], "num_nodes", "14"),
        "tree 4: left_children has 15 elements for tree_param.num_nodes = 14",
    ),
    "num_nodes that is no number": (
        "binary",
        lambda d: _put(_tree(d, 4)["tree_param"], "num_nodes", "1e3"),
        "num_nodes must be a number",
    ),
    "num_nodes beyond int32": (
        "binary",
        lambda d: _put(_tree(d, 4)["tree_param"], "num_nodes", "4294967311"),
        "num_nodes",
    ),
    "array shorter than num_nodes": (
        "binary",
        lambda d: _tree(d, 2)["sum_hessian"].pop(),
        "tree 2: sum_hessian has 12 elements for tree_param.num_nodes = 13",
    ),
    "array missing": ("binary", lambda d: _tree(d, 2).pop("parents"), "tree 2 has no"),
    # The model: trees, their ids and groups, iterations.
    "two trees with one id": (
        "binary",
        lambda d: _put(_tree(d, 3), "id", 1),
        "tree ids must be 0 .. 4 once each: [0, 1, 2, 1, 4]",
    ),
    "id past the trees": ("binary", lambda d: _put(_tree(d, 4), "id", 5), "tree 4 has id 5"),
    "num_trees not the trees": (
        "binary",
        lambda d: _put(_model(d)["gbtree_model_param"], "num_trees", "6"),
        "num_trees is 6; there are 5",
    ),
    "num_parallel_tree 0": (
        "binary",
        lambda d: _put(_model(d)["gbtree_model_param"], "num_parallel_tree", "0"),
        "num_parallel_tree must be at least 1",
    ),
    "tree_info group past the groups": (
        "multiclass",
        lambda d: _put(_model(d)["tree_info"], 4, 3),
        "tree_info puts tree 4 in output group 3; the model has groups 0 .. 2",
    ),
    "tree_info negative": ("binary", lambda d: _put(_model(d)["tree_info"], 0, -1), "group -1"),
    "tree_info short": (
        "binary",
        lambda d: _model(d)["tree_info"].pop(),
        "tree_info has 4 for 5 trees",
    ),
    "iteration_indptr past the trees": (
        "binary",
        lambda d: _put(_model(d)["iteration_indptr"], -1, 6),
        "iteration_indptr must rise from 0 to 5",
    ),
    "iteration_indptr falling": (
        "binary",
        lambda d: _put(_model(d)["iteration_indptr"], 2, 0),
        "iteration_indptr must rise",
    ),
    "trees holding something else": (
        "binary",
        lambda d: _put(_model(d)["trees"], 1, 7),
        "trees",
    ),
    "unknown booster": (
        "binary",
        lambda d: _put(d["learner"]["gradient_booster"], "name", "gbforest"),
        "'gbforest', not a booster",
    ),
    "DART weight missing": (
        "dart",
        lambda d: d["learner"]["gradient_booster"]["weight_drop"].pop(),
        "weight_drop has 3 weights for 4 trees",
    ),
    "gblinear weight missing": (
        "gblinear",
        lambda d: d["learner"]["gradient_booster"]["model"]["weights"].pop(),
        "weights has 4 values; 4 features and 1 output groups need 5",
    ),
    "gblinear weights missing": (
        "gblinear",
        lambda d: d["learner"]["gradient_booster"]["model"].pop("weights"),
        "has no 'weights'",
    ),
    # Categorical splits: segments and sizes point into categories, codes become bits.
    "category segment past the categories": (
        "categorical",
        lambda d: _put(_tree(d, 0)["categories_segments"], 0, 1),
        "tree 0: categorical split 0 has categories 1 .. 1 + 3 - 1, not a non-empty part of "
        "the tree's 3",
    ),
    "category size 0": (
        "categorical",
        lambda d: _put(_tree(d, 0)["categories_sizes"], 0, 0),
        "categorical split 0 has categories 0 .. 0 + 0 - 1",
    ),
    "negative category": (
        "categorical",
        lambda d: _put(_tree(d, 1)["categories"], 1, -2),
        "tree 1: category 1 is -2, not in 0 .. 2**24 - 1",
    ),
    "huge category": (
        "categorical",
        lambda d: _put(_tree(d, 1)["categories"], 0, MAX_CATEGORY),
        "is 16777216",
    ),
    "categorical node that is not categorical": (
        "categorical",
        lambda d: _put(_tree(d, 0)["categories_nodes"], 0, 1),
        "categorical split 0 is node 1, whose split_type is not categorical",
    ),
    "categorical node past the end": (
        "categorical",
        lambda d: _put(_tree(d, 0)["categories_nodes"], 0, 99),
        "is node 99",
    ),
    "split type 2": (
        "categorical",
        lambda d: _put(_tree(d, 0)["split_type"], 2, 2),
        "tree 0: node 2 has split type 2, not 0 or 1",
    ),
    "categorical leaf": (
        "categorical",
        lambda d: _put(_tree(d, 0)["split_type"], _first_leaf(_tree(d, 0)), 1),
        "has split type 1 but is a leaf",
    ),
    "categorical split not listed": (
        "categorical",
        lambda d: _put(_tree(d, 0)["split_type"], 1, 1),
        "tree 0: 2 nodes have categorical splits; categories_nodes, _segments and _sizes have 1",
    ),
    "categorical arrays missing": (
        "categorical",
        lambda d: _tree(d, 0).pop("categories_sizes"),
        "tree 0 has no categories_sizes",
    ),
    # Vector leaves: right_children holds a leaf's row of leaf_weights.
    "vector leaf row past leaf_weights": (
        "multi_output_tree",
        lambda d: _put(_tree(d, 0)["right_children"], _first_leaf(_tree(d, 0)), 4),
        "tree 0: node 3 has right child 4",
    ),
    "vector leaves wider than the outputs": (
        "multi_output_tree",
        lambda d: _put(_tree(d, 1)["tree_param"], "size_leaf_vector", "3"),
        "tree 1: its leaves have 3 values",
    ),
    "vector base_weights short": (
        "multi_output_tree",
        lambda d: _tree(d, 1)["base_weights"].pop(),
        "tree 1: base_weights has 13 values for 7 nodes",
    ),
    "vector leaf_weights missing": (
        "multi_output_tree",
        lambda d: _tree(d, 2).pop("leaf_weights"),
        "tree 2 has no leaf_weights",
    ),
    "vector tree without split_type": (
        "multi_output_tree",
        lambda d: _tree(d, 2).pop("split_type"),
        "tree 2 has no split_type",
    ),
    "vector root with the scalar sentinel": (
        "multi_output_tree",
        lambda d: _put(_tree(d, 0)["parents"], 0, 2**31 - 1),
        "tree 0: node 0 has parent 2147483647, not the root's sentinel",
    ),
}


@pytest.mark.parametrize("fmt", ["ubj", "json"])
@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_corrupted_values_are_refused(
    documents: dict[str, Document], corruption: str, fmt: ModelFormat
) -> None:
    model, corrupt, message = CORRUPTIONS[corruption]
    document = documents[model]
    corrupt(document)

    with pytest.raises(ModelFormatError) as caught:
        check_model_bytes(_encode(document, fmt), fmt)
    assert message in str(caught.value)


def test_ubj_errors_point_at_the_bad_element(documents: dict[str, Document]) -> None:
    _put(_tree(documents["binary"], 1)["parents"], 3, 77)
    data = _encode(documents["binary"], "ubj")

    with pytest.raises(ModelFormatError) as caught:
        check_model_bytes(data, "ubj")
    assert caught.value.offset is not None
    assert struct.unpack_from(">i", data, caught.value.offset) == (77,)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda d: _put(_tree(d, 0), "parents", tuple(_tree(d, 0)["parents"])), "typed array"),
        (lambda d: _put(_tree(d, 0), "split_type", np.zeros(13)), "integer typed array"),
        (lambda d: _put(_tree(d, 0), "id", 1.0), "tree 0's id is not an integer"),
        (lambda d: _put(_model(d), "tree_info", [0.5] * 5), "only numbers"),
    ],
    ids=["untyped tree array", "float index array", "float id", "float tree_info"],
)
def test_ubj_arrays_not_as_xgboost_writes_them_are_refused(
    documents: dict[str, Document], edit: Callable[[Document], None], match: str
) -> None:
    # XGBoost writes a tree's index arrays as integer typed arrays; what cannot be read in
    # bulk cannot be vouched for, so it is refused rather than passed unchecked.
    edit(documents["binary"])

    with pytest.raises(ModelFormatError, match=match):
        check_model_bytes(_encode(documents["binary"], "ubj"), "ubj")


@pytest.mark.parametrize(
    ("renamed", "twice"),
    [(b"categories", b"split_type"), (b"num_deleted", b"num_feature")],
    ids=["tree", "tree_param"],
)
def test_a_key_twice_in_a_tree_is_refused(
    boosters: dict[str, xgb.Booster], renamed: bytes, twice: bytes
) -> None:
    # Which of two equal keys XGBoost reads is its business; the checks cannot vouch for
    # both, so the file is refused. The first tree's key is renamed to one it already has.
    data = model_bytes(boosters["binary"])
    key = ubjson.key(renamed.decode())
    at = data.index(key)
    doubled = data[:at] + ubjson.key(twice.decode()) + data[at + len(key) :]

    with pytest.raises(ModelFormatError, match=f"has the key '{twice.decode()}' twice"):
        check_model_bytes(doubled, "ubj")


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda d: _put(_tree(d, 0)["parents"], 2, 1.5), "integers"),
        (lambda d: _put(_tree(d, 0)["parents"], 2, 2**70), "integers"),
        (lambda d: _put(_tree(d, 0)["left_children"], 2, [1]), "integers"),
        (lambda d: _put(_tree(d, 0), "id", True), "tree 0's id must be an integer"),
        (lambda d: _put(_tree(d, 0)["tree_param"], "num_nodes", 13), "tree_param must have"),
        (lambda d: _put(_tree(d, 0), "parents", {}), "tree 0: parents must be an array"),
    ],
    ids=["float", "beyond int64", "nested list", "boolean id", "unquoted", "object"],
)
def test_json_values_that_are_not_integers_are_refused(
    documents: dict[str, Document], edit: Callable[[Document], None], match: str
) -> None:
    edit(documents["binary"])

    with pytest.raises(ModelFormatError, match=match):
        check_model_bytes(_encode(documents["binary"], "json"), "json")


@pytest.mark.parametrize("chunk", [1, 40, 2**15])
@pytest.mark.parametrize("fmt", ["ubj", "json"])
def test_nodes_are_checked_in_chunks_of_trees(
    monkeypatch: pytest.MonkeyPatch, chunk: int, fmt: ModelFormat
) -> None:
    # Chunks of about _CHUNK_NODES nodes (a bigger tree alone): every tree is checked, and
    # an error names the tree in the whole model, not in its chunk.
    monkeypatch.setattr(rules, "_CHUNK_NODES", chunk)
    booster = _train_categorical(trees=30)
    document = json.loads(model_bytes(booster, "json"))
    check_model_bytes(_encode(document, fmt), fmt)
    _put(_tree(document, 27)["parents"], 5, 500)
    with pytest.raises(ModelFormatError, match="tree 27: node 5 has parent 500"):
        check_model_bytes(_encode(document, fmt), fmt)
    document = json.loads(model_bytes(booster, "json"))
    _put(_tree(document, 28)["categories"], 0, -1)
    with pytest.raises(ModelFormatError, match="tree 28: category 0 is -1"):
        check_model_bytes(_encode(document, fmt), fmt)


def _train_categorical(trees: int) -> xgb.Booster:
    matrix = rows(300, 4, seed=5)
    matrix[:, 0] = np.random.default_rng(5).integers(0, 8, 300)
    label = matrix[:, 0] % 3 + matrix[:, 1] * matrix[:, 2]
    dtrain = xgb.DMatrix(matrix, label, feature_types=["c", "q", "q", "q"], enable_categorical=True)
    params = {"tree_method": "hist", "max_cat_to_onehot": 1, "max_depth": 3, "nthread": 1}
    return xgb.train({"seed": 0, **params}, dtrain, trees)


# Fuzzing in child processes: the decisive test.

_CHILD = textwrap.dedent(
    """
    import json, struct, sys

    import numpy as np

    from router.errors import RouterError
    from router.xgb.loader import booster_from_bytes
    from router.xgb.formats import ModelFormatError, check_model_bytes

    # What the router does with a file: check it, load it as the loader does, predict with
    # it. In its own process: if XGBoost crashes, the parent sees which mutant did it, from
    # the last line written before the crash.
    path, fmt, begin, end = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    blob = open(path, "rb").read()
    mutants, pos = [], 0
    while pos < len(blob):
        (size,) = struct.unpack_from("<I", blob, pos)
        mutants.append(blob[pos + 4 : pos + 4 + size])
        pos += 4 + size
    report = {"passed": 0, "loaded": 0, "refused": 0, "python errors": 0}
    for index in range(begin, end):
        data = mutants[index]
        try:
            check_model_bytes(data, fmt)
        except ModelFormatError:
            continue
        report["passed"] += 1
        print("mutant", index, flush=True)
        try:
            predictor, _ = booster_from_bytes(data, fmt, nthread=1)
            report["loaded"] += 1
            width = predictor.num_features
            matrix = np.random.default_rng(index).normal(size=(3, min(width, 10_000)))
            matrix = matrix.astype(np.float32)
            matrix[0, ::2] = np.nan
            for output in ("value", "margin", "contributions"):
                try:
                    predictor.predict(matrix, output)
                except RouterError:  # refused rows, or no contributions for gblinear
                    pass
            predictor.booster.save_raw("ubj")
        except RouterError:  # XGBoost refused the file: what a check may leave to it
            report["refused"] += 1
        except Exception:  # a Python error (say, duplicate feature names): not a crash
            report["python errors"] += 1
    print("done", json.dumps(report), flush=True)
    """
)


def _flip_bytes(
    data: bytes, targets: list[tuple[int, int]], rng: random.Random, digits: bool
) -> bytes:
    """One to three bytes replaced or bit-flipped, most of them in ``targets`` ranges; there,
    with ``digits``, replaced by digits (for JSON, which other bytes mostly break)."""
    mutant = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        if rng.random() < 0.7:
            begin, end = rng.choice(targets)
            at = rng.randrange(begin, end)
            if digits:
                mutant[at] = rng.choice(b"0123456789")
                continue
        else:
            at = rng.randrange(len(data))
        mutant[at] = (
            rng.randrange(256) if rng.random() < 0.5 else mutant[at] ^ 1 << rng.randrange(8)
        )
    return bytes(mutant)


def _integer_payloads(data: bytes) -> list[tuple[int, int]]:
    """The byte ranges of a UBJSON model's integer typed arrays: where flips pass the
    structural check and corrupt indices."""
    ranges = []
    at = data.find(b"[$")
    while at != -1:
        size = {b"l": 4, b"L": 8, b"U": 1}.get(data[at + 2 : at + 3], 0)
        (count,) = struct.unpack_from(">q", data, at + 5) if at + 13 <= len(data) else (0,)
        if size and count > 0 and data[at + 3 : at + 5] == b"#L":
            ranges.append((at + 13, at + 13 + count * size))
        at = data.find(b"[$", at + 1)
    return ranges


def _run_batch(
    path: Path, fmt: str, begin: int, end: int
) -> tuple[dict[str, int], list[tuple[int, int, str]]]:
    """Run mutants ``begin`` to ``end`` through the child; after a crash, carry on from the
    next mutant (a few times at most). Returns the counts and the crashes."""
    totals = {"passed": 0, "loaded": 0, "refused": 0, "python errors": 0}
    crashes: list[tuple[int, int, str]] = []
    while begin < end and len(crashes) < 5:
        result = subprocess.run(
            [sys.executable, "-c", _CHILD, str(path), fmt, str(begin), str(end)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        lines = result.stdout.splitlines()
        if result.returncode == 0 and lines and lines[-1].startswith("done "):
            for key, value in json.loads(lines[-1][5:]).items():
                totals[key] += value
            break
        started = [int(line.split()[1]) for line in lines if line.startswith("mutant ")]
        if not started:
            raise AssertionError(f"the child failed before any mutant:\n{result.stderr}")
        last_line = (result.stderr.strip().splitlines() or ["(no message)"])[-1]
        crashes.append((started[-1], result.returncode, last_line))
        begin = started[-1] + 1
    return totals, crashes


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fmt", "count", "seed"), [("ubj", 1500, 20240611), ("json", 600, 5)], ids=["ubj", "json"]
)
def test_no_byte_flip_that_passes_the_checks_crashes_xgboost(
    tmp_path: Path, fmt: ModelFormat, count: int, seed: int
) -> None:
    """Mutants of a 3-tree model, most with bytes changed inside the trees' integer arrays
    (UBJSON) or digits (JSON), in three child processes at once. Every mutant that passes
    check_model_bytes is loaded as the router loads it and predicted with; no child may die
    of it. Before the value checks, about one such mutant in four killed its child."""
    data = model_bytes(train_booster("binary", trees=3), fmt)
    if fmt == "ubj":
        targets = _integer_payloads(data)
    else:
        targets = [(at, at + 1) for at in range(len(data)) if data[at : at + 1].isdigit()]
    rng = random.Random(seed)
    mutants = [_flip_bytes(data, targets, rng, digits=fmt == "json") for _ in range(count)]
    path = tmp_path / "mutants.bin"
    path.write_bytes(b"".join(struct.pack("<I", len(m)) + m for m in mutants))

    size = -(-count // 3)
    batches = [(begin, min(begin + size, count)) for begin in range(0, count, size)]
    with ThreadPoolExecutor(len(batches)) as pool:
        results = list(pool.map(lambda batch: _run_batch(path, fmt, *batch), batches))

    crashes = [crash for _, found in results for crash in found]
    described = [
        f"mutant {index} (exit {code}: {message}), changed bytes "
        f"{[at for at in range(len(data)) if mutants[index][at] != data[at]]}"
        for index, code, message in crashes
    ]
    assert not crashes, "XGBoost crashed on mutants that passed the checks:\n" + "\n".join(
        described
    )
    loaded = sum(totals["loaded"] for totals, _ in results)
    assert loaded >= count // 10, f"only {loaded} mutants reached XGBoost: too few to tell"
