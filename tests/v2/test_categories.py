"""Category values by name through the V2 protocol, as tritonclient sends strings.

A model trained with pandas ``category`` columns (``enable_categorical=True``) takes its
categories by value on ``/models`` ("plan": "pro"); a V2 client sends the same column as a
1-D BYTES tensor (``set_data_from_numpy`` of an object array). Both must encode the value
as the training frame did: the predictions are the estimator's own ``predict_proba``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest
import tritonclient.http as httpclient
import xgboost as xgb
from tritonclient.utils import InferenceServerException

from router.publish.local import ModelFolder
from router.publish.validate import validate_model
from tests.live.server import running_server

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.slow

PLANS = ["basic", "plus", "pro"]
# Categories in an order unlike the alphabet's, so a wrong encoding (sorted, or by first
# appearance in the request) gives other predictions.
REQUEST = pd.DataFrame(
    {
        "tenure_months": [3.0, 40.0, 12.0, 60.0, 7.0],
        "plan": pd.Categorical(["pro", "basic", "plus", "pro", "basic"], categories=PLANS),
    }
)


def train(seed: int = 5) -> xgb.XGBClassifier:
    rng = np.random.default_rng(seed)
    plan = rng.choice(PLANS, 300)
    tenure = rng.integers(0, 72, 300).astype(float)
    churned = (plan == "basic") & (tenure < 24) | (plan == "pro") & (tenure > 48)
    frame = pd.DataFrame({"tenure_months": tenure, "plan": pd.Categorical(plan, categories=PLANS)})
    model = xgb.XGBClassifier(
        n_estimators=15, max_depth=3, enable_categorical=True, tree_method="hist", n_jobs=1
    )
    model.fit(frame, churned.astype(int), verbose=False)
    return model


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, xgb.XGBClassifier]]:
    root = tmp_path_factory.mktemp("models")
    model = train()
    validated = validate_model(bytes(model.get_booster().save_raw("ubj")), nthread=1)
    with ModelFolder(root, "churn", history_limit=2) as folder:
        folder.publish(validated.data)
    with running_server(root) as base_url:
        yield base_url, model


@pytest.fixture
def triton(served: tuple[str, xgb.XGBClassifier]) -> Iterator[httpclient.InferenceServerClient]:
    client = httpclient.InferenceServerClient(served[0].removeprefix("http://"))
    yield client
    client.close()


def columns(binary: bool, plans: list[str]) -> list[httpclient.InferInput]:
    tenure = httpclient.InferInput("tenure_months", [len(plans)], "FP64")
    tenure.set_data_from_numpy(REQUEST["tenure_months"].to_numpy()[: len(plans)], binary)
    plan = httpclient.InferInput("plan", [len(plans)], "BYTES")
    plan.set_data_from_numpy(np.array(plans, dtype=object), binary_data=binary)
    return [tenure, plan]


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_bytes_category_values_predict_as_the_estimator(
    triton: httpclient.InferenceServerClient, served: tuple[str, xgb.XGBClassifier], binary: bool
) -> None:
    plans = list(REQUEST["plan"].astype(str))
    wanted = [httpclient.InferRequestedOutput("probabilities", binary_data=binary)]

    result = triton.infer("churn", columns(binary, plans), outputs=wanted)

    np.testing.assert_allclose(
        result.as_numpy("probabilities"), served[1].predict_proba(REQUEST), rtol=1e-6
    )


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_a_missing_category_as_tritonclient_sends_it_is_missing(
    triton: httpclient.InferenceServerClient, served: tuple[str, xgb.XGBClassifier], binary: bool
) -> None:
    """tritonclient writes str() of an object array's None, NaN and pd.NA: "None", "nan",
    "<NA>". A text that only some tools write for a missing value ("NA") is an unknown
    category here, as in /models object rows."""
    plans = np.array(["pro", None, np.nan, pd.NA, "basic"], dtype=object)
    tensors = columns(binary, ["pro"] * 5)
    tensors[1].set_data_from_numpy(plans, binary_data=binary)
    wanted = [httpclient.InferRequestedOutput("probabilities", binary_data=binary)]

    result = triton.infer("churn", tensors, outputs=wanted)

    frame = REQUEST.assign(plan=pd.Categorical(["pro", None, None, None, "basic"], PLANS))
    np.testing.assert_allclose(
        result.as_numpy("probabilities"), served[1].predict_proba(frame), rtol=1e-6
    )
    tensors[1].set_data_from_numpy(np.array(["NA"] * 5, dtype=object), binary_data=binary)
    with pytest.raises(InferenceServerException) as unknown:
        triton.infer("churn", tensors)
    assert unknown.value.status() == "422" and "no category 'NA'" in unknown.value.message()


def test_unknown_category_value_and_bytes_matrix_are_our_422(
    triton: httpclient.InferenceServerClient,
) -> None:
    with pytest.raises(InferenceServerException) as unknown:
        triton.infer("churn", columns(False, ["pro", "gold", "basic", "pro", "plus"]))
    matrix = httpclient.InferInput("input", [1, 2], "BYTES")
    matrix.set_data_from_numpy(np.array([["3", "pro"]], dtype=object), binary_data=False)
    with pytest.raises(InferenceServerException) as as_matrix:
        triton.infer("churn", [matrix])

    assert unknown.value.status() == "422" and "gold" in unknown.value.message()
    assert as_matrix.value.status() == "422"
    assert "one 1-D tensor per feature" in as_matrix.value.message()


def test_a_counted_version_is_a_404_saying_how_to_list_versions(
    triton: httpclient.InferenceServerClient,
) -> None:
    """Triton and KServe clients count versions; ours are content hashes, with no sound
    mapping from a count (history is pruned), so "1" is refused in words a user can act on."""
    live = triton.get_model_metadata("churn")["versions"]
    with pytest.raises(InferenceServerException) as counted:
        triton.infer("churn", columns(True, ["pro"] * 5), model_version="1")

    assert counted.value.status() == "404"
    message = counted.value.message()
    assert f"has no version '1'; its versions are: {live[0]} (live)" in message
    assert "GET /v2/models/churn (versions) or GET /models/churn/versions" in message
