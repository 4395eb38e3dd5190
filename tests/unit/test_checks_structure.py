"""The structural model checks: real XGBoost models pass, every truncation and corruption
fails with ModelFormatError and never with any other exception, and XGBoost is only ever
handed bytes that passed."""

from __future__ import annotations

import json
import random
import struct
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest
import xgboost as xgb

from router.xgb.checks.json import check_json
from router.xgb.checks.ubj import MAX_UBJ_DEPTH, check_ubj
from router.xgb.formats import ModelFormat, ModelFormatError, check_model_bytes, sniff_format
from tests import ubjson
from tests.modelkit import MODEL_KINDS, model_bytes, train_booster

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


@pytest.fixture(scope="module")
def small_ubj(boosters: dict[str, xgb.Booster]) -> bytes:
    return model_bytes(boosters["binary"], "ubj")


@pytest.fixture(scope="module")
def small_json(boosters: dict[str, xgb.Booster]) -> bytes:
    return model_bytes(boosters["binary"], "json")


@pytest.fixture(scope="module")
def bigger_ubj() -> bytes:
    return model_bytes(train_booster("regression", trees=150, n_features=20), "ubj")


# Hand-built UBJSON, in XGBoost's dialect (pieces from tests/ubjson.py).
def _model(*members: bytes) -> bytes:
    """The smallest document the UBJSON check accepts: a top-level object with a learner
    object, plus ``members``."""
    return b"{" + ubjson.key(b"learner") + b"{}" + b"".join(members) + b"}"


def _patch(data: bytes, offset: int, new: bytes) -> bytes:
    return data[:offset] + new + data[offset + len(new) :]


# Valid models


@pytest.mark.parametrize("name", MODEL_KINDS)
@pytest.mark.parametrize("fmt", ["ubj", "json"])
def test_real_models_pass(boosters: dict[str, xgb.Booster], name: str, fmt: ModelFormat) -> None:
    data = model_bytes(boosters[name], fmt)

    assert sniff_format(data) == fmt
    check_model_bytes(data, fmt)


def test_bigger_model_passes(bigger_ubj: bytes) -> None:
    check_ubj(bigger_ubj)


@pytest.mark.parametrize("wrap", [bytearray, memoryview], ids=["bytearray", "memoryview"])
def test_buffers_other_than_bytes_are_accepted(
    small_ubj: bytes, small_json: bytes, wrap: Callable[[bytes], bytearray | memoryview]
) -> None:
    check_ubj(wrap(small_ubj))
    check_json(wrap(small_json))
    assert sniff_format(wrap(small_ubj)) == "ubj"


def test_every_marker_xgboost_reads_passes() -> None:
    # The scalars, typed arrays and array forms that XGBoost 3.x reads, though its writer
    # uses only some of them.
    scalars = b"[ZTFi\x01U\x02Cc" + b"I" + bytes(2) + b"l" + bytes(4) + b"d" + bytes(4)
    scalars += b"L" + bytes(8) + b"D" + bytes(8) + b"]"
    typed = b"".join(
        ubjson.typed(marker, bytes(size * 2), 2)
        for marker, size in [(b"i", 1), (b"U", 1), (b"I", 2), (b"l", 4), (b"d", 4)]
    )
    typed += (
        ubjson.typed(b"L", bytes(16), 2)
        + ubjson.typed(b"D", bytes(16), 2)
        + ubjson.typed(b"d", b"", 0)
    )
    document = _model(
        ubjson.key(b"scalars") + scalars,
        ubjson.key(b"typed") + b"[#L" + ubjson.int64(8) + typed,
        ubjson.key(b"empty") + b"[]" + ubjson.key(b"none") + b"[#L" + ubjson.int64(0),
        ubjson.key(b"") + ubjson.string(b"") + ubjson.key(b"text") + ubjson.string("ünï".encode()),
        ubjson.key(b"nested") + b"{" + ubjson.key(b"a") + b"{}" + b"}",
    )

    check_ubj(document)


def test_xgboost_non_finite_floats_in_json_pass(small_ubj: bytes) -> None:
    # XGBoost writes NaN and Infinity as bare tokens, which strict JSON (and orjson) refuse.
    at = small_ubj.index(b"base_weights[$d#L") + len(b"base_weights[$d#L") + 8
    with_nan = _patch(small_ubj, at, struct.pack(">ff", float("nan"), float("-inf")))
    text = model_bytes(xgb.Booster(model_file=bytearray(with_nan)), "json")
    assert b"NaN" in text
    assert b"-Infinity" in text

    check_json(text)


# Truncation


def test_ubj_truncated_at_every_offset_is_rejected(small_ubj: bytes) -> None:
    for cut in range(len(small_ubj)):
        with pytest.raises(ModelFormatError) as caught:
            check_ubj(small_ubj[:cut])
        assert caught.value.offset is not None
        assert 0 <= caught.value.offset <= cut


