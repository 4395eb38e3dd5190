"""Shared by the fidelity tests: the models are trained once per session (a few seconds) and
saved into one model store; the Lambda and inbox fixtures are the real ones."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.lambda_ import conftest as lambda_fixtures
from tests.publish import conftest as publish_fixtures

from .estimators import Case, all_cases

if TYPE_CHECKING:
    from pathlib import Path

import_handler = lambda_fixtures.import_handler
context = lambda_fixtures.context
boto3_session = publish_fixtures.boto3_session
aws = publish_fixtures.aws
s3 = publish_fixtures.s3
bucket = publish_fixtures.bucket
efs = publish_fixtures.efs
sequencers = publish_fixtures.sequencers
inbox = publish_fixtures.inbox


@pytest.fixture(scope="session")
def cases() -> dict[str, Case]:
    return {case.name: case for case in all_cases()}


@pytest.fixture(scope="session")
def store(cases: dict[str, Case], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Each model as its estimator's save_model wrote it, metadata.json only for labels."""
    root = tmp_path_factory.mktemp("fidelity-store")
    for case in cases.values():
        case.save(root)
    return root
