"""AWS Lambda entry point of the model inbox: ``router.publish.lambda_handler.handler``.

S3 invokes it for ``ObjectCreated:*`` and ``ObjectRemoved:*`` under ``models/`` of the inbox
bucket; it writes validated models onto EFS at ``ROUTER_MODEL_ROOT`` (see
``router.publish.apply`` for what each event does, and docs/publishing.md). Its only state
lives beside the models on EFS and in the bucket's tags.

Nothing is built at import: settings are read per invocation (cheap), and the S3 client is
made by the first invocation and reused by later ones in the same environment. A failure to
reach S3 or EFS raises, so Lambda retries the event and finally sends it to the dead letter
queue; a rejected model is an answer, not a failure, and so is an event that is no S3
notification (it would fail every retry the same way).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from router.publish.apply import Inbox
from router.publish.events import MalformedRecord, NotAnS3Notification, s3_records
from router.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from router.observability import JsonLogger

logger = logging.getLogger(__name__)


@functools.cache
def s3_client() -> S3Client:
    """The invocation environment's S3 client; tests call ``s3_client.cache_clear()``."""
    from router.publish.s3 import s3_client as make_client

    return make_client()


@functools.cache
def tagging_client() -> S3Client:
    """The environment's client for verdict tags (``router.publish.s3.tagging_client``)."""
    from router.publish.s3 import tagging_client as make_client

    return make_client()


@functools.cache
def _json_logger(level: str) -> JsonLogger:
    """JSON log lines for the ``router`` loggers, set up once per environment."""
    from router.observability import configure_logging

    return configure_logging(Settings(log_level=level))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Handle one S3 notification; returns what each record did, and which records were
    malformed (skipped, so that the others still go through)."""
    settings = Settings()
    _json_logger(settings.log_level).append_keys(
        request_id=getattr(context, "aws_request_id", None)
    )
    inbox = Inbox(
        settings.model_root,
        s3_client(),
        history_limit=settings.history_limit,
        max_object_bytes=settings.inbox_max_bytes,
        nthread=settings.nthread,
        tagger=tagging_client(),
    )
    outcomes = []
    malformed = []
    try:
        records = s3_records(event)
    except NotAnS3Notification as exc:
        # A rule or trigger wired to the wrong function: a retry would fail the same way,
        # so it is answered, and the log line is what tells the operator.
        keys = sorted(str(key)[:40] for key in event)[:10] if isinstance(event, dict) else []
        logger.error(
            "event ignored: the inbox handles S3 notifications only: %s (keys: %s)",
            exc,
            ", ".join(keys) or "none",
        )
        return {"outcomes": [], "malformed": [], "ignored": str(exc)}
    for record in records:
        if isinstance(record, MalformedRecord):
            logger.warning(
                "malformed S3 record skipped",
                extra={"record_index": record.index, "reason": record.reason},
            )
            malformed.append(asdict(record))
            continue
        try:
            outcomes.append(inbox.apply(record))
        except Exception:
            logger.exception(
                "inbox event failed; Lambda retries it",
                extra={"key": record.key, "version_id": record.version_id},
            )
            raise
    return {"outcomes": [asdict(outcome) for outcome in outcomes], "malformed": malformed}
