"""A tiny threaded HTTP server on 127.0.0.1 that records every request and injects faults.

Vendor fakes subclass ``FakeServer`` and implement ``handle(request) -> Response``. Tests
read ``server.requests`` (every request, in order), ``server.answered`` (each request with the
status it was answered) and queue faults with ``server.faults``. ``before_handle`` lets a test
act the moment a request arrives, before the fake does anything (e.g. SIGKILL the client).

Hostile bodies any fake can serve (``hostile_body``): ``endless`` (never ends), ``gzip_bomb``
(a few KiB that inflate to 64 MiB), ``drip`` (one byte per ``DRIP_INTERVAL``, forever) and
``gzip`` (the real body, gzip-encoded although the client asked for identity). ``OtherOrigin``
is a second loopback server (another port: another origin) that records what reaches it, for
redirects and result URIs that point away from the API; ``tls=True`` serves https.
"""

from __future__ import annotations

import functools
import gzip
import json
import os
import ssl
import subprocess
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

#: Seconds between the bytes of a ``drip`` body.
DRIP_INTERVAL = 0.02
#: What a ``gzip_bomb`` inflates to.
BOMB_BYTES = 64 << 20
HOSTILE = ("endless", "gzip_bomb", "drip", "gzip")


def _endless() -> Iterator[bytes]:
    block = b"\0" * (64 << 10)
    while True:
        yield block


def _drip() -> Iterator[bytes]:
    while True:
        time.sleep(DRIP_INTERVAL)
        yield b"\0"


@functools.lru_cache(maxsize=1)
def _bomb() -> bytes:
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"\0" * (1 << 20)
    return b"".join(squeeze.compress(block) for _ in range(BOMB_BYTES >> 20)) + squeeze.flush()


def hostile_body(kind: str, real: bytes, headers: dict[str, str] | None = None) -> Response:
    """A response serving ``real`` (the honest body) in the hostile way ``kind`` names (see module doc)."""
    headers = dict(headers or {})
    if kind == "endless":
        return Response(body=_endless(), headers=headers)
    if kind == "drip":
        return Response(body=_drip(), headers=headers)
    if kind == "gzip_bomb":
        return Response(body=_bomb(), headers={**headers, "content-encoding": "gzip"})
    if kind == "gzip":
        return Response(body=gzip.compress(real), headers={**headers, "content-encoding": "gzip"})
    raise ValueError(f"unknown hostile body {kind!r}; use one of {HOSTILE}")


@functools.lru_cache(maxsize=1)
def tls_files() -> tuple[str, str]:
    """A self-signed certificate and key for 127.0.0.1 (made once per process with ``openssl``)."""
    folder = tempfile.mkdtemp(prefix="shotmake-tls-")
    cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    return cert, key


def tls_client_context() -> ssl.SSLContext:
    """A client context trusting the fakes' certificate (``httpx.Client(verify=...)``)."""
    return ssl.create_default_context(cafile=tls_files()[0])


@dataclass
class Request:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Response:
    """What the fake answers. ``body`` may be bytes or an iterable of chunks (for streaming).

    ``abort_after`` closes the connection after that many body bytes (a reset mid-download);
    ``declared_length`` lies in Content-Length (a truncated body). A chunked ``body`` is sent
    as it is produced, so a large one never sits in memory; give its size in
    ``declared_length`` (else it goes out with ``Transfer-Encoding: chunked``).
    """

    status: int = 200
    body: bytes | Iterable[bytes] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    abort_after: int | None = None
    declared_length: int | None = None

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        h = {"content-type": "application/json"}
        h.update(headers or {})
        return cls(status=status, body=json.dumps(obj).encode(), headers=h)