def test_json_truncated_at_every_offset_is_rejected(small_json: bytes) -> None:
    for cut in range(len(small_json)):
        with pytest.raises(ModelFormatError):
            check_json(small_json[:cut])


def test_bigger_ubj_truncated_at_sampled_offsets_is_rejected(bigger_ubj: bytes) -> None:
    rng = random.Random(11)
    # Every cut inside the first length markers and their int64s, where XGBoost crashes,
    # plus cuts spread over the whole file.
    markers = [i for i in range(len(bigger_ubj)) if bigger_ubj[i] in b"L#$"][:200]
    cuts = {i + step for i in markers for step in range(10)}
    cuts |= set(rng.sample(range(len(bigger_ubj)), 150))
    for cut in sorted(cuts):
        with pytest.raises(ModelFormatError):
            check_ubj(bigger_ubj[:cut])


# Targeted corruption


def test_huge_and_negative_lengths_are_rejected(small_ubj: bytes) -> None:
    string_at = small_ubj.index(b"SL")  # the first string value
    for offset in (2, string_at + 2):  # the first key's length, the first string's length
        for length in (2**62, 2**63 - 1, len(small_ubj), -1, -(2**63)):
            with pytest.raises(ModelFormatError, match="length") as caught:
                check_ubj(_patch(small_ubj, offset, ubjson.int64(length)))
            assert caught.value.offset == offset


