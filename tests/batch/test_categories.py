"""Category values by name in batch input, as the API accepts them ("plan": "pro").

The model is trained as data scientists train one: scikit-learn's API on a pandas DataFrame
with a ``category`` column (``enable_categorical=True``); batch predictions must be the
estimator's own ``predict_proba`` on the same rows.
"""

from __future__ import annotations

import csv
import json
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xgboost as xgb

from router.cli import main
from tests.batch.conftest import publish

if TYPE_CHECKING:
    from pathlib import Path

PLANS = ["basic", "plus", "pro"]  # not in the order rows first show them


def train() -> xgb.XGBClassifier:
    rng = np.random.default_rng(3)
    plan = rng.choice(PLANS, 300)
    tenure = rng.integers(0, 72, 300).astype(float)
    churned = (plan == "basic") & (tenure < 24) | (plan == "pro") & (tenure > 48)
    frame = pd.DataFrame({"tenure_months": tenure, "plan": pd.Categorical(plan, PLANS)})
    model = xgb.XGBClassifier(
        n_estimators=15, max_depth=3, enable_categorical=True, tree_method="hist", n_jobs=1
    )
    model.fit(frame, churned.astype(int), verbose=False)
    return model


def run(source: Path, output: Path, root: Path) -> int:
    return main(
        [
            "batch",
            str(source),
            "--model",
            "churn",
            "--output",
            str(output),
            "--model-root",
            str(root),
            "--outputs",
            "probabilities",
            "--no-progress",
        ]
    )


def test_csv_and_jsonl_category_values_by_name(tmp_path: Path) -> None:
    model = train()
    (tmp_path / "models").mkdir()
    publish(tmp_path / "models", "churn", model, labels=None)
    rows = pd.DataFrame(
        {
            "tenure_months": [3.0, 40.0, 12.0, 60.0, 7.0],
            "plan": pd.Categorical(["pro", "basic", "plus", "pro", "basic"], PLANS),
        }
    )
    wanted = model.predict_proba(rows)[:, 1]
    source = tmp_path / "rows.csv"
    rows.to_csv(source, index=False)
    with source.open("a") as handle:
        handle.write("5,gold\n")  # an unknown category: refused with the known ones
    lines = tmp_path / "rows.jsonl"
    lines.write_text(
        "".join(json.dumps(row) + "\n" for row in rows.astype(object).to_dict("records"))
    )

    assert run(source, tmp_path / "scored.csv", tmp_path / "models") == 0
    assert run(lines, tmp_path / "scored.jsonl", tmp_path / "models") == 0

    with (tmp_path / "scored.csv").open() as handle:
        scored = list(csv.DictReader(handle))
    np.testing.assert_allclose([float(r["probability_1"]) for r in scored], wanted, rtol=1e-6)
    from_lines = [json.loads(line) for line in (tmp_path / "scored.jsonl").read_text().splitlines()]
    np.testing.assert_allclose([r["probability"][1] for r in from_lines], wanted, rtol=1e-6)
    rejects = (tmp_path / "scored.rejects.csv").read_text()
    assert "no category 'gold'" in rejects and "basic, plus, pro" in rejects


def train_numeric_categories() -> tuple[xgb.XGBClassifier, pd.DataFrame]:
    """Categories that read as numbers: a pandas category of ints (seats) and one of digit
    strings (zip codes), as they come from real tables."""
    rng = np.random.default_rng(0)
    rows = 600
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=rows),
            "seats": pd.Categorical(rng.choice([1, 5, 10, 50], rows)),
            "zip": pd.Categorical(rng.choice(["10001", "94105", "60601"], rows)),
        }
    )
    target = (frame.x > 0) ^ (frame.seats.astype(int) > 5) ^ (frame.zip == "94105")
    model = xgb.XGBClassifier(
        n_estimators=20, max_depth=4, enable_categorical=True, tree_method="hist", n_jobs=1
    )
    model.fit(frame, target.astype(int), verbose=False)
    return model, frame


def test_categories_that_read_as_numbers_are_taken_by_value_and_codes_are_checked(
    tmp_path: Path,
) -> None:
    # Batch once read "5" in seats and "94105" in zip as codes: four predictions of five
    # silently wrong, and codes past the model's categories predicted, none refused.
    model, frame = train_numeric_categories()
    (tmp_path / "models").mkdir()
    publish(tmp_path / "models", "churn", model, labels=None)
    rows = frame[:5]
    source = tmp_path / "rows.csv"
    rows.to_csv(source, index=False)
    with source.open("a") as handle:
        handle.write("0.1,7,10001\n0.1,-1,10001\n0.1,5,99999\n")  # no such seats, no such zip
    lines = tmp_path / "rows.jsonl"
    records = rows.astype(object).to_dict("records")
    lines.write_text("".join(json.dumps(record) + "\n" for record in records))

    assert run(source, tmp_path / "scored.csv", tmp_path / "models") == 0
    assert run(lines, tmp_path / "scored.jsonl", tmp_path / "models") == 0

    wanted = model.predict_proba(rows)[:, 1]
    with (tmp_path / "scored.csv").open() as handle:
        scored = list(csv.DictReader(handle))
    np.testing.assert_allclose([float(r["probability_1"]) for r in scored], wanted, rtol=1e-6)
    from_lines = [json.loads(line) for line in (tmp_path / "scored.jsonl").read_text().splitlines()]
    np.testing.assert_allclose([r["probability"][1] for r in from_lines], wanted, rtol=1e-6)
    with (tmp_path / "scored.rejects.csv").open() as handle:
        rejects = list(csv.DictReader(handle))
    assert [r["row"] for r in rejects] == ["6", "7", "8"]
    assert "no category 7 for feature 'seats'" in rejects[0]["reason"]
    assert "no category -1 for feature 'seats'" in rejects[1]["reason"]
    assert "99999 is not a category of feature 'zip'" in rejects[2]["reason"]
    assert not rejects[0]["reason"].startswith("instances.")


