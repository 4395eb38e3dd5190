"""Settings: every validator, and the budgets derived from the Lambda environment."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from pydantic import ValidationError

from router.settings import GIB, LAMBDA_MOUNT_PATH, LOCAL_MODEL_ROOT, MIB, Settings

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(autouse=True)
def _no_router_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"):
        monkeypatch.delenv(name, raising=False)


def test_preload_is_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTER_PRELOAD", " iris, ,churn ,")

    assert Settings().preload == ("iris", "churn")


def test_preload_of_more_models_than_the_cache_holds_is_refused() -> None:
    with pytest.raises(ValidationError, match="ROUTER_PRELOAD names 3 models but"):
        Settings(preload=("a", "b", "c"), cache_max_models=2)
    assert Settings(preload=("a", "b"), cache_max_models=2).preload == ("a", "b")  # all fit


def test_log_level_is_case_insensitive_and_checked() -> None:
    assert Settings(log_level="warning").log_level == "WARNING"
    with pytest.raises(ValidationError, match="unknown log level 'loud'"):
        Settings(log_level="loud")


# Each bounded field: a value just outside its range, and the nearest value inside it.
BOUNDS = [
    ("cache_max_models", 0, 1),
    ("cache_max_bytes", MIB - 1, MIB),
    ("reload_interval_s", -0.001, 0),
    ("settle_s", -0.001, 0),
    ("max_rows", 0, 1),
    ("max_body_bytes", 1023, 1024),
    ("load_wait_s", 0, 0.001),
    ("nthread", 0, 1),
    ("request_log_sample", -0.001, 0),
    ("request_log_sample", 1.001, 1),
    ("body_timeout_s", 0, 0.001),
    ("inbox_max_bytes", MIB - 1, MIB),
    ("history_limit", -1, 0),
    ("batch_rows_per_part", 0, 1),
    ("batch_bytes_per_part", 1023, 1024),
    ("batch_parallelism", 0, 1),
    ("batch_parallelism", 65, 64),
]


@pytest.mark.parametrize(("field", "refused", "accepted"), BOUNDS)
def test_budgets_out_of_range_are_refused_and_the_edge_accepted(
    field: str, refused: float, accepted: float
) -> None:
    with pytest.raises(ValidationError, match=field):
        Settings(**{field: refused})
    assert getattr(Settings(**{field: accepted}), field) == accepted


def test_environment_variables_use_the_router_prefix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ROUTER_MODEL_ROOT", str(tmp_path))
    monkeypatch.setenv("ROUTER_CACHE_MAX_MODELS", "3")

    settings = Settings()

    assert (settings.model_root, settings.cache_max_models) == (tmp_path, 3)


def test_local_defaults() -> None:
    settings = Settings()

    assert settings.model_root == LOCAL_MODEL_ROOT
    assert settings.cache_max_bytes == GIB


def test_lambda_defaults_follow_the_function(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "router")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "2048")

    settings = Settings()

    assert settings.model_root == LAMBDA_MOUNT_PATH
    # Half of what the process's own 144 MiB leave.
    assert settings.cache_max_bytes == (2048 - 144) // 2 * MIB
    assert settings.inbox_max_bytes == (2048 - 144) // 4 * MIB


@pytest.mark.parametrize("memory", ["", "0", "lots", "\u00b2", "1" * 5000])
def test_an_unusable_lambda_memory_size_falls_back_to_the_local_budget(
    monkeypatch: pytest.MonkeyPatch, memory: str
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory)

    assert Settings().cache_max_bytes == GIB


def test_arguments_win_over_the_environment_and_unknown_variables_are_ignored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROUTER_MAX_ROWS", "7")
    monkeypatch.setenv("router_nthread", "2")  # any case, as pydantic-settings reads it
    monkeypatch.setenv("ROUTER_NO_SUCH_SETTING", "x")

    settings = Settings(max_rows=9)

    assert (settings.max_rows, settings.nthread) == (9, 2)


def test_an_invalid_environment_value_is_refused_with_the_fields_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROUTER_CACHE_MAX_MODELS", "many")

    with pytest.raises(ValidationError, match="cache_max_models"):
        Settings()
