"""``model-router demo --bucket``: the demo models, trained from scikit-learn's data sets,
uploaded to a moto inbox; the real inbox handler publishes each onto the "EFS" folder, and
the router's Lambda handler answers the call the command printed."""

from __future__ import annotations

import json
import re
import shlex
from typing import TYPE_CHECKING

import numpy as np

from models.demo import DEMO_MODELS, train
from router.cli import main
from tests.events import http_api_event
from tests.lambda_ import conftest as lambda_fixtures
from tests.publish import conftest as publish_fixtures
from tests.publish.conftest import s3_event

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from types import ModuleType

    import pytest
    from mypy_boto3_s3 import S3Client

    from scripts.lambda_inputs import LambdaContext
    from tests.publish.conftest import InboxRun

# The publishing tests' fixtures: a moto inbox bucket, "EFS", the real handlers.
boto3_session = publish_fixtures.boto3_session
aws, s3, bucket, efs = (
    publish_fixtures.aws,
    publish_fixtures.s3,
    publish_fixtures.bucket,
    publish_fixtures.efs,
)
sequencers, inbox = publish_fixtures.sequencers, publish_fixtures.inbox
import_handler, context = lambda_fixtures.import_handler, lambda_fixtures.context

UPLOADED = re.compile(r"^\s+(\S+)\s+s3://[^/]+/(models/\S+)\s+version (\S+)$", re.MULTILINE)
CALL = re.compile(r"^\s+echo (.+) \| model-router predict (\S+) --data -$", re.MULTILINE)


def test_demo_models_go_through_the_inbox_and_answer_the_printed_calls(
    inbox: InboxRun,
    s3: S3Client,
    efs: Path,
    import_handler: Callable[..., ModuleType],
    context: LambdaContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--bucket", inbox.bucket]) == 0
    out = capsys.readouterr().out

    uploads = UPLOADED.findall(out)
    assert sorted(name for name, _, _ in uploads) == sorted(spec.name for spec in DEMO_MODELS)
    for name, key, version_id in uploads:
        head = s3.head_object(Bucket=inbox.bucket, Key=key, VersionId=version_id)
        event = s3_event(
            inbox.bucket,
            key,
            version_id=version_id,
            sequencer=inbox.sequencers.next(),
            size=head["ContentLength"],
        )
        assert inbox.deliver(event)["status"] == "published", name

    router = import_handler(efs)
    calls = dict((name, json.loads(shlex.split(rows)[0])) for rows, name in CALL.findall(out))
    assert sorted(calls) == sorted(spec.name for spec in DEMO_MODELS)
    iris = next(spec for spec in DEMO_MODELS if spec.name == "iris")
    booster, metadata = train(iris)
    body = json.dumps({"instances": calls["iris"]})
    response = router.handler(http_api_event("POST", "/models/iris/predict", body), context)

    assert response["statusCode"] == 200, response["body"]
    answer = json.loads(response["body"])
    assert answer["classes"] == metadata["class_labels"]
    expected = booster.inplace_predict(np.asarray(calls["iris"], dtype=np.float32))
    np.testing.assert_array_equal(np.asarray(answer["predictions"], dtype=np.float32), expected)
