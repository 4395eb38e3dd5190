"""Boolean columns in batch input, as pandas writes a frame with bool and nullable boolean
columns: ``to_csv`` (True, False, an empty field for NA) and ``to_json(lines=True)`` (true,
false, null). The predictions are the estimator's own ``predict_proba`` on the frame; a value
no bool column holds, and a boolean for a categorical feature, are refused rows."""

from __future__ import annotations

import csv
import json
from typing import TYPE_CHECKING

import numpy as np

from router.batch.part import PartPredictor
from router.cli import main
from tests.batch.conftest import publish
from tests.fidelity.estimators import booleans, categorical

if TYPE_CHECKING:
    from pathlib import Path

    import pytest


def run(source: Path, output: Path, root: Path, model: str) -> int:
    return main(
        [
            "batch", str(source), "--model", model, "--output", str(output),
            "--model-root", str(root), "--outputs", "probabilities", "--no-progress",
        ]
    )  # fmt: skip


def scored_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_pandas_csv_and_json_lines_of_booleans_score_as_the_estimator(
    model_root: Path, tmp_path: Path
) -> None:
    flags = booleans("flags", "ubj", early=True)
    publish(model_root, "flags", flags.model, labels=None)
    rows = flags.rows
    wanted = flags.expected("probabilities")[:, 1]
    source, lines = tmp_path / "rows.csv", tmp_path / "rows.jsonl"
    rows.to_csv(source, index=False)
    rows.to_json(lines, orient="records", lines=True)
    assert "True" in source.read_text() and "true" in lines.read_text()
    # Other tools' spellings (R and Excel write TRUE, Spark true), and a value no bool holds.
    member = list(rows.columns).index("member")
    other = rows.iloc[[1, 2]].astype(object).where(rows.iloc[[1, 2]].notna(), "")
    spelt = [[str(v) for v in row] for row in other.to_numpy().tolist()]
    spelt[0][member] = "TRUE" if rows.iloc[1]["member"] else "FALSE"
    spelt[1][member] = "0.5"
    with source.open("a") as handle:
        csv.writer(handle, lineterminator="\n").writerows(spelt)

    assert run(source, tmp_path / "scored.csv", model_root, "flags") == 0
    assert run(lines, tmp_path / "scored.jsonl", model_root, "flags") == 0

    scored = scored_csv(tmp_path / "scored.csv")
    assert len(scored) == len(rows) + 1
    np.testing.assert_allclose(
        [float(r["probability_1"]) for r in scored], [*wanted, wanted[1]], rtol=1e-6
    )
    from_lines = [
        json.loads(line) for line in (tmp_path / "scored.jsonl").read_text().split("\n") if line
    ]
    np.testing.assert_allclose([r["probability"][1] for r in from_lines], wanted, rtol=1e-6)
    rejects = scored_csv(tmp_path / "scored.rejects.csv")
    assert len(rejects) == 1
    assert "0.5 is not a value of the boolean feature 'member'" in str(rejects[0])


def test_a_boolean_for_a_categorical_feature_is_a_refused_row(
    model_root: Path, tmp_path: Path
) -> None:
    plans = categorical("plans", "ubj", early=False)
    publish(model_root, "plans", plans.model, labels=None)
    source, lines = tmp_path / "rows.csv", tmp_path / "rows.jsonl"
    rows = plans.rows.iloc[1:3].copy()
    rows.to_csv(source, index=False)
    with source.open("a") as handle:
        handle.write(",".join([*(str(v) for v in rows.iloc[0, :-1]), "True"]) + "\n")
    good = {key: str(value) if key == "plan" else value for key, value in rows.iloc[0].items()}
    lines.write_text(json.dumps(good) + "\n" + json.dumps({**good, "plan": True}) + "\n")

    assert run(source, tmp_path / "scored.csv", model_root, "plans") == 0
    assert run(lines, tmp_path / "scored.jsonl", model_root, "plans") == 0

    assert len(scored_csv(tmp_path / "scored.csv")) == 2
    csv_reject = (tmp_path / "scored.rejects.csv").read_text()
    json_reject = (tmp_path / "scored.rejects.jsonl").read_text()
    # In CSV, True is text that no category of plan is; in JSON, a boolean.
    assert "feature 'plan': the model has no category 'True'; it knows free" in csv_reject
    assert "feature 'plan': a boolean, but the feature is categorical" in json_reject


def test_a_csv_of_booleans_is_read_in_one_conversion_not_row_by_row(
    model_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """True and False are read by the part's one numpy conversion, as numbers are: the row
    by row path (many times slower) is for parts with a bad row."""
    flags = booleans("flags", "ubj", early=False)
    publish(model_root, "flags", flags.model, labels=None)
    source = tmp_path / "rows.csv"
    flags.rows.to_csv(source, index=False)

    def row_by_row(*args: object) -> None:
        raise AssertionError("read row by row")

    monkeypatch.setattr(PartPredictor, "_row_values", row_by_row)
    assert run(source, tmp_path / "scored.csv", model_root, "flags") == 0
    scored = scored_csv(tmp_path / "scored.csv")
    np.testing.assert_allclose(
        [float(r["probability_1"]) for r in scored],
        flags.expected("probabilities")[:, 1],
        rtol=1e-6,
    )
