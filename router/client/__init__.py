"""A Python client of the router: ``RouterClient(url, auth=SigV4()).predict("iris", rows)``.

Signing (SigV4) needs botocore, from the ``publish`` extra; nothing else beyond the
router's own dependencies.
"""

from router.client.auth import Auth, BearerToken, NoAuth, SigV4
from router.client.client import Feature, ModelSummary, Prediction, RouterClient
from router.client.errors import ClientConfigError, ClientError, ConnectionFailed, RequestFailed
from router.client.rows import InvalidRows
from router.client.transport import RetryPolicy

__all__ = [
    "Auth",
    "BearerToken",
    "ClientConfigError",
    "ClientError",
    "ConnectionFailed",
    "Feature",
    "InvalidRows",
    "ModelSummary",
    "NoAuth",
    "Prediction",
    "RequestFailed",
    "RetryPolicy",
    "RouterClient",
    "SigV4",
]
