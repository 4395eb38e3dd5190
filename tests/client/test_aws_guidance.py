"""The commands that call AWS say what to do when the credentials are at fault, in one line:
botocore's own words ("Unable to locate credentials", "The provided token has expired")
name no command to run."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

import boto3
import pytest

from router.cli import main
from tests.client.test_aws_timeouts import command

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

COMMANDS = ["publish", "versions", "batch"]


@pytest.fixture
def no_aws_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine where nobody ran `aws configure`: no keys, no files, no instance role."""
    for variable in (
        "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):  # fmt: skip
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = [line for line in err.strip().splitlines() if line.startswith("error: ")]
    return line


@pytest.mark.usefixtures("no_aws_configuration")
@pytest.mark.parametrize("name", COMMANDS)
def test_no_credentials_say_how_to_get_some(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(command(name, tmp_path)) == 1

    line = one_error_line(capsys)
    assert "no usable AWS credentials" in line
    assert "aws configure" in line and "aws sso login" in line, line


@pytest.mark.usefixtures("no_aws_configuration")
@pytest.mark.parametrize("name", COMMANDS)
def test_a_profile_that_does_not_exist_is_named_with_where_to_look(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "prod-typo")

    assert main(command(name, tmp_path)) == 1

    line = one_error_line(capsys)
    assert "prod-typo" in line and "aws configure list-profiles" in line, line


class RefusesTheToken(BaseHTTPRequestHandler):
    """What S3 (XML) and Step Functions (JSON) answer to an expired session token."""

    def _refuse(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        if self.headers.get("x-amz-target", "").startswith("AWSStepFunctions."):
            body = json.dumps(
                {"__type": "ExpiredTokenException", "message": "The security token included "
                 "in the request is expired"}
            ).encode()  # fmt: skip
            self.send_response(400)
            self.send_header("content-type", "application/x-amz-json-1.0")
        else:
            body = (
                b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>ExpiredToken</Code>"
                b"<Message>The provided token has expired.</Message></Error>"
            )
            self.send_response(400)
            self.send_header("content-type", "application/xml")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_HEAD = _refuse  # noqa: N815 (http.server's names)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def expired_token_endpoint(
    no_aws_configuration: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), RefusesTheToken)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ASIAEXPIRED")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "expired")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "expired")
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.mark.usefixtures("expired_token_endpoint")
@pytest.mark.parametrize("name", COMMANDS)
def test_credentials_aws_refuses_say_how_to_renew_them(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(command(name, tmp_path)) == 1

    line = one_error_line(capsys)
    assert "xpired" in line and "aws sso login" in line, line
