"""A real S3-protocol server on loopback (moto's server mode), and a proxy in front of it that can stall.

``S3Server`` runs moto's ``ThreadedMotoServer`` (the S3 REST API, SigV4 accepted, conditional
``If-None-Match`` puts honoured) on 127.0.0.1 and creates one bucket; ``env()`` is what a user
sets to point shotmake's ``[cache] remote = "s3://BUCKET/PREFIX"`` at it. ``StallingProxy``
forwards TCP to it until told to ``stall()``: from then on it accepts connections and reads
requests but answers nothing - a remote that stops answering mid-build.

Credentials are distinctive strings, so a test can grep every byte shotmake wrote for them.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from typing import Any, Self

import httpx

#: Distinctive credentials: moto accepts any, shotmake must write none of them anywhere.
ACCESS_KEY_ID = "AKIATESTNEVERWRITEME7"
SECRET_ACCESS_KEY = "s3-secret-NEVER-WRITE-ME-4e9b1d07c2a8"
BUCKET = "team-renders"


class S3Server:
    """moto's S3 server on 127.0.0.1 (a free port), with a new bucket (``BUCKET-<random>``) created.

    moto keeps its buckets in module-global state shared by every server in the process: a bucket
    of its own is what keeps one test's objects out of the next one.
    """

    def __init__(self, bucket: str = BUCKET) -> None:
        self.bucket = f"{bucket}-{uuid.uuid4().hex[:12]}"
        self._server: Any = None
        self.endpoint = ""

    def __enter__(self) -> Self:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log on the test's stderr
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        httpx.put(f"{self.endpoint}/{self.bucket}").raise_for_status()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    def url(self, prefix: str = "cache") -> str:
        return f"s3://{self.bucket}/{prefix}"

    def env(self, endpoint: str | None = None) -> dict[str, str]:
        """The AWS SDK variables of a user whose remote cache is this server (or ``endpoint``)."""
        return {"AWS_ACCESS_KEY_ID": ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
                "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint or self.endpoint}

    def keys(self, prefix: str = "") -> list[str]:
        """Every object name in the bucket under ``prefix`` (a plain ListObjectsV2, as any client sends)."""
        store = self.store()
        import obstore

        return sorted(meta["path"] for batch in obstore.list(store, prefix or None) for meta in batch)

    def store(self) -> Any:
        """An obstore client for the whole bucket (tests read and damage objects through it)."""
        from obstore.store import S3Store

        return S3Store(self.bucket, endpoint=self.endpoint, access_key_id=ACCESS_KEY_ID,
                       secret_access_key=SECRET_ACCESS_KEY, region="us-east-1",
                       client_options={"allow_http": True})


class StallingProxy:
    """A TCP proxy on 127.0.0.1 to ``target`` (``host:port``) that stops answering after ``stall()``."""

    def __init__(self, target: str) -> None:
        host, _, port = target.rpartition(":")
        self.target = (host.split("//")[-1], int(port))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._stalled = threading.Event()
        self._stall_at: int | None = None
        self._bytes_left: int | None = None
        self._drip = 0.0
        #: Requests seen (request lines sent by clients), and those swallowed unanswered.
        self.requests = 0
        self.stalled_requests = 0
        self._closing = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def __enter__(self) -> Self:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                try:
                    sock.close()
                except OSError:
                    pass

    def stall(self) -> None:
        """From now on, accept and read but never answer (connections already open hang too)."""
        self._stalled.set()

    def stall_after(self, requests: int) -> None:
        """Forward the first ``requests`` requests, then ``stall``: a remote that stops answering mid-build."""
        self._stall_at = requests

    def drip(self, interval: float) -> None:
        """From now on, send answers one byte per ``interval`` seconds: a remote that is slow, not dead."""
        self._drip = interval

    def stall_after_bytes(self, size: int) -> None:
        """Pass ``size`` more bytes of answers, then ``stall``: a download cut off mid-body."""
        with self._lock:
            self._bytes_left = size

    def _answer(self, data: bytes) -> bytes:
        """What of an answer's ``data`` still goes through (all of it until ``stall_after_bytes`` runs out)."""
        with self._lock:
            if self._bytes_left is None:
                return data
            passed = data[: self._bytes_left]
            self._bytes_left -= len(passed)
            if self._bytes_left <= 0:
                self._stalled.set()
            return passed

    def _count(self, data: bytes) -> None:
        """Count the request lines in ``data`` from a client; stall at the armed one."""
        seen = sum(data.count(f"{verb} /".encode()) for verb in ("GET", "PUT", "HEAD", "POST", "DELETE"))
        with self._lock:
            self.requests += seen
            if self._stall_at is not None and self.requests > self._stall_at:
                self._stalled.set()

    def _keep(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._keep(client)
            if self._stalled.is_set():
                threading.Thread(target=self._swallow, args=(client,), daemon=True).start()
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            self._keep(upstream)
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _swallow(self, sock: socket.socket) -> None:
        with self._lock:
            self.stalled_requests += 1
        try:
            while sock.recv(65536):
                pass
        except OSError:
            pass

    def _pipe(self, source: socket.socket, dest: socket.socket, upstream: bool) -> None:
        try:
            while data := source.recv(65536):
                if upstream:
                    self._count(data)
                if self._stalled.is_set():  # a connection kept alive across the stall hangs as well
                    if upstream:
                        self._swallow(source)
                    return
                if not upstream:
                    data = self._answer(data)
                    if self._drip:
                        for byte in range(len(data)):
                            if self._closing.is_set():
                                return
                            time.sleep(self._drip)
                            dest.sendall(data[byte:byte + 1])
                        continue
                dest.sendall(data)
        except OSError:
            pass
        finally:
            if not self._stalled.is_set():  # stalled: the client is left waiting, not told the stream ended
                try:
                    dest.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
