"""AWS Lambda entry point of batch jobs: ``router.batch.lambda_handler.handler``.

The batch state machine invokes it for each step (see ``router.batch.steps``): an item batch
of its Distributed Map (``{"Items": [...], "BatchInput": {...}}``), or ``{"step": "prepare"}``
and ``{"step": "finish"}`` around the map. Like the router it mounts EFS read-only and
loads models through a ``ModelRegistry``; one environment keeps its registry and S3 client
across invocations, so the parts of a job that land on it load the model once.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any

from router.batch import steps
from router.registry.registry import ModelRegistry
from router.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)


@functools.cache
def settings() -> Settings:
    return Settings()


@functools.cache
def registry() -> ModelRegistry:
    """The environment's registry; tests call ``registry.cache_clear()``."""
    return ModelRegistry.from_settings(settings())


@functools.cache
def s3_client() -> S3Client:
    import boto3

    from router.aws_config import bounded_config

    return boto3.client("s3", config=bounded_config())


@functools.cache
def _configure_logging() -> None:
    from router.observability import configure_logging

    configure_logging(settings())


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Run the step that ``event`` asks for."""
    _configure_logging()
    if "Items" in event and "BatchInput" in event:
        return steps.predict_part(event, s3_client(), registry())
    step = event.get("step")
    if step == "prepare":
        return steps.prepare(event["input"], event["run"], s3_client(), registry())
    if step == "finish":
        return steps.finish(event["state"], s3_client())
    # Not an event of the batch state machine: a wiring mistake, so fail loudly.
    raise ValueError(f"not a batch step: keys {sorted(event)[:10]}")
