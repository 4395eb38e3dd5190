"""How long the router's own AWS calls may wait: the publish, versions and batch commands,
the deploy script and the inbox and batch functions.

botocore's defaults allow 60 s to connect, 60 s for each read and five attempts, so an
endpoint that takes the connection and never answers (a proxy, a captive portal, an
``AWS_ENDPOINT_URL`` pointing at the wrong port) holds a command for about ten minutes.
These bound it to about a minute and a half. The read timeout is per socket read, not per
call: a large upload or download that keeps moving is never cut short by it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from botocore.config import Config

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0
ATTEMPTS = 3


def bounded_config(
    connect_timeout_s: float | None = None,
    read_timeout_s: float | None = None,
    attempts: int | None = None,
) -> Config:
    """botocore settings with these bounds; each defaults to this module's constant, read
    at call time so that a test can shorten it."""
    from botocore.config import Config

    return Config(
        connect_timeout=CONNECT_TIMEOUT_S if connect_timeout_s is None else connect_timeout_s,
        read_timeout=READ_TIMEOUT_S if read_timeout_s is None else read_timeout_s,
        # "standard" retries only what is worth retrying (throttling, 5xx, timeouts) and
        # backs off with jitter. "total_max_attempts" counts the first call; botocore's
        # "max_attempts" counts only the retries.
        retries={
            "total_max_attempts": ATTEMPTS if attempts is None else attempts,
            "mode": "standard",
        },
    )


# What a person at a terminal can do about each failure botocore reports in its own words
# ("Unable to locate credentials" names no command to run).
_NO_CREDENTIALS = "run `aws configure` or `aws sso login`, or set AWS_PROFILE"
_CREDENTIAL_ERRORS = (
    "NoCredentialsError",
    "PartialCredentialsError",
    "CredentialRetrievalError",
    "TokenRetrievalError",
    "SSOTokenLoadError",
    "UnauthorizedSSOTokenError",
)
_UNREACHABLE_ERRORS = (
    "EndpointConnectionError",
    "ConnectTimeoutError",
    "ProxyConnectionError",
    "ReadTimeoutError",
    "ConnectionClosedError",
)
# Codes AWS answers to credentials it does not accept.
_REFUSED_CREDENTIAL_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
    }
)


def explain(exc: Exception) -> str:
    """botocore's message, with what to do about it when the cause is the credentials, the
    network or the Region rather than the request."""
    kinds = {kind.__name__ for kind in type(exc).__mro__}
    if "ProfileNotFound" in kinds:
        return f"{exc}: `aws configure list-profiles` lists the profiles AWS_PROFILE may name"
    if kinds.intersection(_CREDENTIAL_ERRORS):
        return f"no usable AWS credentials ({exc}): {_NO_CREDENTIALS}"
    if kinds.intersection(_UNREACHABLE_ERRORS):
        return (
            f"cannot reach AWS ({exc}): check the network, a proxy (HTTPS_PROXY) or "
            "AWS_ENDPOINT_URL"
        )
    if "NoRegionError" in kinds:
        return "which Region? set AWS_REGION (or a region in the AWS profile)"
    response = getattr(exc, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    if refuses_credentials(code):
        return f"AWS refused the credentials ({exc}): {_NO_CREDENTIALS}"
    return str(exc)


def refuses_credentials(code: str | None) -> bool:
    """Whether an AWS error code means the credentials, not the request, are at fault."""
    return code in _REFUSED_CREDENTIAL_CODES


def credentials_hint() -> str:
    return _NO_CREDENTIALS
