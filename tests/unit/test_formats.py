"""The table of file formats: what the store finds files by, the checks each format runs, and
the memory estimate before parsing."""

from __future__ import annotations

import json

import pytest

from router import store
from router.xgb.formats import (
    FORMATS,
    MEMORY_BASE_BYTES,
    MEMORY_PER_UBJ_BYTE,
    ModelFormat,
    ModelFormatError,
    check_model_bytes,
    sniff_format,
)
from tests.modelkit import model_bytes, train_booster


def _parent_out_of_tree() -> bytes:
    """A JSON model whose first tree names a parent outside it: XGBoost would crash on it."""
    document = json.loads(model_bytes(train_booster(), "json"))
    tree = document["learner"]["gradient_booster"]["model"]["trees"][0]
    tree["parents"][1] = 10_000
    return json.dumps(document).encode()


def test_the_store_finds_files_by_the_formats_suffixes_ubj_first() -> None:
    assert store.SUFFIXES == ((".ubj", "ubj"), (".json", "json"))
    assert all(FORMATS[fmt].suffix == suffix for suffix, fmt in store.SUFFIXES)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_each_format_checks_structure_and_values(fmt: ModelFormat) -> None:
    data = model_bytes(train_booster(), fmt)
    assert sniff_format(data) == fmt
    check_model_bytes(data, fmt)
    with pytest.raises(ModelFormatError):
        check_model_bytes(data[: len(data) // 2], fmt)
    broken = _parent_out_of_tree()
    with pytest.raises(ModelFormatError, match="parent 10000"):
        check_model_bytes(broken, "json")


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_trusted_content_is_not_walked_again(fmt: ModelFormat) -> None:
    """``trusted`` is for bytes whose hash says they passed before: nothing is re-checked
    (a cut file passes here only because the caller vouched for it)."""
    data = model_bytes(train_booster(), fmt)
    check_model_bytes(data[:-1], fmt, trusted=True)
    check_model_bytes(_parent_out_of_tree(), "json", trusted=True)


def test_memory_is_estimated_before_parsing_only_from_ubj() -> None:
    assert FORMATS["ubj"].memory_before_parse(1000) == 1000 * MEMORY_PER_UBJ_BYTE + (
        MEMORY_BASE_BYTES
    )
    assert FORMATS["json"].memory_before_parse(1000) is None


def test_an_unknown_format_is_a_callers_bug() -> None:
    with pytest.raises(ValueError, match="unknown model format"):
        check_model_bytes(b"{}", "pickle")  # type: ignore[arg-type]


@pytest.mark.parametrize(("saved_as", "holds"), [("ubj", "json"), ("json", "ubj")])
def test_a_model_in_the_other_format_than_its_name_says_is_named_so(
    saved_as: ModelFormat, holds: ModelFormat
) -> None:
    # booster.save_model("model.ubj") writes UBJ, but a JSON dump written to model.ubj
    # (or a .json renamed) is read by its suffix, and XGBoost would refuse it.
    from router.errors import InvalidModelFile
    from router.xgb.loader import booster_from_bytes

    data = model_bytes(train_booster(), holds)

    with pytest.raises(InvalidModelFile) as refused:
        booster_from_bytes(data, saved_as, nthread=1)

    assert f"holds a {holds.upper()} model: name it .{holds}" in refused.value.detail
