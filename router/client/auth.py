"""How a request proves who sends it: SigV4 (API Gateway's IAM authorization), a bearer
token (its JWT authorizer), or nothing (a local server, or an API without authorization).

SigV4 is botocore's own signer; botocore is imported only when a SigV4 signer is made, so
the client needs it (the ``publish`` extra) only for IAM-authorized APIs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from router.aws_config import credentials_hint, explain
from router.client.errors import ClientConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from botocore.credentials import Credentials

# API Gateway's default endpoints name their Region: <id>.execute-api.<region>.amazonaws.com
_EXECUTE_API_HOST = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")
SIGV4_SERVICE = "execute-api"


class Auth(Protocol):
    """Adds the headers that authenticate one request."""

    def headers(
        self, method: str, url: str, body: bytes, headers: Mapping[str, str]
    ) -> dict[str, str]:
        """The headers to send on top of ``headers`` (which are sent as they are)."""
        ...


class NoAuth:
    def headers(
        self, method: str, url: str, body: bytes, headers: Mapping[str, str]
    ) -> dict[str, str]:
        return {}


@dataclass(frozen=True)
class BearerToken:
    """``Authorization: Bearer <token>``, for an API with a JWT authorizer."""

    token: str

    def __post_init__(self) -> None:
        if not self.token.strip():
            raise ClientConfigError("the bearer token is empty")

    def headers(
        self, method: str, url: str, body: bytes, headers: Mapping[str, str]
    ) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token.strip()}"}

    def __repr__(self) -> str:  # never print the token
        return "BearerToken(...)"


def region_of(url_host: str) -> str | None:
    """The Region an ``execute-api`` host names, if it is one."""
    match = _EXECUTE_API_HOST.search(url_host.lower())
    return match.group(1) if match else None


class SigV4:
    """Signs each request with AWS Signature Version 4 for ``execute-api``, through
    botocore's ``SigV4Auth``, with credentials found as the AWS CLI finds them (or given).

    The Region is the one the API's host names, else ``region``, else the configured one.
    Refreshable credentials (SSO, assumed roles) are read afresh for every request.
    """

    def __init__(
        self,
        *,
        region: str | None = None,
        profile: str | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        try:
            import botocore.session
            from botocore.exceptions import BotoCoreError
        except ImportError as exc:
            raise ClientConfigError(
                "signing requests (SigV4) needs botocore: pip install 'model-router[publish]'"
            ) from exc
        try:
            session = botocore.session.Session(profile=profile)
            self.region = region or session.get_config_variable("region")
            if credentials is None:
                credentials = session.get_credentials()
        except BotoCoreError as exc:  # an unknown profile, an expired SSO session, ...
            raise ClientConfigError(f"cannot read AWS credentials: {explain(exc)}") from exc
        if credentials is None:
            raise ClientConfigError(
                "no AWS credentials found (looked where the AWS CLI looks: environment, "
                f"~/.aws, SSO, instance role); the API uses IAM authorization: {credentials_hint()}"
            )
        self._credentials = credentials

    def headers(
        self, method: str, url: str, body: bytes, headers: Mapping[str, str]
    ) -> dict[str, str]:
        from urllib.parse import urlsplit

        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        region = region_of(urlsplit(url).hostname or "") or self.region
        if not region:
            raise ClientConfigError(
                "cannot tell which AWS Region to sign for: the URL names none; "
                "pass a region (--region) or set AWS_REGION"
            )
        from botocore.exceptions import BotoCoreError

        try:
            credentials = self._credentials.get_frozen_credentials()  # refreshes if due
        except BotoCoreError as exc:
            raise ClientConfigError(f"cannot refresh AWS credentials: {explain(exc)}") from exc
        request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
        SigV4Auth(credentials, SIGV4_SERVICE, region).add_auth(request)
        return {
            name: value
            for name, value in request.headers.items()
            if name.lower() not in {key.lower() for key in headers}
        }