def test_csv_missing_values_as_other_tools_write_them_and_a_category_of_that_name(
    tmp_path: Path,
) -> None:
    # R and pandas write NA, databases NULL: missing values, as pandas reads them; but a
    # category that is called NA (a region) is that category, looked up first.
    rng = np.random.default_rng(4)
    frame = pd.DataFrame(
        {
            "tenure_months": rng.integers(0, 72, 300).astype(float),
            "region": pd.Categorical(rng.choice(["NA", "EU", "APAC"], 300)),
            "plan": pd.Categorical(rng.choice(PLANS, 300), PLANS),
        }
    )
    target = (frame.region == "NA") ^ (frame.tenure_months < 30)
    model = xgb.XGBClassifier(
        n_estimators=10, max_depth=3, enable_categorical=True, tree_method="hist", n_jobs=1
    )
    model.fit(frame, target.astype(int), verbose=False)
    (tmp_path / "models").mkdir()
    publish(tmp_path / "models", "churn", model, labels=None)
    source = tmp_path / "rows.csv"
    source.write_text(
        "tenure_months,region,plan\n"
        "NA,NA,pro\n"  # missing tenure; the region called NA
        "12,EU,NULL\n"  # a missing plan
        "null,APAC,basic\n"
    )
    wanted = model.predict_proba(
        pd.DataFrame(
            {
                "tenure_months": [np.nan, 12.0, np.nan],
                "region": pd.Categorical(["NA", "EU", "APAC"], frame.region.cat.categories),
                "plan": pd.Categorical(["pro", None, "basic"], PLANS),
            }
        )
    )[:, 1]

    assert run(source, tmp_path / "scored.csv", tmp_path / "models") == 0

    with (tmp_path / "scored.csv").open() as handle:
        scored = list(csv.DictReader(handle))
    np.testing.assert_allclose([float(r["probability_1"]) for r in scored], wanted, rtol=1e-6)


def test_a_number_for_categories_named_by_numbers_is_refused_as_the_api_refuses_it(
    tmp_path: Path,
) -> None:
    """A JSON Lines row of a frame read back with read_csv, rating 2 for ratings "1".."5",
    and a CSV cell 2.0 or 4 (for "04"): each could be the category or a code, so each row
    is refused, while "2" and "04" by name are predicted."""
    rng = np.random.default_rng(2)
    ratings = ["1", "2", "3", "4", "5"]
    months = [f"{m:02d}" for m in range(1, 13)]
    frame = pd.DataFrame(
        {
            "rating": pd.Categorical(rng.choice(ratings, 400), ratings),
            "month": pd.Categorical(rng.choice(months, 400), months),
        }
    )
    model = xgb.XGBClassifier(n_estimators=5, enable_categorical=True, n_jobs=1)
    model.fit(frame, (frame["rating"] == "2").astype(int), verbose=False)
    (tmp_path / "models").mkdir()
    publish(tmp_path / "models", "churn", model, labels=None)
    source, lines = tmp_path / "rows.csv", tmp_path / "rows.jsonl"
    source.write_text("rating,month\n2,04\n2.0,04\n2,4\n")
    lines.write_text('{"rating": "2", "month": "04"}\n{"rating": 2, "month": "04"}\n')

    assert run(source, tmp_path / "scored.csv", tmp_path / "models") == 0
    assert run(lines, tmp_path / "scored.jsonl", tmp_path / "models") == 0

    one = pd.DataFrame(
        {"rating": pd.Categorical(["2"], ratings), "month": pd.Categorical(["04"], months)}
    )
    wanted = model.predict_proba(one)[0, 1]
    with (tmp_path / "scored.csv").open() as handle:
        scored = list(csv.DictReader(handle))
    assert len(scored) == 1
    np.testing.assert_allclose(float(scored[0]["probability_1"]), wanted, rtol=1e-6)
    csv_rejects = (tmp_path / "scored.rejects.csv").read_text()
    assert "feature 'rating': 2 is ambiguous" in csv_rejects
    assert (
        "feature 'month': 4 is ambiguous: feature 'month' has a category named '04'" in csv_rejects
    )
    assert "feature 'rating': 2 is ambiguous" in (tmp_path / "scored.rejects.jsonl").read_text()
