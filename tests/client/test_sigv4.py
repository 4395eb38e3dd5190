"""SigV4 as API Gateway checks it: a local endpoint recomputes each signature with botocore
from the request as it arrived (method, path, signed headers, body) and the caller's
credentials, and answers 403 on any mismatch."""

from __future__ import annotations

import io
import json
import sys

import pytest
from botocore.credentials import Credentials, ReadOnlyCredentials

from router.cli import main
from router.client import BearerToken, ClientConfigError, RequestFailed, RouterClient, SigV4
from router.client.auth import region_of
from tests.client.servers import Reply, ScriptedServer, SigV4Verifier, serving

PREDICTION = b'{"model":"iris","version":"0123456789ab","output":"value","predictions":[0.5]}'
KEYS = ("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token-example")


def test_signed_requests_verify_with_the_callers_credentials() -> None:
    verifier = SigV4Verifier(ReadOnlyCredentials(*KEYS), "eu-west-1")
    server = ScriptedServer([Reply(200, PREDICTION)], check=verifier)
    auth = SigV4(region="eu-west-1", credentials=Credentials(*KEYS))

    with serving(server), RouterClient(server.url, auth=auth) as client:
        first = client.predict("iris", [[5.1, 3.5, 1.4, 0.2]])
        client.predict("iris", [{"sepal_length": 6.0}], output="margin")

    assert verifier.verdicts == ["valid", "valid"]
    assert first.predictions == [0.5]
    assert server.received[0].path == "/models/iris/predict"
    assert server.received[0].headers["X-Amz-Security-Token"] == KEYS[2]


def test_other_credentials_are_refused_with_api_gateways_403() -> None:
    verifier = SigV4Verifier(ReadOnlyCredentials(*KEYS), "eu-west-1")
    server = ScriptedServer([Reply(200, PREDICTION)], check=verifier)
    wrong = SigV4(region="eu-west-1", credentials=Credentials(KEYS[0], "another-secret", KEYS[2]))

    with (
        serving(server),
        RouterClient(server.url, auth=wrong) as client,
        pytest.raises(RequestFailed) as refused,
    ):
        client.predict("iris", [[1.0]])

    assert verifier.verdicts == ["signature mismatch"]
    assert (refused.value.status, refused.value.detail) == (403, "Forbidden")


def test_the_region_is_the_one_the_api_host_names() -> None:
    auth = SigV4(region="us-east-1", credentials=Credentials(*KEYS[:2]))
    url = "https://a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com/models/iris/predict"

    headers = auth.headers("POST", url, b"{}", {"Host": "a1b2c3d4e5.execute-api..."})

    assert "/eu-central-1/execute-api/aws4_request" in headers["Authorization"]
    assert "X-Amz-Security-Token" not in headers  # long-term keys have no token
    assert region_of("my-api.example.com") is None


def test_signing_without_credentials_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_PROFILE", raising=False)

    with pytest.raises(ClientConfigError, match="no AWS credentials found"):
        SigV4(region="eu-west-1")
    with pytest.raises(ClientConfigError, match=r"cannot read AWS credentials: .*nobody"):
        SigV4(profile="nobody")


def test_a_bearer_token_is_sent_as_is_and_never_printed() -> None:
    server = ScriptedServer([Reply(200, PREDICTION)])
    token = BearerToken("eyJhbGciOiJIUzI1NiJ9.e30.sig")

    with serving(server), RouterClient(server.url, auth=token) as client:
        client.predict("iris", [[1.0]])

    assert server.received[0].headers["Authorization"] == "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig"
    assert "eyJ" not in repr(token)


def _credentials_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, value in zip(
        ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"), KEYS, strict=True
    ):
        monkeypatch.setenv(variable, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("MODEL_ROUTER_TOKEN", raising=False)


def test_the_cli_signs_with_the_environments_credentials(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _credentials_in_the_environment(monkeypatch)
    monkeypatch.setattr(sys, "stdin", io.StringIO("5.1,3.5,1.4,0.2\n"))
    verifier = SigV4Verifier(ReadOnlyCredentials(*KEYS), "ap-southeast-2")
    server = ScriptedServer([Reply(200, PREDICTION)], check=verifier)

    with serving(server):
        argv = ["predict", "iris", "--url", server.url, "--data", "-", "--auth", "iam"]
        code = main([*argv, "--region", "ap-southeast-2"])

    assert code == 0, capsys.readouterr().err
    # Numbers alone read the same for any feature: no GET /models/iris first.
    assert [(r.method, r.path) for r in server.received] == [("POST", "/models/iris/predict")]
    assert verifier.verdicts == ["valid"]


def test_the_cli_signs_its_features_request_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CSV with a header is read by the model's features: both requests are signed."""
    _credentials_in_the_environment(monkeypatch)
    monkeypatch.setattr(sys, "stdin", io.StringIO("f0,f1,f2,f3\n5.1,3.5,1.4,0.2\n"))
    features = [{"name": f"f{i}", "type": "float", "categories": None} for i in range(4)]
    detail = json.dumps({"name": "iris", "features": features}).encode()
    verifier = SigV4Verifier(ReadOnlyCredentials(*KEYS), "ap-southeast-2")
    server = ScriptedServer([Reply(200, detail), Reply(200, PREDICTION)], check=verifier)

    with serving(server):
        argv = ["predict", "iris", "--url", server.url, "--data", "-", "--auth", "iam"]
        code = main([*argv, "--region", "ap-southeast-2"])

    assert code == 0, capsys.readouterr().err
    assert [(r.method, r.path) for r in server.received] == [
        ("GET", "/models/iris"),
        ("POST", "/models/iris/predict"),
    ]
    assert verifier.verdicts == ["valid", "valid"]
    assert json.loads(capsys.readouterr().out)["predictions"] == [0.5]
