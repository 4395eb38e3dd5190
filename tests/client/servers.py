"""Local HTTP servers for the client's tests: one that answers from a script (to exercise
retries and timeouts), and a check that re-verifies a SigV4 signature with botocore from the
request as it arrived, the way API Gateway does for IAM authorization."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from botocore.credentials import ReadOnlyCredentials

HANG = -1  # a scripted "status": accept the request and never answer (until shutdown)


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=dict)
    hang_up: bool = False  # close the connection afterwards without saying so, as idle
    # keep-alive connections are closed by servers and load balancers


@dataclass
class ScriptedServer:
    """Answers each request with the next reply of ``script`` (the last one repeats)."""

    script: list[Reply]
    check: Callable[[Received], Reply | None] | None = None  # a reply here overrides
    received: list[Received] = field(default_factory=list)
    url: str = ""
    stopping: threading.Event = field(default_factory=threading.Event)


@contextlib.contextmanager
def serving(server: ScriptedServer) -> Iterator[ScriptedServer]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as API Gateway does

        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            request = Received(
                self.command, self.path, dict(self.headers.items()), self.rfile.read(length)
            )
            server.received.append(request)
            index = min(len(server.received), len(server.script)) - 1
            reply = (server.check(request) if server.check else None) or server.script[index]
            if reply.status == HANG:
                server.stopping.wait(30)
                return
            self.send_response(reply.status)
            for name, value in {"content-type": "application/json", **reply.headers}.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
            if reply.hang_up:
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    server.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield server
    finally:
        server.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<credential>[^,]+), "
    r"SignedHeaders=(?P<signed>[^,]+), Signature=(?P<signature>[0-9a-f]{64})$"
)


@dataclass
class SigV4Verifier:
    """Recomputes the signature of a received request with botocore's signer and the
    caller's credentials; a mismatch is API Gateway's 403."""

    credentials: ReadOnlyCredentials
    region: str
    service: str = "execute-api"
    verdicts: list[str] = field(default_factory=list)

    def __call__(self, received: Received) -> Reply | None:
        verdict = self.verify(received)
        self.verdicts.append(verdict)
        if verdict == "valid":
            return None
        return Reply(403, b'{"message":"Forbidden"}')

    def verify(self, received: Received) -> str:
        headers = {name.lower(): value for name, value in received.headers.items()}
        match = _AUTHORIZATION.match(headers.get("authorization", ""))
        if match is None:
            return "no SigV4 Authorization header"
        signed = match["signed"].split(";")
        for required in ("host", "x-amz-date"):
            if required not in signed:
                return f"{required} is not signed"
        if self.credentials.token and "x-amz-security-token" not in signed:
            return "the session token is not signed"
        timestamp = headers["x-amz-date"]
        expected_scope = (
            f"{self.credentials.access_key}/{timestamp[:8]}/{self.region}/"
            f"{self.service}/aws4_request"
        )
        if match["credential"] != expected_scope:
            return f"credential scope {match['credential']} is not {expected_scope}"
        request = AWSRequest(
            method=received.method,
            url=f"http://{headers['host']}{received.path}",
            data=received.body,
            headers={name: headers[name] for name in signed},
        )
        request.context["timestamp"] = timestamp
        signer = SigV4Auth(self.credentials, self.service, self.region)
        canonical = signer.canonical_request(request)
        signature = signer.signature(signer.string_to_sign(request, canonical), request)
        return "valid" if signature == match["signature"] else "signature mismatch"