def test_typed_array_counts_beyond_the_file_are_rejected(small_ubj: bytes) -> None:
    header = small_ubj.index(b"[$d#L")
    left = len(small_ubj) - (header + 13)
    # 2**62 float32s is 2**64 bytes, which wraps to 0 in 64-bit arithmetic: Python does not.
    for count in (left // 4 + 1, 2**62, 2**63 - 1, -1):
        with pytest.raises(ModelFormatError, match="typed array") as caught:
            check_ubj(_patch(small_ubj, header + 5, ubjson.int64(count)))
        assert caught.value.offset == header + 5


def test_array_count_beyond_the_file_is_rejected(small_ubj: bytes) -> None:
    header = small_ubj.index(b"[#L")
    for count in (len(small_ubj), 2**63 - 1, -1):
        with pytest.raises(ModelFormatError, match="array count"):
            check_ubj(_patch(small_ubj, header + 3, ubjson.int64(count)))


@pytest.mark.parametrize(
    ("document", "match"),
    [
        (_model(ubjson.key(b"x") + b"N"), "marker 'N'"),
        (_model(ubjson.key(b"x") + b"H" + ubjson.key(b"1")), "marker 'H'"),
        (_model(ubjson.key(b"x") + b"\x00"), "byte 0x00"),
        (_model(ubjson.key(b"x") + b"]"), "marker ']'"),
        (_model(ubjson.key(b"x") + b"[#L" + ubjson.int64(1) + b"}"), "marker '}'"),
        (_model(ubjson.key(b"x") + ubjson.typed(b"C", b"a", 1)), "element type 'C'"),
        (_model(ubjson.key(b"x") + b"[$d#i\x01" + bytes(4)), "^a typed array count must use"),
        (_model(ubjson.key(b"x") + b"[$dL" + bytes(12)), "needs a '#' count"),
        (_model(ubjson.key(b"x") + b"[#U\x01Z"), "^an array count must use marker 'L'"),
        (_model(ubjson.key(b"x") + b"SU\x01a"), "string length must use marker 'L'"),
        (_model(b"SL" + ubjson.int64(1) + b"a" + b"Z"), "expected an object key"),
        (_model(b"U\x01aZ"), "expected an object key"),
        (b"{#L" + ubjson.int64(1) + ubjson.key(b"learner") + b"{}", "expected an object key"),
    ],
)
def test_markers_xgboost_does_not_read_are_rejected(document: bytes, match: str) -> None:
    with pytest.raises(ModelFormatError, match=match):
        check_ubj(document)


@pytest.mark.parametrize(
    ("header", "missing"),
    [
        (b"[$d#", "the 'L' marker of a typed array count"),
        (b"[$d#L\x00", "the 8-byte count of a typed array"),
        (b"[#", "the 'L' marker of an array count"),
        (b"[#L\x00", "the 8-byte count of an array"),
    ],
)
def test_a_count_cut_short_says_which_part_of_which_container(header: bytes, missing: str) -> None:
    # The file ends inside the count's header: the document is cut there.
    document = _model(ubjson.key(b"x"))[:-1] + header
    with pytest.raises(ModelFormatError) as caught:
        check_ubj(document)
    assert str(caught.value).startswith(f"file is truncated: it ends where {missing} should be")


def test_trailing_data_is_rejected(small_ubj: bytes) -> None:
    for extra in (b"\x00", b"}", b"\n", small_ubj):
        with pytest.raises(ModelFormatError, match="trailing") as caught:
            check_ubj(small_ubj + extra)
        assert caught.value.offset == len(small_ubj)


def test_nesting_is_bounded() -> None:
    def nested(depth: int, opening: bytes = b"[", closing: bytes = b"]") -> bytes:
        # The top-level object is the first level, containers under its key "x" the rest.
        return _model(ubjson.key(b"x") + opening * (depth - 1) + closing * (depth - 1))

    check_ubj(nested(MAX_UBJ_DEPTH))
    with pytest.raises(ModelFormatError, match="nested"):
        check_ubj(nested(MAX_UBJ_DEPTH + 1))
    counted = b"[#L" + ubjson.int64(1)
    with pytest.raises(ModelFormatError, match="nested"):
        check_ubj(nested(100_000, counted, b""))
    with pytest.raises(ModelFormatError, match="nested"):
        check_ubj(nested(100_000, b"{" + ubjson.key(b"k"), b"}"))


def test_deeply_nested_json_is_rejected_without_recursion_error() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(ModelFormatError):
        check_json(b'{"learner": {}, "x": ' + deep + b"}")
    # NaN sends the document to the standard library's parser, which recurses.
    with pytest.raises(ModelFormatError):
        check_json(b'{"learner": {}, "n": NaN, "x": ' + deep + b"}")


@pytest.mark.parametrize("check", [check_ubj, check_json, sniff_format], ids=lambda f: f.__name__)
def test_empty_file_is_rejected(check: Callable[[bytes], object]) -> None:
    with pytest.raises(ModelFormatError, match="empty") as caught:
        check(b"")
    assert caught.value.offset == 0


@pytest.mark.parametrize(
    "document",
    [b"[#L" + ubjson.int64(0), b"Z", b"i\x01", ubjson.string(b"learner"), b"L" + ubjson.int64(1)],
)
def test_ubj_top_level_must_be_an_object(document: bytes) -> None:
    with pytest.raises(ModelFormatError, match="object") as caught:
        check_ubj(document)
    assert caught.value.offset == 0


@pytest.mark.parametrize(
    ("document", "match"),
    [
        (b"{}", "no 'learner'"),
        (b"{" + ubjson.key(b"learners") + b"{}}", "no 'learner'"),
        (b"{" + ubjson.key(b"x") + _model() + b"}", "no 'learner'"),  # only nested deeper
        (b"{" + ubjson.key(b"learner") + b"Z}", "'learner' must be an object"),
        (
            b"{" + ubjson.key(b"learner") + b"[#L" + ubjson.int64(0) + b"}",
            "'learner' must be an object",
        ),
    ],
)
def test_ubj_needs_a_learner_object(document: bytes, match: str) -> None:
    with pytest.raises(ModelFormatError, match=match):
        check_ubj(document)


@pytest.mark.parametrize(
    ("document", "match"),
    [
        (b"[]", "first byte"),
        (b"1", "first byte"),
        (b'"learner"', "first byte"),
        (b"null", "first byte"),
        (b' {"learner": {}}', "first byte"),  # XGBoost refuses leading whitespace
        (b"{}", "no 'learner'"),
        (b'{"version": [3, 0, 0]}', "no 'learner'"),
        (b'{"x": {"learner": {}}}', "no 'learner'"),
        (b'{"learner": null}', "not null"),
        (b'{"learner": []}', "not an array"),
        (b'{"learner": "x"}', "not a string"),
        (b'{"learner": 1.5}', "not a number"),
        (b'{"learner": true}', "not a boolean"),
        (b"{'learner': {}}", "not valid JSON"),
        (b'{"learner": {}} x', "not valid JSON"),
        (b'{"learner": nan}', "not valid JSON"),
        (b'{"learner": {}, "x": NaN', "not valid JSON"),
        (b'{"learner": {"\xff": 1}}', "not valid"),
    ],
)
def test_json_that_is_not_a_model_is_rejected(document: bytes, match: str) -> None:
    with pytest.raises(ModelFormatError, match=match):
        check_json(document)


def test_json_error_offsets_count_bytes() -> None:
    with pytest.raises(ModelFormatError) as caught:
        check_json('{"learner": {"ä": ?}}'.encode())
    assert caught.value.offset == len('{"learner": {"ä": '.encode())


def test_error_message_says_what_and_where(small_ubj: bytes) -> None:
    with pytest.raises(ModelFormatError) as caught:
        check_ubj(_patch(small_ubj, 2, ubjson.int64(-5)))

    assert caught.value.reason == "negative object key length -5"
    assert str(caught.value) == "negative object key length -5 (at byte offset 2)"
    assert isinstance(caught.value, ValueError)


# Format detection and dispatch


def test_sniff_format(small_ubj: bytes, small_json: bytes) -> None:
    pretty = json.dumps(json.loads(small_json), indent=2).encode()

    assert sniff_format(small_ubj) == "ubj"
    assert sniff_format(small_json) == "json"
    assert sniff_format(pretty) == "json"
    assert sniff_format(b"{\t") == "json"
    assert sniff_format(b"{}") == "ubj"
    assert sniff_format(b"{") == "ubj"


@pytest.mark.parametrize("data", [b" {}", b"\xef\xbb\xbf{}", b"[]", b"{x", b"\x00", b"{\x00"])
def test_sniff_format_rejects_what_xgboost_would_not_read(data: bytes) -> None:
    with pytest.raises(ModelFormatError):
        sniff_format(data)


def test_check_model_bytes_dispatches_on_format(small_ubj: bytes, small_json: bytes) -> None:
    check_model_bytes(small_ubj, "ubj")
    check_model_bytes(small_json, "json")
    # A wrong suffix is caught, not handed to the wrong parser's mercy.
    with pytest.raises(ModelFormatError):
        check_model_bytes(small_ubj, "json")
    with pytest.raises(ModelFormatError):
        check_model_bytes(small_json, "ubj")
    with pytest.raises(ValueError, match="unknown model format") as caught:
        check_model_bytes(small_ubj, "pickle")  # type: ignore[arg-type]
    assert not isinstance(caught.value, ModelFormatError)


# Fuzzing


def _mutate(data: bytes, rng: random.Random) -> bytes:
    """Flip a few bytes, or drop, duplicate or insert a short run, as a torn or corrupted
    copy might."""
    kind = rng.randrange(4)
    at = rng.randrange(len(data))
    if kind == 0:
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            mutated[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(mutated)
    run = rng.randint(1, 16)
    if kind == 1:
        return data[:at] + data[at + run :]
    if kind == 2:
        return data[:at] + data[at : at + run] + data[at:]
    return data[:at] + rng.randbytes(run) + data[at:]


@pytest.mark.parametrize(
    ("fixture", "check"),
    [("small_ubj", check_ubj), ("small_json", check_json)],
    ids=["ubj", "json"],
)
def test_random_corruption_raises_only_model_format_error(
    request: pytest.FixtureRequest, fixture: str, check: Callable[[bytes], None]
) -> None:
    data: bytes = request.getfixturevalue(fixture)
    rng = random.Random(20240611)
    rejected = 0
    for _ in range(2000):
        try:
            check(_mutate(data, rng))
        except ModelFormatError:
            rejected += 1
    # Flips inside numbers leave the structure intact, so some mutants pass; most do not.
    assert 1000 < rejected < 2000


# Crash containment


_GATE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path

    import xgboost as xgb

    from router.xgb.formats import ModelFormatError, check_model_bytes

    # What a loader does: check the bytes and hand only bytes that passed to XGBoost. In its
    # own process, so that if XGBoost crashed on anything, pytest would survive to say so.
    plan = json.loads(sys.argv[1])
    report = {"passed": [], "loaded": 0}
    for name, cuts in plan.items():
        whole = Path(name).read_bytes()
        for cut in cuts:
            data = whole[:cut]
            try:
                check_model_bytes(data, name.rpartition(".")[2])
            except ModelFormatError:
                continue
            report["passed"].append([Path(name).name, cut])
            try:
                xgb.Booster(model_file=bytearray(data))
            except xgb.core.XGBoostError:
                continue
            report["loaded"] += 1
    print(json.dumps(report))
    """
)


@pytest.mark.slow
def test_only_checked_bytes_reach_xgboost(
    tmp_path: Path, small_ubj: bytes, small_json: bytes, bigger_ubj: bytes
) -> None:
    """Every truncation of a small model, and samples of its JSON and of a bigger model's,
    go through the check-then-load gate in a subprocess. No truncation may pass the check,
    the whole files must pass and load, and the process must exit cleanly."""
    rng = random.Random(5)
    files = {
        "small.ubj": (small_ubj, range(len(small_ubj))),
        "small.json": (small_json, range(0, len(small_json), 7)),
        "bigger.ubj": (bigger_ubj, rng.sample(range(len(bigger_ubj)), 200)),
    }
    plan: dict[str, list[int]] = {}
    for name, (data, cuts) in files.items():
        (tmp_path / name).write_bytes(data)
        plan[str(tmp_path / name)] = [*cuts, len(data)]  # the whole file last

    result = subprocess.run(
        [sys.executable, "-c", _GATE, json.dumps(plan)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert sorted(report["passed"]) == sorted(
        [name, len(data)] for name, (data, _) in files.items()
    )
    assert report["loaded"] == len(files)
