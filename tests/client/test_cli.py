"""``model-router predict`` against a real server: JSON and CSV rows from a file or stdin,
the URL from Terraform's state, and every failure as one line."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from router.cli import main
from tests.client.conftest import FEATURES

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd

    from tests.client.conftest import Served

pytestmark = pytest.mark.slow


def predictions_of(output: str) -> np.ndarray:
    answer = json.loads(output)
    assert answer["model"] == "iris" and len(answer["version"]) == 12
    return np.asarray(answer["predictions"], dtype=np.float32)


def terraform_state(directory: Path, api_url: str) -> Path:
    """A state with the one output `predict` reads, as `terraform apply` leaves it."""
    directory.mkdir()
    state = {
        "version": 4,
        "terraform_version": "1.9.0",
        "serial": 1,
        "lineage": "6b1ad5f4-52a5-4d3c-9a8e-4f3f0c6f1f2a",
        "outputs": {"api_url": {"value": api_url, "type": "string"}},
        "resources": [],
        "check_results": None,
    }
    (directory / "terraform.tfstate").write_text(json.dumps(state))
    return directory


def test_json_rows_from_a_file(
    served: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "rows.json"
    data.write_text(json.dumps(served.rows.tolist()))

    code = main(["predict", "iris", "--url", served.url, "--data", str(data)])

    assert code == 0
    out = capsys.readouterr().out
    expected = served.booster.inplace_predict(served.rows)
    np.testing.assert_array_equal(predictions_of(out), expected)
    assert json.loads(out)["rounds"] == served.booster.num_boosted_rounds()


def test_csv_with_a_header_from_stdin_in_any_column_order(
    served: Served, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    order = FEATURES[::-1]
    lines = [",".join(order)]
    lines += [",".join(repr(float(row[FEATURES.index(n)])) for n in order) for row in served.rows]
    lines[1] = ",".join(lines[1].split(",")[:-1]) + ","  # an empty cell: a missing value
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(lines) + "\n"))
    expected_rows = served.rows.copy()
    expected_rows[0, FEATURES.index(order[-1])] = np.nan

    code = main(["predict", "iris", "--url", served.url, "--data", "-"])

    assert code == 0
    expected = served.booster.inplace_predict(expected_rows)
    np.testing.assert_array_equal(predictions_of(capsys.readouterr().out), expected)


def test_csv_with_category_names_is_predicted_as_the_batch_path_reads_it(
    served: Served, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.client.conftest import plans_frame

    frame = plans_frame(rows=3, seed=7)
    monkeypatch.setattr(sys, "stdin", io.StringIO(frame.to_csv(index=False)))

    code = main(["predict", "plans", "--url", served.url, "--data", "-", "--output", "margin"])

    assert code == 0, capsys.readouterr().err
    answer = json.loads(capsys.readouterr().out)
    expected = served.plans.inplace_predict(frame, predict_type="margin")
    assert answer["model"] == "plans"
    np.testing.assert_allclose(np.asarray(answer["predictions"]), expected, rtol=1e-6)


def _as_r_writes(text: str) -> str:
    """A pandas CSV as R's write.csv spells it: TRUE, FALSE and NA."""
    spelt = {"": "NA", "True": "TRUE", "False": "FALSE"}
    rows = [[spelt.get(cell, cell) for cell in row] for row in csv.reader(io.StringIO(text))]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


@pytest.mark.parametrize(
    "spelling",
    [
        lambda rows: rows.to_csv(index=False),  # True, False, an empty field for NA
        lambda rows: _as_r_writes(rows.to_csv(index=False)),
        # No header: the first row (every value missing but a bool's) is still a row.
        lambda rows: rows.to_csv(index=False, header=False),
    ],
    ids=["pandas", "R", "pandas-without-header"],
)
def test_csv_of_booleans_and_missing_values_as_tools_write_them(
    served: Served,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    spelling: Callable[[pd.DataFrame], str],
) -> None:
    flags = served.flags
    text = spelling(flags.rows)
    assert text.splitlines()[-len(flags.rows)].startswith((",,,True,", "NA,NA,NA,TRUE,"))
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))

    code = main(["predict", "flags", "--url", served.url, "--data", "-", "--output", "margin"])

    assert code == 0, capsys.readouterr().err
    answer = json.loads(capsys.readouterr().out)
    np.testing.assert_allclose(
        np.asarray(answer["predictions"]), flags.expected("margin"), rtol=1e-6, atol=1e-6
    )


@pytest.mark.parametrize("header", [True, False], ids=["with-header", "without-header"])
def test_categories_named_like_numbers_or_missing_values_are_the_categories(
    served: Served,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    header: bool,
) -> None:
    """A rating "2", a zip code "02139" and a continent "NA" are those categories, as batch
    reads them and as the estimator does on the frame, not a code, a number or a gap."""
    from tests.client.conftest import ratings_frame

    frame = ratings_frame(rows=40, seed=3)
    assert (frame["continent"] == "NA").any()
    monkeypatch.setattr(sys, "stdin", io.StringIO(frame.to_csv(index=False, header=header)))

    code = main(["predict", "ratings", "--url", served.url, "--data", "-", "--output", "margin"])

    assert code == 0, capsys.readouterr().err
    answer = json.loads(capsys.readouterr().out)
    expected = served.ratings.predict(frame, output_margin=True)
    np.testing.assert_allclose(np.asarray(answer["predictions"]), expected, rtol=1e-5, atol=1e-6)


