"""DensePredict calls XGBoost's C in-place prediction itself; it must give exactly what
``Booster.inplace_predict`` gives, for every kind of model, and fail where it fails."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import xgboost as xgb

from router.xgb import capi as dense_predict
from router.xgb.capi import DensePredict
from tests.modelkit import MODEL_KINDS, rows, train_booster

TREE_KINDS = [name for name in MODEL_KINDS if name != "gblinear"]


def _matrices() -> dict[str, np.ndarray]:
    with_gaps = rows(5)
    with_gaps[1, 2] = np.nan
    with_gaps[3, :] = np.nan
    categories = rows(6)
    categories[:, 0] = [0, 1, 2, 3, 4, 5]
    return {
        "one row": rows(1),
        "many rows": rows(300),
        "missing values": with_gaps,
        "category codes": categories,
    }


@pytest.mark.parametrize("predict_type", ["value", "margin"])
@pytest.mark.parametrize("kind", TREE_KINDS)
def test_equals_inplace_predict_bit_for_bit(
    boosters: dict[str, xgb.Booster], kind: str, predict_type: str
) -> None:
    booster = boosters[kind]
    predict = DensePredict(booster, predict_type)  # type: ignore[arg-type]
    for label, matrix in _matrices().items():
        expected = booster.inplace_predict(matrix, predict_type=predict_type)
        got = predict(matrix)
        assert got.dtype == expected.dtype == np.float32, label
        assert got.shape == expected.shape, label
        assert got.tobytes() == expected.tobytes(), label


def test_value_and_margin_differ_where_a_link_function_applies(
    boosters: dict[str, xgb.Booster],
) -> None:
    booster = boosters["binary"]
    matrix = rows(4)
    values = DensePredict(booster, "value")(matrix)
    margins = DensePredict(booster, "margin")(matrix)
    np.testing.assert_allclose(values, 1 / (1 + np.exp(-margins)), rtol=1e-6)


def test_other_layouts_and_dtypes_are_converted_not_misread(
    boosters: dict[str, xgb.Booster],
) -> None:
    booster = boosters["regression"]
    matrix = rows(6)
    expected = booster.inplace_predict(matrix)
    predict = DensePredict(booster)
    every_other_row = np.repeat(matrix, 2, axis=0)[::2]
    assert not every_other_row.flags.c_contiguous
    # Read as raw float32 C-order memory, each of these would give wrong numbers, not an error.
    for other in (matrix.astype(np.float64), np.asfortranarray(matrix), every_other_row):
        np.testing.assert_array_equal(predict(other), expected)


@pytest.mark.parametrize("width", [3, 5])
def test_a_matrix_of_the_wrong_width_is_refused_before_xgboost_reads_it(
    boosters: dict[str, xgb.Booster], width: int
) -> None:
    with pytest.raises(ValueError, match="expected: 4"):
        DensePredict(boosters["binary"])(rows(2, n_features=width))


def test_a_one_dimensional_array_is_refused(boosters: dict[str, xgb.Booster]) -> None:
    with pytest.raises(ValueError, match="expected: 4"):
        DensePredict(boosters["binary"])(rows(1)[0])


def test_xgboost_errors_surface_as_xgboost_errors(boosters: dict[str, xgb.Booster]) -> None:
    # gblinear has no in-place prediction: both paths must refuse it the same way.
    booster = boosters["gblinear"]
    with pytest.raises(xgb.core.XGBoostError) as expected:
        booster.inplace_predict(rows(1))
    with pytest.raises(xgb.core.XGBoostError) as got:
        DensePredict(booster)(rows(1))
    assert str(got.value).splitlines()[0] == str(expected.value).splitlines()[0]


def test_results_are_owned_copies(boosters: dict[str, xgb.Booster]) -> None:
    # XGBoost reuses its per-thread output buffer on the next call: a view into it would
    # change under the caller.
    predict = DensePredict(boosters["regression"])
    first = predict(rows(3, seed=1))
    kept = first.copy()
    predict(rows(3, seed=2))
    np.testing.assert_array_equal(first, kept)
    assert first.flags.owndata
    assert first.flags.writeable


def test_threads_get_their_own_results(boosters: dict[str, xgb.Booster]) -> None:
    booster = boosters["multiclass"]
    predict = DensePredict(booster)
    inputs = [rows(1 + i % 7, seed=i) for i in range(8)]
    expected = [booster.inplace_predict(matrix) for matrix in inputs]
    failures: list[str] = []

    def work(index: int) -> None:
        for _ in range(200):
            if predict(inputs[index]).tobytes() != expected[index].tobytes():
                failures.append(f"thread {index}")
                return

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures


def test_one_proxy_per_thread_serves_models_of_any_width(
    boosters: dict[str, xgb.Booster],
) -> None:
    # The proxy matrix is reused call after call (a new one per call costs XGBoost a read of
    # the cgroup CPU quota files); a reused one must not carry one model's shape to the next.
    wide = train_booster("binary", n_features=30, trees=3)
    calls = [
        (wide, rows(2, n_features=30)),
        (boosters["binary"], rows(5)),
        (boosters["multi_output_tree"], rows(1)),
        (wide, rows(1, n_features=30)),
    ]
    for booster, matrix in calls * 2:
        got = DensePredict(booster)(matrix)
        assert got.tobytes() == booster.inplace_predict(matrix).tobytes()

    here = dense_predict._thread_proxy(xgb.core._LIB)
    assert dense_predict._thread_proxy(xgb.core._LIB).value == here.value
    elsewhere: list[int | None] = []
    thread = threading.Thread(
        target=lambda: elsewhere.append(dense_predict._thread_proxy(xgb.core._LIB).value)
    )
    thread.start()
    thread.join(timeout=30)
    assert elsewhere and elsewhere[0] not in (None, here.value)


# -- loading from the bytes the store read ----------------------------------------------


@pytest.mark.parametrize("fmt", ["ubj", "json"])
@pytest.mark.parametrize("kind", list(MODEL_KINDS))
def test_load_booster_is_booster_of_a_bytearray(
    boosters: dict[str, xgb.Booster], kind: str, fmt: str
) -> None:
    data = bytes(boosters[kind].save_raw(fmt))  # type: ignore[arg-type]
    expected = xgb.Booster(model_file=bytearray(data))
    expected.set_param({"nthread": 1})
    loaded = dense_predict.load_booster(data, nthread=1)
    assert loaded.save_config() == expected.save_config()
    assert loaded.save_raw("ubj") == expected.save_raw("ubj")
    assert loaded.feature_names == expected.feature_names
    assert loaded.feature_types == expected.feature_types
    matrix = xgb.DMatrix(rows(7, expected.num_features()), feature_names=expected.feature_names)
    assert loaded.predict(matrix).tobytes() == expected.predict(matrix).tobytes()


def test_load_booster_does_not_copy_the_file(boosters: dict[str, xgb.Booster]) -> None:
    # A copy of the whole file per load is a transient as large as the model, on top of the
    # bytes read and the booster made from them (Booster(model_file=bytearray(...)) makes it).
    import tracemalloc

    data = bytes(train_booster("regression", trees=200).save_raw("ubj"))
    tracemalloc.start()
    try:
        dense_predict.load_booster(data, nthread=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < len(data) / 4, f"peak {peak} bytes of Python memory for a {len(data)}-byte file"


@pytest.mark.parametrize("kind", [bytearray, memoryview])
def test_load_booster_takes_the_other_buffers_the_checks_take(
    boosters: dict[str, xgb.Booster], kind: type
) -> None:
    data = bytes(boosters["binary"].save_raw("ubj"))
    loaded = dense_predict.load_booster(kind(data), nthread=1)
    assert loaded.save_raw("ubj") == dense_predict.load_booster(data, nthread=1).save_raw("ubj")


def test_load_booster_refuses_what_xgboost_refuses(boosters: dict[str, xgb.Booster]) -> None:
    data = bytes(boosters["binary"].save_raw("json"))
    with pytest.raises(xgb.core.XGBoostError):
        dense_predict.load_booster(data[: len(data) // 2], nthread=1)
