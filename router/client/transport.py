"""HTTP for the client: one kept-alive connection per thread, retries with backoff.

The standard library's ``http.client`` rather than a third-party client: the package has
no HTTP client among its dependencies, and a kept-alive connection saves a TCP and TLS
handshake per call (``urllib.request`` opens a new connection for every request). Proxies
(``HTTPS_PROXY``) are not used.

Retried: the statuses in ``RetryPolicy.statuses`` (429 Too Many Requests: API Gateway's
throttling; 503: a model still loading, or the store unreachable) and connections that fail
before any response; but not the router's own 503 without ``Retry-After`` (a model with no
version that loads, or larger than the cache budget), which waiting does not change.
Predictions are pure functions of the request, so a retry is safe. A timeout is not
retried: the request may still be running, and the router answers a load that outlasts
``ROUTER_LOAD_WAIT_S`` with a 503 of its own, which is.
"""

from __future__ import annotations

import http.client
import random
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from router.client.errors import ClientConfigError, ConnectionFailed

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from router.client.auth import Auth


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``retries`` more attempts after the first. Without ``Retry-After``, attempt ``n``
    waits a random time up to ``min(max_backoff_s, backoff_s * 2**n)`` ("full jitter", so
    that throttled clients do not come back in step). A ``Retry-After`` is waited exactly;
    one longer than ``max_retry_after_s`` ends the retries (coming back sooner would ignore
    it)."""

    retries: int = 3
    backoff_s: float = 0.25
    max_backoff_s: float = 8.0
    max_retry_after_s: float = 30.0
    statuses: frozenset[int] = frozenset({429, 503})

    def __post_init__(self) -> None:
        if self.retries < 0 or self.backoff_s < 0 or self.max_backoff_s < 0:
            raise ValueError("retries and backoff times cannot be negative")

    def backoff(self, attempt: int, draw: Callable[[], float]) -> float:
        return draw() * min(self.max_backoff_s, self.backoff_s * 2.0**attempt)


NO_RETRIES = RetryPolicy(retries=0)


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes


# The router's problem bodies; API Gateway's and Lambda's own errors are plain JSON.
_PROBLEM_MEDIA_TYPE = "application/problem+json"


def _final_problem(response: HttpResponse) -> bool:
    """A problem the router says retrying will not help: it sends ``Retry-After`` with
    every problem that may pass (a load still running, the store unreachable)."""
    media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    return media_type == _PROBLEM_MEDIA_TYPE and "retry-after" not in response.headers


def retry_after_s(value: str | None, now: float) -> float | None:
    """``Retry-After`` in seconds from ``now`` (Unix time): delta-seconds or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


@dataclass
class Transport:
    """Sends requests to one base URL; safe to share between threads."""

    base_url: str
    auth: Auth
    timeout_s: float
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    user_agent: str = "model-router-client"
    sleep: Callable[[float], None] = time.sleep
    draw: Callable[[], float] = random.random
    clock: Callable[[], float] = time.time
    _local: threading.local = field(default_factory=threading.local, init=False, repr=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ClientConfigError(f"not an http(s) URL: {self.base_url!r}")
        if parts.query or parts.fragment:
            raise ClientConfigError(f"the API URL cannot have a query or fragment: {self.base_url}")
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port
        self._netloc = parts.netloc.rsplit("@", 1)[-1]
        self._prefix = parts.path.rstrip("/")  # a custom domain's base path, or none
        self.base_url = f"{parts.scheme}://{self._netloc}{self._prefix}"

    def request(
        self, method: str, path: str, body: bytes = b"", content_type: str | None = None
    ) -> HttpResponse:
        """Send ``method path``, retrying as the policy says; the last response, whatever its
        status. Raises ``ConnectionFailed`` when no attempt got a response."""
        attempt = 0
        while True:
            try:
                response = self._send_once(method, path, body, content_type)
            except ConnectionFailed as exc:
                if exc.retryable and attempt < self.retry.retries:
                    self.sleep(self.retry.backoff(attempt, self.draw))
                    attempt += 1
                    continue
                raise
            if (
                response.status not in self.retry.statuses
                or attempt >= self.retry.retries
                or _final_problem(response)
            ):
                return response
            wait = retry_after_s(response.headers.get("retry-after"), self.clock())
            if wait is None:
                wait = self.retry.backoff(attempt, self.draw)
            elif wait > self.retry.max_retry_after_s:
                return response
            self.sleep(wait)
            attempt += 1

    def _send_once(
        self, method: str, path: str, body: bytes, content_type: str | None
    ) -> HttpResponse:
        target = self._prefix + path
        headers = {"Host": self._netloc, "User-Agent": self.user_agent, "Accept": "*/*"}
        if content_type is not None:
            headers["Content-Type"] = content_type
        url = f"{self._scheme}://{self._netloc}{target}"
        # Signed per attempt: a SigV4 signature carries its time.
        headers.update(self.auth.headers(method, url, body, headers))
        reused = getattr(self._local, "connection", None) is not None
        connection = self._connection()
        try:
            connection.request(method, target, body=body or None, headers=headers)
            raw = connection.getresponse()
            data = raw.read()
        except TimeoutError as exc:
            self._drop_connection()
            raise ConnectionFailed(
                f"no answer from {self._netloc} within {self.timeout_s:g} s", retryable=False
            ) from exc
        except (OSError, http.client.HTTPException) as exc:
            self._drop_connection()
            if reused and isinstance(exc, ConnectionError):
                # The server closed a kept-alive connection while it sat idle: not a failure
                # of this request, so try once more on a new connection at no cost.
                return self._send_once(method, path, body, content_type)
            raise ConnectionFailed(
                f"cannot reach {self._netloc}: {_describe(exc)}",
                retryable=not isinstance(exc, ssl.SSLError | socket.gaierror),
            ) from exc
        if raw.will_close:
            self._drop_connection()
        return HttpResponse(raw.status, {k.lower(): v for k, v in raw.getheaders()}, data)

    def _connection(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            if self._scheme == "https":
                connection = http.client.HTTPSConnection(
                    self._host,
                    self._port,
                    timeout=self.timeout_s,
                    context=ssl.create_default_context(),
                )
            else:
                connection = http.client.HTTPConnection(
                    self._host, self._port, timeout=self.timeout_s
                )
            self._local.connection = connection
        return connection

    def _drop_connection(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        self._drop_connection()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