def test_header_less_numbers_are_array_rows_as_json_arrays_are(
    served: Served, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Numbers alone read the same for any feature: sent as arrays (a category's code),
    the same answer as the JSON rows, and a wrong width is the router's own refusal."""
    answers = []
    for text, fmt in (("3,2,0,30.5\n", "csv"), ("[[3, 2, 0, 30.5]]", "json")):
        monkeypatch.setattr(sys, "stdin", io.StringIO(text))
        assert (
            main(["predict", "ratings", "--url", served.url, "--data", "-", "--format", fmt]) == 0
        )
        answers.append(json.loads(capsys.readouterr().out)["predictions"])
    monkeypatch.setattr(sys, "stdin", io.StringIO("1,2,0,30.5,7\n"))
    wide = main(["predict", "ratings", "--url", served.url, "--data", "-"])

    assert answers[0] == answers[1]
    assert wide == 1 and "expects 4 features per row; got rows of 5" in capsys.readouterr().err


def test_a_model_that_does_not_load_says_why_for_csv_as_for_json(
    served: Served, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    errors = []
    for text in ("a,b\n1,x\n", '[{"a": 1}]'):
        monkeypatch.setattr(sys, "stdin", io.StringIO(text))
        assert main(["predict", "broken", "--url", served.url, "--data", "-"]) == 1
        errors.append(capsys.readouterr().err)

    assert errors[0] == errors[1]
    assert "503" in errors[0] and "not a model's detail" not in errors[0]


def test_a_refused_row_is_named_by_its_line_in_the_csv(
    served: Served, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The router counts the rows it was sent from 0; the user's editor counts lines."""
    text = ",".join(FEATURES) + "\n5.1,3.5,1.4,0.2\n\n6.2,2.9,4.3,1.3\n6.3,x,4.9,1.5\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))

    assert main(["predict", "iris", "--url", served.url, "--data", "-"]) == 1
    error = capsys.readouterr().err
    assert "instances.2.sepal_width" in error and error.rstrip().endswith("(standard input line 5)")


def test_a_dataframe_written_by_column_is_told_to_write_records(
    served: Served, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.client.conftest import ratings_frame

    monkeypatch.setattr(sys, "stdin", io.StringIO(ratings_frame(rows=2).to_json()))

    assert main(["predict", "ratings", "--url", served.url, "--data", "-"]) == 1
    assert 'write to_json(orient="records")' in capsys.readouterr().err


def test_a_dataframe_index_in_the_csv_is_left_out_as_a_batch_job_passes_it_through(
    served: Served, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.client.conftest import ratings_frame

    frame = ratings_frame(rows=3)
    monkeypatch.setattr(sys, "stdin", io.StringIO(frame.to_csv()))

    assert main(["predict", "ratings", "--url", served.url, "--data", "-"]) == 0
    out, err = capsys.readouterr()
    expected = served.ratings.predict_proba(frame)[:, 1]
    np.testing.assert_allclose(json.loads(out)["predictions"], expected, rtol=1e-6)
    assert "note: columns that are no feature, left out: ''" in err


def test_an_unnamed_column_beside_a_header_that_lacks_features_is_still_named_the_problem(
    served: Served, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.client.conftest import ratings_frame

    frame = ratings_frame(rows=3).iloc[:, 1:]  # a feature short: nothing is left out
    monkeypatch.setattr(sys, "stdin", io.StringIO(frame.to_csv()))

    assert main(["predict", "ratings", "--url", served.url, "--data", "-"]) == 1
    assert "index, written by to_csv? write it with index=False" in capsys.readouterr().err


def test_the_url_comes_from_terraform_and_stdin_through_the_installed_command(
    served: Served, tmp_path: Path
) -> None:
    state_dir = terraform_state(tmp_path / "terraform", served.url + "/")
    csv_rows = "\n".join(",".join(str(float(v)) for v in row) for row in served.rows[:2])
    cli = Path(sys.executable).with_name("model-router")

    done = subprocess.run(
        [str(cli), "predict", "iris", "--data", "-", "--output", "margin"],
        input=csv_rows,
        cwd=state_dir.parent,  # `predict` reads ./terraform by default
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    margins = served.booster.inplace_predict(served.rows[:2], predict_type="margin")
    np.testing.assert_array_equal(predictions_of(done.stdout), margins)


@pytest.mark.parametrize(
    ("argv", "data", "message"),
    [
        (["nope"], "[[1, 2, 3, 4]]", "error: 404 Model not found: "),
        # A cell that is no number is sent as text: the router names it in its answer.
        (["iris"], f"{','.join(FEATURES)}\n1,x,3,4\n", "error: 422 "),
        (["iris"], "not json\n", "standard input has a header ('not json') and no rows"),
        (["iris"], '{"rows": []}', 'a JSON object must be a request, {"instances": [...]}'),
        (["iris", "--auth", "jwt"], "[[1, 2, 3, 4]]", "$MODEL_ROUTER_TOKEN, which is empty"),
    ],
)
def test_failures_are_one_line(
    served: Served,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    data: str,
    message: str,
) -> None:
    monkeypatch.delenv("MODEL_ROUTER_TOKEN", raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO(data))

    code = main(["predict", *argv, "--url", served.url, "--data", "-"])

    captured = capsys.readouterr()
    assert code == 1 and captured.out == ""
    assert captured.err.count("\n") == 1 and message in captured.err


def test_without_url_or_deployment_it_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "terraform"
    empty.mkdir()
    data = tmp_path / "rows.json"
    data.write_text("[[1, 2, 3, 4]]")

    code = main(["predict", "iris", "--data", str(data), "--terraform-dir", str(empty)])

    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("error: no --url given, and `terraform output` in ")
    assert "the state has no api_url output" in err and "pass --url" in err


def test_terraforms_own_error_is_the_line_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "terraform"
    broken.mkdir()
    (broken / "terraform.tfstate").write_text("{not json")
    data = tmp_path / "rows.json"
    data.write_text("[[1, 2, 3, 4]]")

    code = main(["predict", "iris", "--data", str(data), "--terraform-dir", str(broken)])

    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert "gave no api_url: Unsupported state file format (has `make deploy` run?" in err


def test_a_dataframes_csv_with_its_index_and_an_id_column_predicts_its_features(
    served: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # frame.to_csv("rows.csv"): the index comes first, with an empty name; the ids ride along.
    import pandas as pd

    frame = pd.DataFrame(served.rows, columns=FEATURES)
    frame.insert(0, "customer_id", [f"c{i}" for i in range(len(frame))])
    data = tmp_path / "rows.csv"
    frame.to_csv(data)

    code = main(["predict", "iris", "--url", served.url, "--data", str(data)])

    out, err = capsys.readouterr()
    assert code == 0, err
    np.testing.assert_array_equal(predictions_of(out), served.booster.inplace_predict(served.rows))
    assert "note: columns that are no feature, left out: '', 'customer_id'" in err


def test_a_header_that_lacks_a_feature_keeps_its_other_columns_for_the_router_to_refuse(
    served: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Leaving 'petal_lenght' out would read petal_length as missing: silently other answers.
    header = ["sepal_length", "sepal_width", "petal_lenght", "petal_width"]
    data = tmp_path / "rows.csv"
    data.write_text(",".join(header) + "\n" + ",".join(map(str, served.rows[0])) + "\n")

    assert main(["predict", "iris", "--url", served.url, "--data", str(data)]) == 1

    err = capsys.readouterr().err
    assert "petal_lenght" in err and "note:" not in err


@pytest.mark.parametrize("name", ["rows.jsonl", "rows.json", "-"])
def test_json_lines_rows_as_pandas_writes_them(
    served: Served,
    tmp_path: Path,
    name: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pandas as pd

    text = pd.DataFrame(served.rows, columns=FEATURES).to_json(orient="records", lines=True)
    if name == "-":
        monkeypatch.setattr(sys, "stdin", io.StringIO(text))
        source = "-"
    else:
        (tmp_path / name).write_text(text)
        source = str(tmp_path / name)

    code = main(["predict", "iris", "--url", served.url, "--data", source])

    out, err = capsys.readouterr()
    assert code == 0, err
    np.testing.assert_allclose(
        predictions_of(out), served.booster.inplace_predict(served.rows), rtol=1e-6
    )


def test_a_dataframes_numbered_header_is_a_header_not_a_row(
    served: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # pd.DataFrame(X).to_csv(index=False) writes "0,1,2,3" first: numbers, and the names of
    # the features of a model trained on that DataFrame. Read as a row, it was predicted too.
    import pandas as pd

    data = tmp_path / "rows.csv"
    pd.DataFrame(served.rows[:2]).to_csv(data, index=False)
    assert data.read_text().startswith("0,1,2,3\n")

    code = main(["predict", "numbered", "--url", served.url, "--data", str(data)])

    out = capsys.readouterr().out
    assert code == 0
    answer = json.loads(out)
    np.testing.assert_allclose(
        answer["predictions"], served.numbered.inplace_predict(served.rows[:2]), rtol=1e-6
    )


def test_a_header_that_names_a_column_twice_is_refused_as_batch_jobs_refuse_it(
    served: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # As a dict, the row would keep the last 'sepal_length' alone: another row than was sent.
    data = tmp_path / "rows.csv"
    data.write_text(",".join([*FEATURES, "sepal_length"]) + "\n1,2,3,4,5\n")

    assert main(["predict", "iris", "--url", served.url, "--data", str(data)]) == 1
    assert "the header names column 'sepal_length' twice" in capsys.readouterr().err
