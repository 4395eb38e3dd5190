"""What a call to the router can fail with, each with one line a person can act on."""

from __future__ import annotations


class ClientError(Exception):
    """Base class of the client's errors; ``detail`` is the one-line explanation."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ClientConfigError(ClientError):
    """The client cannot make a request at all: no credentials, no region, no botocore."""


class ConnectionFailed(ClientError):
    """No HTTP response: refused, reset, a timeout, a TLS or DNS failure. ``retryable``:
    whether trying again could help (a refused connection may; a bad certificate will not)."""

    def __init__(self, detail: str, *, retryable: bool = True) -> None:
        super().__init__(detail)
        self.retryable = retryable


class RequestFailed(ClientError):
    """The API answered with an error status.

    ``type``, ``title`` and ``detail`` come from the router's ``application/problem+json``
    body, or from API Gateway's ``{"message": ...}`` (e.g. a refused signature) or else from
    the status itself. ``request_id`` is API Gateway's id of the request, when it gave one:
    the access log has it.
    """

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        type: str | None = None,
        request_id: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.type = type
        self.request_id = request_id
        self.retry_after_s = retry_after_s

    def __str__(self) -> str:
        line = f"{self.status} {self.title}: {self.detail}"
        return f"{line} (request id {self.request_id})" if self.request_id else line
