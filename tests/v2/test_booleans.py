"""Boolean features through the V2 protocol, as tritonclient sends numpy's bool: a BOOL
tensor per feature (what MLServer's pandas codec makes of a bool column), in JSON and in
binary; the answers are the estimator's own ``predict_proba`` on the DataFrame."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from tests.fidelity.estimators import Case, booleans, categorical
from tests.live.server import running_server

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cases() -> dict[str, Case]:
    return {
        "flags": booleans("flags", "ubj", early=True),
        "plans": categorical("plans", "ubj", early=False),
    }


@pytest.fixture(scope="module")
def triton(
    cases: dict[str, Case], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpclient.InferenceServerClient]:
    root = tmp_path_factory.mktemp("models")
    for case in cases.values():
        case.save(root)
    with running_server(root) as base_url:
        client = httpclient.InferenceServerClient(base_url.removeprefix("http://"))
        yield client
        client.close()


def feature_tensors(frame: pd.DataFrame, binary: bool) -> list[httpclient.InferInput]:
    """One tensor per column: BOOL for a bool column, FP64 (NaN missing) for the others,
    the nullable boolean with NA among them."""
    tensors = []
    for name in frame.columns:
        column = frame[name]
        if column.dtype == bool:
            values, datatype = column.to_numpy(), "BOOL"
        else:
            values, datatype = column.to_numpy(dtype=float, na_value=np.nan), "FP64"
        tensor = httpclient.InferInput(name, [len(frame)], datatype)
        tensor.set_data_from_numpy(values, binary_data=binary)
        tensors.append(tensor)
    return tensors


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_bool_tensors_predict_as_the_estimator(
    triton: httpclient.InferenceServerClient, cases: dict[str, Case], binary: bool
) -> None:
    flags = cases["flags"]
    assert any(t.datatype() == "BOOL" for t in feature_tensors(flags.rows, binary))
    wanted = [httpclient.InferRequestedOutput("probabilities", binary_data=binary)]

    result = triton.infer("flags", feature_tensors(flags.rows, binary), outputs=wanted)

    np.testing.assert_allclose(
        result.as_numpy("probabilities"), flags.expected("probabilities"), rtol=1e-6
    )


def test_a_bool_matrix_of_every_feature_is_ones_and_zeros(
    triton: httpclient.InferenceServerClient, cases: dict[str, Case]
) -> None:
    flags = cases["flags"]
    rows = np.array([[True, False, True, True, False], [False] * 5])
    matrix = httpclient.InferInput("input", list(rows.shape), "BOOL")
    matrix.set_data_from_numpy(rows, binary_data=True)

    result = triton.infer("flags", [matrix])

    frame = pd.DataFrame(rows, columns=flags.rows.columns).astype(
        {"age": float, "income": float, "visits": float, "autopay": "boolean"}
    )
    expected = flags.model.predict_proba(frame)[:, 1]
    np.testing.assert_allclose(result.as_numpy("value"), expected, rtol=1e-6)


def test_bool_for_a_category_is_our_422_and_a_byte_other_than_0_or_1_a_400(
    triton: httpclient.InferenceServerClient, cases: dict[str, Case]
) -> None:
    plans = cases["plans"].rows.iloc[1:4]
    tensors = feature_tensors(plans.drop(columns="plan"), binary=False)
    plan = httpclient.InferInput("plan", [3], "BOOL")
    plan.set_data_from_numpy(np.array([True, False, True]), binary_data=False)
    with pytest.raises(InferenceServerException) as as_category:
        triton.infer("plans", [*tensors, plan])
    member = httpclient.InferInput("member", [1], "BOOL")
    member.set_data_from_numpy(np.array([True]), binary_data=True)
    member._raw_data = b"\x02"  # as no numpy bool array is: a byte of 2
    with pytest.raises(InferenceServerException) as two:
        triton.infer("flags", [member])

    # A [rows, features] BOOL tensor named like a numeric feature covers the category too.
    width = len(cases["plans"].rows.columns)
    matrix = httpclient.InferInput("age", [1, width], "BOOL")
    matrix.set_data_from_numpy(np.ones((1, width), dtype=bool), binary_data=False)
    with pytest.raises(InferenceServerException) as named_like_a_feature:
        triton.infer("plans", [matrix])

    assert named_like_a_feature.value.status() == "422"
    assert "feature 'plan' is categorical" in named_like_a_feature.value.message()
    assert as_category.value.status() == "422"
    assert "input 'plan' is BOOL, but feature 'plan' is categorical" in as_category.value.message()
    # Not a value of the datatype, as a UINT8 of 300 is not: Triton's 400, not the model's 422.
    assert two.value.status() == "400"
    assert "a BOOL element is a byte of 0 or 1" in two.value.message()
