from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from router.cli import main
from router.store import ModelStore
from router.xgb.loader import load_model
from tests.modelkit import train_booster, write_model

if TYPE_CHECKING:
    from pathlib import Path


def test_list_prints_each_model(model_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_model(model_root, "flat", train_booster(), layout="file")
    write_model(model_root, "nested", train_booster(), fmt="json")

    assert main(["list", "--model-root", str(model_root)]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in lines] == [
        ["flat", "ubj", "file"],
        ["nested", "json", "directory"],
    ]


def test_list_of_missing_root_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["list", "--model-root", str(tmp_path / "nope")]) == 1
    assert capsys.readouterr().err.startswith("error: model root")


@pytest.mark.slow
def test_demo_trains_loadable_models_and_prints_calls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "store"

    assert main(["demo", "--model-root", str(root)]) == 0

    store = ModelStore(root)
    assert store.names() == ["breast-cancer", "diabetes", "iris", "wine"]
    tasks = {ref.name: load_model(store.read(ref), nthread=1).task for ref in store.list()}
    assert tasks == {
        "breast-cancer": "binary",
        "diabetes": "regression",
        "iris": "multiclass",
        "wine": "multiclass",
    }
    iris = load_model(store.read_named("iris"), nthread=1)
    assert iris.metadata.class_labels == ["setosa", "versicolor", "virginica"]
    out = capsys.readouterr().out
    # `serve` prints the calls, with its own host and port: none here, to a port not chosen.
    assert "curl" not in out and "8000" not in out
    assert f"model-router serve --model-root {root}" in out


@pytest.mark.slow
def test_retraining_the_demo_with_another_seed_gives_new_versions(tmp_path: Path) -> None:
    # The README's hot-reload walkthrough relies on this: same seed, same bytes.
    from models.demo import DEMO_MODELS, train

    spec = next(spec for spec in DEMO_MODELS if spec.name == "iris")
    first, again, other = (train(spec, seed=s)[0] for s in (7, 7, 8))

    assert first.save_raw("ubj") == again.save_raw("ubj")
    assert first.save_raw("ubj") != other.save_raw("ubj")


def test_a_bad_setting_is_one_line_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ROUTER_MAX_ROWS", "abc")

    assert main(["list", "--model-root", str(tmp_path)]) == 2

    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = err.splitlines()
    assert line.startswith("error: ROUTER_MAX_ROWS: ")
    assert "integer" in line


def test_help_is_plain_text_and_says_where_serve_listens(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    top = capsys.readouterr().out
    assert "model-router: serve a folder of models" in top
    assert "``" not in top

    monkeypatch.setenv("PORT", "8811")
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    serve = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "--host HOST address to listen on (default: 127.0.0.1)" in serve
    assert "--port PORT port to listen on (default: $PORT if set, else 8000; now 8811)" in serve


@pytest.mark.parametrize(("flags", "access_log"), [([], False), (["--access-log"], True)])
def test_serve_leaves_uvicorns_access_log_to_a_flag(
    model_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    access_log: bool,
) -> None:
    import uvicorn

    runs: list[dict[str, object]] = []
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # serve sets it for the process if unset
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: runs.append(options))

    assert main(["serve", "--model-root", str(model_root), *flags]) == 0

    (options,) = runs
    assert options["access_log"] is access_log


