"""The UBJSON checks' bulk paths (router.xgb.checks.ubj: arrays of objects of one layout,
runs of scalars) decide exactly as the token loop does: for real models, hand-made hostile
ones and byte-flip mutants, a check with the bulk walk turned off gives the same verdict and
the same message. And the real models do go through the bulk walk, so the corruption tests
of test_checks_values.py exercise it."""

from __future__ import annotations

import json
import random
import struct
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from router.xgb.checks import ubj, ubj_values
from router.xgb.formats import ModelFormatError, check_model_bytes
from tests import ubjson
from tests.modelkit import MODEL_KINDS, model_bytes, train_booster

if TYPE_CHECKING:
    from collections.abc import Callable

    import xgboost as xgb

Document = dict[str, Any]


def _verdict(data: bytes) -> str:
    try:
        check_model_bytes(data, "ubj")
    except ModelFormatError as error:
        return str(error)
    return "passed"


def _verdicts(data: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """The check's verdict with the bulk walk, and with the token loop alone (which finds
    each object's keys by grouping them, or by numpy when they are many: the same)."""
    bulk = _verdict(data)
    with monkeypatch.context() as patch:
        patch.setattr(ubj, "_MIN_BULK", 2**62)
        tokens = _verdict(data)
        patch.setattr(ubj_values, "_FEW_KEYS", 0)
        assert _verdict(data) == tokens
    return bulk, tokens


def _document(booster: xgb.Booster) -> Document:
    return json.loads(model_bytes(booster, "json"))  # type: ignore[no-any-return]


def _trees(document: Document) -> list[Document]:
    booster = document["learner"]["gradient_booster"]
    model = booster["gbtree"]["model"] if booster["name"] == "dart" else booster["model"]
    return model["trees"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", [name for name in MODEL_KINDS if name != "gblinear"])
def test_real_models_are_walked_in_bulk(boosters: dict[str, xgb.Booster], name: str) -> None:
    data = model_bytes(boosters[name])
    (run,) = ubj.walk_ubj(data).runs

    assert len(run.columns[0]) == len(_trees(_document(boosters[name])))
    assert _verdict(data) == "passed"


def test_runs_of_scalars_are_skipped_in_bulk(monkeypatch: pytest.MonkeyPatch) -> None:
    # 300 trees: iteration_indptr holds 'i' then 'I' integers, tree_info one run of 'i'.
    data = model_bytes(train_booster("binary", trees=300))
    walked: list[tuple[int, int]] = []
    skip = ubj._skip_scalars

    def watched(buf: bytes, pos: int, count: int) -> tuple[int, int]:
        walked.append((count, skip(buf, pos, count)[1]))
        return skip(buf, pos, count)

    monkeypatch.setattr(ubj, "_skip_scalars", watched)
    assert _verdict(data) == "passed"
    assert sorted(walked) == [(300, 0), (301, 0)]  # both walked to the end in bulk


# Hostile layouts: every tree edited alike, so that the bulk path takes them all.


def _in_every_tree(edit: Callable[[Document], None]) -> Callable[[Document], None]:
    def edit_all(document: Document) -> None:
        for tree in _trees(document):
            edit(tree)

    return edit_all


def _rename(old: str, new: str) -> Callable[[Document], None]:
    def rename(tree: Document) -> None:
        tree[new] = tree.pop(old)

    return rename


def _twice(name: str) -> Callable[[Document], None]:
    # A dict cannot hold a key twice: write a placeholder, then make its bytes the name
    # (an integer typed array, as a tree's arrays are).
    def twice(tree: Document) -> None:
        tree["\0" * len(name)] = np.asarray(tree[name], dtype=np.int32)

    return twice


EVERY_TREE: dict[str, tuple[Callable[[Document], None], str]] = {
    "a key twice": (_in_every_tree(_twice("split_type")), "tree 0 has the key 'split_type' twice"),
    "no id": (_in_every_tree(_rename("id", "di")), "tree 0 has no 'id'"),
    "tree_param no object": (
        _in_every_tree(lambda tree: tree.update(tree_param="1")),
        "tree 0: tree_param must be an object",
    ),
    "tree_param without num_nodes": (
        _in_every_tree(lambda tree: tree["tree_param"].pop("num_nodes")),
        "tree 0: tree_param has no 'num_nodes'",
    ),
    "string num_feature": (
        _in_every_tree(lambda tree: tree["tree_param"].update(num_feature="x")),
        "tree 0: tree_param.num_feature must be a number",
    ),
    "id a string": (
        _in_every_tree(lambda tree: tree.update(id="0")),
        "tree 0's id is not an integer",
    ),
    "parents a string": (
        _in_every_tree(lambda tree: tree.update(parents="0")),
        "tree 0: parents is not an integer typed array",
    ),
    "parents an object": (
        _in_every_tree(lambda tree: tree.update(parents={})),
        "tree 0: parents is not an integer typed array",
    ),
    "ids that repeat": (
        _in_every_tree(lambda tree: tree.update(id=0)),
        "tree ids must be 0 .. 4 once each",
    ),
    "parent past the end": (
        _in_every_tree(lambda tree: tree["parents"].__setitem__(1, 99)),
        "tree 0: node 1 has parent 99",
    ),
    "split feature past num_feature": (
        _in_every_tree(lambda tree: tree["split_indices"].__setitem__(0, 4)),
        "tree 0: node 0 splits on feature 4",
    ),
    "arrays short": (
        _in_every_tree(lambda tree: tree["right_children"].pop()),
        "tree 0: right_children has 12 elements",
    ),
}


def _encode(document: Document) -> bytes:
    data = ubjson.encode(document)
    # _twice's placeholder keys become the key they stand for.
    for name in ("split_type",):
        data = data.replace(ubjson.key("\0" * len(name)), ubjson.key(name))
    return data


@pytest.mark.parametrize("case", EVERY_TREE)
def test_layouts_refused_in_bulk_as_token_by_token(
    boosters: dict[str, xgb.Booster], case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    edit, message = EVERY_TREE[case]
    document = _document(boosters["binary"])
    edit(document)
    data = _encode(document)

    assert ubj.walk_ubj(data).runs, "the bulk walk should take these trees"
    bulk, tokens = _verdicts(data, monkeypatch)
    assert message in bulk
    assert bulk == tokens


def test_a_layout_seen_before_stands_only_for_objects_of_its_very_bytes(
    boosters: dict[str, xgb.Booster], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Layouts are kept by their constants: trees whose key differs in one byte (the same
    # lengths, the same kinds of values) have a layout of their own, walked in bulk as well.
    document = _document(boosters["binary"])
    first = ubjson.encode(document)
    for tree in _trees(document):
        tree["loss_chang3s"] = np.asarray(tree.pop("loss_changes"), dtype=np.float32)
    renamed = ubjson.encode(document)

    (seen,) = ubj.walk_ubj(first).runs
    (run,) = ubj.walk_ubj(renamed).runs
    names = {key.name for key in run.objects[0]}

    assert "loss_chang3s" in names
    assert "loss_changes" not in names
    assert "loss_changes" in {key.name for key in seen.objects[0]}
    bulk, tokens = _verdicts(renamed, monkeypatch)
    assert "has no loss_changes" in bulk
    assert bulk == tokens


def test_trees_whose_arrays_do_not_follow_the_first_trees_are_still_walked_in_bulk(
    boosters: dict[str, xgb.Booster], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The search for where each tree starts skips the arrays that, in the first tree, are as
    # long as its first one (its per-node arrays). Here the first tree's categories are as
    # long too and the others' are empty: that skip passes over the next tree, the guesses
    # fail their proof, and the search is made again byte by byte.
    document = _document(boosters["binary"])
    trees = _trees(document)
    trees[0]["categories"] = np.zeros(len(trees[0]["base_weights"]), dtype=np.int32)
    data = ubjson.encode(document)

    (run,) = ubj.walk_ubj(data).runs

    assert len(run.columns[0]) == len(trees)
    assert _verdicts(data, monkeypatch) == ("passed", "passed")


def test_a_wrong_guess_of_where_a_tree_starts_is_not_trusted(
    boosters: dict[str, xgb.Booster], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The bytes every tree starts with, inside a string of the first tree: the search finds
    # them there first, the proof fails, and the token loop walks the trees. Still valid.
    document = _document(boosters["binary"])
    data = ubjson.encode(document)
    first_key = sorted(_trees(document)[0])[0]
    starts = b"{" + ubjson.key(first_key) + data.split(ubjson.key(first_key), 1)[1][:5]
    _trees(document)[0]["zz_note"] = "x" * 400
    data = ubjson.encode(document).replace(b"x" * len(starts), starts, 1)

    assert ubj.walk_ubj(data).runs == []
    assert _verdicts(data, monkeypatch) == ("passed", "passed")


def test_objects_nested_too_deep_inside_a_run_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    element = b"{" + ubjson.key("a") + b"{" + ubjson.key("b") + b"{}}}"
    array = b"[#L" + ubjson.int64(3) + element * 3
    for depth in range(ubj.MAX_UBJ_DEPTH - 6, ubj.MAX_UBJ_DEPTH):
        inner = b"{" + ubjson.key("x") + array + b"}"
        nested = (b"{" + ubjson.key("n")) * depth + inner + b"}" * depth
        data = b"{" + ubjson.key("learner") + b"{}" + ubjson.key("deep") + nested + b"}"
        bulk, tokens = _verdicts(data, monkeypatch)
        assert bulk == tokens, depth
    assert "nested more than 64 deep" in bulk


# Byte flips: the decisive test of "same verdict either way".


def _flip(data: bytes, rng: random.Random, targets: list[int]) -> bytes:
    mutant = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        at = rng.choice(targets) if rng.random() < 0.7 else rng.randrange(len(data))
        flipped = mutant[at] ^ 1 << rng.randrange(8)
        mutant[at] = rng.randrange(256) if rng.random() < 0.5 else flipped
    return bytes(mutant)


def _structure_bytes(data: bytes) -> list[int]:
    """Offsets of the bytes that steer a walk: markers, key and string lengths, counts (the
    int64s after an 'L'), typed-array headers: where a flip changes a layout, not a value."""
    targets = []
    for at in range(len(data) - 8):
        if data[at] in b"{}[]$#SLiIlUd":
            targets.append(at)
        if data[at] == ord("L") and data[at + 1 : at + 5] == b"\0\0\0\0":
            targets.extend(range(at + 1, at + 9))
    return targets


@pytest.mark.parametrize("name", ["binary", "categorical", "multi_output_tree", "dart"])
def test_byte_flips_get_the_same_verdict_in_bulk(
    boosters: dict[str, xgb.Booster], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = model_bytes(boosters[name])
    targets = _structure_bytes(data)
    rng = random.Random(name)
    verdicts = []
    for _ in range(300):
        mutant = _flip(data, rng, targets)
        bulk, tokens = _verdicts(mutant, monkeypatch)
        assert bulk == tokens, [at for at in range(len(data)) if mutant[at] != data[at]]
        verdicts.append(bulk)
    # The mutants reach both verdicts, and errors of the structure as well as of values.
    assert "passed" in verdicts
    assert any("truncated" in v or "exceeds" in v or "marker" in v for v in verdicts)
    assert any("tree " in v for v in verdicts)


def test_typed_counts_of_later_trees_are_checked_in_bulk(
    boosters: dict[str, xgb.Booster], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A negative count or one past the file, in a tree the layout was not taken from.
    data = model_bytes(boosters["binary"])
    header = b"[$l#L"
    last = data.rindex(header)
    for count in (-1, -(2**63), 2**40, len(data)):
        mutant = data[: last + 5] + struct.pack(">q", count) + data[last + 13 :]
        bulk, tokens = _verdicts(mutant, monkeypatch)
        assert bulk == tokens
        assert "typed array" in bulk


@pytest.mark.parametrize(
    "value", [b"N", b"H", b"[", b"{", b"S", b"\0", b"T", b"I\0\4", b"L" + bytes(7) + b"\4"]
)
def test_scalar_markers_of_later_trees_are_checked_in_bulk(
    boosters: dict[str, xgb.Booster], value: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The id of the last tree, a scalar whose marker the layout lets vary, in place of its
    # 'i' and payload: other scalars are read with their own payload size, and a byte that
    # starts no scalar is refused as the token loop refuses it.
    data = model_bytes(boosters["binary"])
    at = data.rindex(ubjson.key("id")) + len(ubjson.key("id"))
    assert data[at : at + 2] == b"i\4"
    mutant = data[:at] + value + data[at + 2 :]
    bulk, tokens = _verdicts(mutant, monkeypatch)
    assert bulk == tokens
    assert (bulk == "passed") == (value[0] in b"IL")
