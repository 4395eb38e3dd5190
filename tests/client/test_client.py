"""``RouterClient`` against a real ``model-router serve``: rows in every form a caller holds
them, typed results out, the router's problems as ``RequestFailed``."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np
import pytest

from router.client import InvalidRows, RequestFailed, RouterClient
from tests.client.conftest import FEATURES

if TYPE_CHECKING:
    from tests.client.conftest import Served

pytestmark = pytest.mark.slow


def test_numpy_rows_give_the_boosters_predictions_and_labels(served: Served) -> None:
    with RouterClient(served.url + "/") as client:  # a trailing slash, as Terraform's URL had
        result = client.predict("iris", served.rows)

    assert result.model == "iris" and result.output == "value"
    assert len(result.version) == 12
    assert result.classes == tuple(served.classes)
    assert result.rounds == served.booster.num_boosted_rounds()
    np.testing.assert_array_equal(result.to_numpy(), served.booster.inplace_predict(served.rows))


def test_lists_records_and_missing_values_mean_the_same_rows(served: Served) -> None:
    rows = served.rows[:3].copy()
    rows[1, 2] = np.nan  # a missing value
    records = [
        {name: float(value) for name, value in zip(FEATURES, row, strict=True) if value == value}
        for row in rows
    ]
    expected = served.booster.inplace_predict(rows)

    with RouterClient(served.url) as client:
        from_array = client.predict("iris", rows)
        from_lists = client.predict("iris", rows.tolist())  # NaN in a list: missing too
        from_records = client.predict("iris", records)  # the feature left out: missing
        margins = client.predict("iris", rows, output="margin")

    for result in (from_array, from_lists, from_records):
        np.testing.assert_array_equal(result.to_numpy(), expected)
    np.testing.assert_array_equal(
        margins.to_numpy(), served.booster.inplace_predict(rows, predict_type="margin")
    )


def test_a_dataframe_is_sent_by_column_name_not_position(served: Served) -> None:
    pandas = pytest.importorskip("pandas")  # from the demo extra, not the router
    frame = pandas.DataFrame(served.rows, columns=FEATURES)[FEATURES[::-1]]

    with RouterClient(served.url) as client:
        result = client.predict("iris", frame)

    np.testing.assert_array_equal(result.to_numpy(), served.booster.inplace_predict(served.rows))


def test_a_dataframe_of_booleans_gives_the_estimators_answers(served: Served) -> None:
    """bool and nullable boolean columns: records of true, false and null (NA), and the
    frame's values as lists (pd.NA) or as a numpy array of objects."""
    flags = served.flags
    assert flags.rows["autopay"].isna().any()

    rows = flags.rows
    with RouterClient(served.url) as client:
        answers = [
            client.predict("flags", rows, output="probabilities"),
            client.predict("flags", rows.values.tolist(), output="probabilities"),  # pd.NA
            client.predict("flags", rows.to_numpy(), output="probabilities"),  # dtype object
        ]

    for result in answers:
        np.testing.assert_allclose(result.to_numpy(), flags.expected("probabilities"), rtol=1e-6)


def test_a_frame_read_back_from_csv_with_ratings_as_numbers_is_refused_not_guessed(
    served: Served,
) -> None:
    """read_csv turns ratings "1".."5" into numbers, which the router would read as codes of
    other ratings: refused, as XGBoost refuses such a frame, rather than answered."""
    pandas = pytest.importorskip("pandas")
    from tests.client.conftest import ratings_frame

    text = ratings_frame(rows=5).to_csv(index=False)
    read_back = pandas.read_csv(io.StringIO(text))
    assert read_back["stars"].dtype.kind == "i"

    with RouterClient(served.url) as client, pytest.raises(RequestFailed) as refused:
        client.predict("ratings", read_back)

    assert refused.value.status == 422
    assert "has a category named" in refused.value.detail


def test_router_problems_arrive_as_request_failed(served: Served) -> None:
    with RouterClient(served.url) as client:
        with pytest.raises(RequestFailed) as missing:
            client.predict("no-such-model", [[1.0, 2.0, 3.0, 4.0]])
        with pytest.raises(RequestFailed) as wrong_width:
            client.predict("iris", [[1.0, 2.0]])

    assert missing.value.status == 404
    assert missing.value.type == "urn:model-router:problem:model-not-found"
    assert "no-such-model" in missing.value.detail
    assert str(missing.value).startswith("404 Model not found: ")
    assert wrong_width.value.status == 422


def test_rows_the_router_would_refuse_are_refused_before_sending(served: Served) -> None:
    client = RouterClient(served.url)
    with pytest.raises(InvalidRows, match="infinite"):
        client.predict("iris", np.array([[1.0, np.inf, 0.0, 0.0]]))
    with pytest.raises(InvalidRows, match="reshape"):
        client.predict("iris", np.array([1.0, 2.0, 3.0, 4.0]))
    with pytest.raises(InvalidRows, match="no rows"):
        client.predict("iris", [])
    with pytest.raises(InvalidRows, match=r'to_dict\("records"\)'):
        client.predict("iris", {"sepal_length": {0: 5.1}})  # a DataFrame's to_dict()


def test_a_model_no_version_of_which_loads_fails_at_once_without_retries(
    served: Served,
) -> None:
    def must_not_sleep(seconds: float) -> None:
        pytest.fail(f"the client waited {seconds} s to retry")

    with (
        RouterClient(served.url, sleep=must_not_sleep) as client,
        pytest.raises(RequestFailed) as failed,
    ):
        client.predict("broken", [[1.0, 2.0, 3.0, 4.0]])

    assert failed.value.status == 503 and failed.value.retry_after_s is None
    assert "has no loadable version" in failed.value.detail


def test_models_lists_the_store(served: Served) -> None:
    with RouterClient(served.url) as client:
        client.predict("iris", served.rows[:1])
        models = client.models()

    # The others are loaded or tried by the tests before, or not: the server is the
    # session's.
    assert [m.name for m in models] == ["broken", "flags", "iris", "numbered", "plans", "ratings"]
    assert (models[2].loaded, models[2].last_error, models[2].stale) == (True, None, False)


def test_labels_and_probabilities_as_the_classifier_answers(served: Served) -> None:
    with RouterClient(served.url) as client:
        labels = client.predict("iris", served.rows, output="label", rounds="all")
        probabilities = client.predict("iris", served.rows, output="probabilities")

    expected = served.booster.inplace_predict(served.rows)
    assert labels.to_numpy().tolist() == [served.classes[i] for i in expected.argmax(axis=1)]
    np.testing.assert_array_equal(probabilities.to_numpy(), expected)