def test_serve_freezes_what_start_up_made_before_it_serves(
    model_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import gc

    import uvicorn

    write_model(model_root, "m", train_booster())
    frozen_at_run: list[int] = []
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("ROUTER_PRELOAD", "m")
    monkeypatch.setattr(
        uvicorn, "run", lambda app, **_: frozen_at_run.append(gc.get_freeze_count())
    )
    gc.unfreeze()
    try:
        assert main(["serve", "--model-root", str(model_root)]) == 0
    finally:
        gc.unfreeze()  # a test process goes on making and dropping what it froze

    (frozen,) = frozen_at_run
    assert frozen > 0


# What `$(terraform output -raw inbox_bucket)` gives before `terraform apply`: its warning.
TERRAFORM_WARNING = "\x1b[33m╷\x1b[0m\n\x1b[33m│\x1b[0m \x1b[1m\x1b[33mWarning: No outputs found"


@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "--bucket", TERRAFORM_WARNING],
        ["publish", "model.ubj", "--name", "m", "--bucket", "My_Bucket"],
        ["versions", "m", "--bucket", "a..b"],
        ["rollback", "m", "--bucket", "ab"],
    ],
)
def test_a_bucket_name_s3_would_refuse_is_a_usage_error_before_any_work(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before training, reading files or asking AWS for anything: no credentials are needed
    # to be told, in one line, that the name cannot be a bucket's.
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with pytest.raises(SystemExit) as exited:
        main(argv)

    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "is not an S3 bucket name (3 to 63 lowercase letters" in err
    assert "has the stack been applied?" in err
    assert "\x1b" not in err  # the terminal's escapes are shown, not sent to it


def test_bucket_names_s3_takes_are_taken() -> None:
    from router.cli_options import bucket_name

    for name in ("abc", "model-router-inbox-123456789012", "a.b-c", "x" * 63):
        assert bucket_name(name) == name


def test_the_calls_printed_at_start_name_every_model_shown_flat_files_too(
    model_root: Path,
) -> None:
    from router.examples import MAX_MODELS_SHOWN, example_calls

    write_model(model_root, "flat", train_booster(), layout="file")  # no metadata: no row
    write_model(model_root, "iris", train_booster(), metadata={"example": [1, 2, 3, 4]})
    base = "http://127.0.0.1:8000"

    calls = example_calls(ModelStore(model_root), base)

    assert f"curl -s {base}/models/flat" in calls
    assert f"curl -s {base}/models/iris" in calls
    predicts = [call for call in calls if "/predict" in call]
    assert predicts == [
        f"curl -s -X POST {base}/models/iris/predict -H 'content-type: application/json' "
        """-d '{"instances": [[1, 2, 3, 4]]}'"""
    ]
    for number in range(MAX_MODELS_SHOWN):
        write_model(model_root, f"more-{number}", train_booster(), layout="file")
    assert len(example_calls(ModelStore(model_root), base)) == 2 + MAX_MODELS_SHOWN + 1


def _main_in_a_new_process(argv: list[str]) -> int:
    """``main`` with logging as a new process has it: main configures it."""
    import logging

    root_handlers = logging.getLogger().handlers[:]
    router_logger = logging.getLogger("router")  # configure_logging (serve, Lambda) may
    router_state = (router_logger.handlers[:], router_logger.propagate)  # have run here
    try:
        logging.getLogger().handlers.clear()
        router_logger.handlers.clear()
        router_logger.propagate = True
        code = main(argv)
        logging.getLogger().handlers[-1].flush()
    finally:
        logging.getLogger().handlers[:] = root_handlers
        router_logger.handlers[:], router_logger.propagate = router_state
    return code


def test_a_model_that_does_not_load_is_one_error_line_with_its_reason(
    model_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A local batch job on a model that does not load: the registry's record printed as
    # "ERROR:router.registry.registry:model load failed", its reason left out, and then,
    # formatted, the same reason as the command's own error a line below.
    (model_root / "brk").mkdir()
    (model_root / "brk" / "model.json").write_text("{garbage")
    rows = tmp_path / "rows.csv"
    rows.write_text("a,b\n1,2\n")

    code = _main_in_a_new_process(
        ["batch", str(rows), "--model", "brk", "--output", str(tmp_path / "out.csv"),
         "--model-root", str(model_root), "--no-progress"]
    )  # fmt: skip

    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    (line,) = lines
    assert line.startswith("error: model 'brk' has no loadable version: not a valid XGBoost JSON")


def test_log_records_print_as_the_commands_errors_do_with_their_facts() -> None:
    import logging

    from router.cli import REGISTRY_LOGGER, CommandLineFormatter, raised_load_failure
    from router.registry import registry

    record = logging.LogRecord(REGISTRY_LOGGER, logging.ERROR, "", 0, "model load failed", (), None)
    record.model, record.error, record.serving = "m", "not a valid model", "0123456789ab"

    assert CommandLineFormatter().format(record) == (
        "error: model load failed (model 'm'; not a valid model)"
    )
    # An older version still answers: nothing is raised, so the record is the only word.
    assert not raised_load_failure(record)
    record.serving = None
    assert raised_load_failure(record)
    assert registry.logger.name == REGISTRY_LOGGER


def forbid_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Serving and training the demo models fail the test: a refused command does neither."""
    import uvicorn

    import models.demo

    def work(*_: object, **__: object) -> None:
        raise AssertionError("the command went to work")

    monkeypatch.setattr(uvicorn, "run", work)
    monkeypatch.setattr(models.demo, "train_demo_models", work)


@pytest.mark.parametrize(
    ("argv", "refusal"),
    [
        (["serve", "--port", "80000"], "argument --port: '80000' is not a TCP port, 1 to 65535"),
        (["serve", "--port", "0"], "argument --port: '0' is not a TCP port, 1 to 65535"),
        (["serve", "--port", "-1"], "argument --port: '-1' is not a TCP port"),
        (
            ["demo", "--wait", "-1"],
            "argument --wait: '-1' is not a number of seconds, 0 to 31,622,400",
        ),
        (["batch", "in.csv", "--model", "m", "--rows-per-part", "0"], ", 1 or more"),
        (["batch", "in.csv", "--model", "m", "--bytes-per-part", "100"], ", 1024 or more"),
        (["batch", "in.csv", "--model", "m", "--parallelism", "65"], ", 1 to 64"),
        (["batch", "in.csv", "--model", "m", "--timeout", "nan"], "'nan' is not a number"),
        (["batch", "in.csv", "--model", "m", "--poll-seconds", "0"], "seconds, more than 0"),
        (["batch", "in.csv", "--model", "m", "--poll-seconds", "1e300"], "at most 31,622,400"),
    ],
)
def test_a_number_out_of_range_is_one_usage_error_before_any_work(
    argv: list[str],
    refusal: str,
    model_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    forbid_work(monkeypatch)
    monkeypatch.chdir(model_root)  # batch would read in.csv from here
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--model-root", str(model_root)])

    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert refusal in err.splitlines()[-1], err
    assert sum("error" in line for line in err.splitlines()) == 1


def test_ports_and_counts_in_range_are_taken() -> None:
    from router.cli_options import count, port, seconds

    assert [port(text) for text in ("1", "8650", "65535")] == [1, 8650, 65535]
    assert count(1, 64)("64") == 64 and count(1024)(str(10**12)) == 10**12
    assert seconds(zero=True)("0") == 0 and seconds(zero=False)("0.5") == 0.5


def test_a_bad_port_variable_is_only_serves_error(
    model_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # $PORT is serve's default: another command does not read it, so it does not fail on it.
    forbid_work(monkeypatch)
    monkeypatch.setenv("PORT", "80000")
    assert main(["list", "--model-root", str(model_root)]) == 0

    with pytest.raises(SystemExit) as exited:
        main(["serve", "--model-root", str(model_root)])
    assert exited.value.code == 2
    assert "'80000' is not a TCP port" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "value", "refusal"),
    [
        ("--timeout", "0", "argument --timeout: '0' is not a number of seconds, more than 0"),
        ("--timeout", "inf", "argument --timeout: 'inf' is not a number of seconds"),
        # Finite, but past what a socket timeout takes (OverflowError, a traceback).
        ("--timeout", "1e300", "argument --timeout: '1e300' is not a number of seconds"),
        ("--retries", "-1", "argument --retries: '-1' is not a whole number, 0 or more"),
    ],
)
def test_the_clients_numbers_out_of_range_are_usage_errors(
    option: str, value: str, refusal: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["predict", "m", "--data", "rows.json", option, value])

    assert exited.value.code == 2
    assert refusal in capsys.readouterr().err.splitlines()[-1]


def test_a_reader_that_goes_away_ends_the_command_quietly(model_root: Path) -> None:
    # `model-router list | head -1`, with the reader gone before the command writes.
    import os
    import subprocess
    import sys

    write_model(model_root, "m", train_booster())
    read_end, write_end = os.pipe()
    os.close(read_end)
    command = [sys.executable, "-m", "router.cli", "list", "--model-root", str(model_root)]
    try:
        run = subprocess.run(command, stdout=write_end, stderr=subprocess.PIPE, timeout=60)
    finally:
        os.close(write_end)

    err = run.stderr.decode()
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
