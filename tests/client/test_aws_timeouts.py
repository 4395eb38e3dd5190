"""The commands that call AWS give up on an endpoint that takes the connection and never
answers (a proxy, a captive portal, ``AWS_ENDPOINT_URL`` at the wrong port), in one line.

With botocore's defaults each of them waited 60 s a read, five times over: about ten minutes.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest

import router.aws_config
import router.batch.lambda_handler
import router.publish.lambda_handler
from router.cli import main
from tests.modelkit import model_bytes, train_booster
from tests.silent_aws import silent_aws_endpoint

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

ARN = "arn:aws:states:eu-west-1:123456789012:stateMachine:model-router-batch"
# Attempts of half a second each and the back-off between them, with room for a slow CI.
GIVES_UP_WITHIN_S = 15.0


@pytest.fixture
def silent_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(router.aws_config, "READ_TIMEOUT_S", 0.5)
    with silent_aws_endpoint(monkeypatch, tmp_path):
        yield


def command(name: str, tmp_path: Path) -> list[str]:
    if name == "batch":
        return ["batch", "s3://batch/batch/churn/job.csv", "--model", "churn",
                "--state-machine", ARN, "--no-progress"]  # fmt: skip
    if name == "versions":
        return ["versions", "churn", "--bucket", "inbox"]
    model = tmp_path / "churn.ubj"
    model.write_bytes(model_bytes(train_booster("binary", seed=1)))
    return ["publish", str(model), "--name", "churn", "--bucket", "inbox"]


@pytest.mark.usefixtures("silent_endpoint")
@pytest.mark.parametrize("name", ["publish", "versions", "batch"])
def test_a_command_gives_up_on_an_endpoint_that_never_answers_in_one_line(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = command(name, tmp_path)
    started = time.monotonic()

    code = main(argv)

    elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    assert code == 1
    assert elapsed < GIVES_UP_WITHIN_S
    assert "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert line.startswith("error: ") and "timeout" in line.lower(), line


def test_the_bounds_are_botocores_settings() -> None:
    config = router.aws_config.bounded_config()
    assert config.connect_timeout == router.aws_config.CONNECT_TIMEOUT_S
    assert config.read_timeout == router.aws_config.READ_TIMEOUT_S
    assert config.retries == {"total_max_attempts": router.aws_config.ATTEMPTS, "mode": "standard"}


@pytest.mark.usefixtures("silent_endpoint")
@pytest.mark.parametrize(
    "make_client",
    [router.publish.lambda_handler.s3_client, router.batch.lambda_handler.s3_client],
    ids=["inbox", "batch"],
)
def test_the_functions_clients_have_the_same_bounds(make_client: Any) -> None:
    # A read that never ends would hold the invocation to its timeout, and Lambda would
    # then retry the event.
    make_client.cache_clear()
    try:
        config = make_client().meta.config
        assert config.read_timeout == router.aws_config.READ_TIMEOUT_S
        assert config.retries["total_max_attempts"] == router.aws_config.ATTEMPTS
    finally:
        make_client.cache_clear()