class FakeServer:
    """Base class: start with ``with Fake() as fake:``; ``fake.url`` is ``http://127.0.0.1:PORT``.

    With ``tls=True`` the server speaks https (``fake.url`` is ``https://...``); clients trust it
    through ``tls_client_context()``.
    """

    tls = False

    def __init__(self) -> None:
        self.requests: list[Request] = []
        #: Every answered request with its status (2xx here on a create = a job that exists).
        self.answered: list[tuple[Request, int]] = []
        #: Called with each request before ``handle``; a returned Response is sent instead.
        self.before_handle: Callable[[Request], Response | None] | None = None
        #: Requests received and not yet fully answered (body written), right now.
        self.in_flight = 0
        #: Faults to apply, consumed in order by ``take_fault``; each is a callable or a name.
        self.faults: list[Any] = []
        self.lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- subclass API -------------------------------------------------------------------
    def handle(self, request: Request) -> Response:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

    def start(self) -> Self:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; without TCP_NODELAY, Nagle plus the
            # client's delayed ACK adds ~40 ms to every request.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _serve(self) -> None:
                with fake.lock:
                    fake.in_flight += 1
                try:
                    self._serve_one()
                finally:
                    with fake.lock:
                        fake.in_flight -= 1

            def _serve_one(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                req = Request(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                with fake.lock:
                    fake.requests.append(req)
                try:
                    hook = fake.before_handle
                    early = hook(req) if hook is not None else None
                    resp = early if early is not None else fake.handle(req)
                except Exception as exc:
                    resp = Response.json({"error": {"message": f"fake crashed: {exc!r}"}}, status=599)
                with fake.lock:
                    fake.answered.append((req, resp.status))
                try:
                    self._write(resp)
                except (BrokenPipeError, ConnectionResetError):  # the client died or hung up
                    self.close_connection = True

            def _write(self, resp: Response) -> None:
                if resp.body is not None and not isinstance(resp.body, (bytes, bytearray)):
                    self._stream(resp, resp.body)
                    return
                payload = resp.body or b""
                self.send_response(resp.status)
                for k, v in resp.headers.items():
                    self.send_header(k, v)
                declared = resp.declared_length if resp.declared_length is not None else len(payload)
                self.send_header("content-length", str(declared))
                self.end_headers()
                if resp.abort_after is not None:
                    self._cut_off(payload[: resp.abort_after])
                    return
                self.wfile.write(payload)
                if resp.declared_length is not None and resp.declared_length != len(payload):
                    self.close_connection = True

            def _cut_off(self, last: bytes) -> None:
                """Send ``last`` and drop the connection mid-body (a reset download)."""
                self.wfile.write(last)
                self.wfile.flush()
                self.close_connection = True
                try:
                    self.connection.shutdown(2)
                except OSError:
                    pass

            def _stream(self, resp: Response, chunks: Iterable[bytes]) -> None:
                self.send_response(resp.status)
                for k, v in resp.headers.items():
                    self.send_header(k, v)
                chunked = resp.declared_length is None
                if chunked:
                    self.send_header("transfer-encoding", "chunked")
                else:
                    self.send_header("content-length", str(resp.declared_length))
                self.end_headers()
                sent = 0
                iterator: Iterator[bytes] = iter(chunks)
                for chunk in iterator:
                    if resp.abort_after is not None and sent + len(chunk) >= resp.abort_after:
                        self._cut_off(chunk[: resp.abort_after - sent])
                        return
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
                    sent += len(chunk)
                if chunked:
                    self.wfile.write(b"0\r\n\r\n")
                elif sent != resp.declared_length:
                    self.close_connection = True

            do_GET = do_POST = do_DELETE = do_PUT = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls_files())
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        # A short poll interval: shutdown() waits up to one interval, once per test.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers --------------------------------------------------------------------------
    def take_fault(self, predicate: Callable[[Any], bool] | None = None) -> Any:
        """Pop the first queued fault (matching ``predicate``), or None."""
        with self.lock:
            for i, fault in enumerate(self.faults):
                if predicate is None or predicate(fault):
                    return self.faults.pop(i)
        return None

    def count(self, method: str, path_prefix: str) -> int:
        """How many requests matched ``method`` and a path starting with ``path_prefix``."""
        with self.lock:
            return sum(1 for r in self.requests if r.method == method and r.path.startswith(path_prefix))


class OtherOrigin(FakeServer):
    """Another origin (its own port): serves ``files`` by path, 404 otherwise, and records every request.

    ``redirect_to``, when set, answers every request with a 302 to that base URL + the path
    (a hop onwards, e.g. from https to http).
    """

    def __init__(self, *, tls: bool = False) -> None:
        super().__init__()
        self.tls = tls
        self.files: dict[str, bytes] = {}
        self.redirect_to: str | None = None

    def handle(self, request: Request) -> Response:
        if self.redirect_to is not None:
            return Response(status=302, headers={"location": self.redirect_to + request.path})
        body = self.files.get(request.path)
        if body is None:
            return Response.json({"error": {"code": 404, "message": "Not found.", "status": "NOT_FOUND"}},
                                 status=404)
        return Response(body=body, headers={"content-type": "video/mp4"})

    def saw(self, secret: str) -> bool:
        """Whether ``secret`` reached this server in any header, path or query."""
        with self.lock:
            return any(secret in json.dumps([r.headers, r.path, r.query]) for r in self.requests)
