"""``shotmake review``: the report page served on localhost, with Pick and Re-roll buttons.

A small stdlib HTTP server, bound to 127.0.0.1 only. What it serves is exactly what the page
references: the page itself and the media files (cache objects) it names, looked up in a
table, never a path joined from the request, so no ``../`` or symlink can reach another file.
The two actions are POSTs that must carry this run's random token (a page from another site
cannot know it: CSRF), come from this origin, and name this server in ``Host`` (a DNS-rebinding
page cannot). The page is made again, from the spec and cache on disk, on every load and after every action.
"""

from __future__ import annotations

import hmac
import mimetypes
import os
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .errors import ShotmakeError

#: Largest POST body accepted (two small form fields and the token).
MAX_BODY = 4096
#: Headers every answer carries: nothing from elsewhere, no framing, no sniffing, no caching of the page.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
                               "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: with no-referrer Chromium sends `Origin: null` on the form POSTs.
    "Referrer-Policy": "same-origin",
}


@dataclass
class Page:
    """The page as served now: its HTML and the media it may load (href -> file)."""

    html: str
    media: Mapping[str, str] = field(default_factory=dict)


#: ``make_page(token, message)`` -> Page; ``act(action, form)`` -> a message for the page.
MakePage = Callable[[str, str], Page]
Act = Callable[[str, Mapping[str, str]], str]


class ReviewServer(ThreadingHTTPServer):
    """The review page's server; ``serve_forever`` in the CLI, a thread in tests."""

    daemon_threads = True

    def __init__(self, make_page: MakePage, act: Act, *, port: int = 0, token: str | None = None) -> None:
        self.token = token or secrets.token_urlsafe(24)
        self.make_page, self.act = make_page, act
        self.lock = threading.Lock()
        self.message = ""
        super().__init__(("127.0.0.1", port), _Handler)
        self.page = make_page(self.token, "")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def hosts(self) -> set[str]:
        port = self.server_address[1]
        return {f"127.0.0.1:{port}", f"localhost:{port}"}

    def refresh(self, message: str) -> None:
        self.message = message
        self.page = self.make_page(self.token, message)


class _Handler(BaseHTTPRequestHandler):
    server: ReviewServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: the terminal shows what the actions did, not every thumbnail fetch

    def _head(self, status: int, ctype: str, length: int, extra: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(length))
        for name, value in {**SECURITY_HEADERS, **(extra or {})}.items():
            self.send_header(name, value)
        self.end_headers()

    def _text(self, status: int, text: str) -> None:
        body = text.encode()
        self._head(status, "text/plain; charset=utf-8", len(body))
        self.wfile.write(body)

    def _refuse(self, status: int, text: str) -> None:
        """Answer a POST without reading its body: the connection closes (the unread body is no request)."""
        self.close_connection = True
        body = text.encode()
        self._head(status, "text/plain; charset=utf-8", len(body), {"Connection": "close"})
        self.wfile.write(body)

    def _host_ok(self) -> bool:
        return self.headers.get("Host", "") in self.server.hosts()

    def do_GET(self) -> None:
        if not self._host_ok():
            self._text(HTTPStatus.MISDIRECTED_REQUEST, "this server answers to 127.0.0.1 only")
            return
        path = urlsplit(self.path).path
        if path in ("/", "/index.html"):
            with self.server.lock:  # made again on each load: a build since shows up on reload
                try:
                    self.server.refresh(self.server.message)
                except ShotmakeError as exc:
                    self._text(HTTPStatus.INTERNAL_SERVER_ERROR, f"shotmake: error: {exc}")
                    return
            body = self.server.page.html.encode()
            self._head(HTTPStatus.OK, "text/html; charset=utf-8", len(body), {"Cache-Control": "no-store"})
            self.wfile.write(body)
            return
        if path == "/favicon.ico":  # browsers ask for one; the page has none
            self._head(HTTPStatus.NO_CONTENT, "image/x-icon", 0)
            return
        source = self.server.page.media.get(path.lstrip("/"))
        if source is None:
            self._text(HTTPStatus.NOT_FOUND, "not part of this report")
            return
        self._file(Path(source))

    def _file(self, path: Path) -> None:
        """Send a media file, honouring one ``Range`` (browsers seek video with them)."""
        try:
            handle = open(path, "rb")
        except OSError:
            self._text(HTTPStatus.NOT_FOUND, "the cached object is gone; build again")
            return
        with handle:
            size = os.fstat(handle.fileno()).st_size
            start, end = 0, size - 1
            status = HTTPStatus.OK
            wanted = self.headers.get("Range", "")
            if wanted.startswith("bytes=") and "," not in wanted:
                first, _, last = wanted[6:].partition("-")
                try:
                    if first:
                        start, end = int(first), min(int(last) if last else size - 1, size - 1)
                    elif last:
                        start = max(0, size - int(last))
                except ValueError:
                    start, end = 0, size - 1
                if start > end or start >= size:
                    self._head(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, "text/plain", 0,
                               {"Content-Range": f"bytes */{size}"})
                    return
                status = HTTPStatus.PARTIAL_CONTENT
            ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            extra = {"Accept-Ranges": "bytes", "Cache-Control": "max-age=3600"}
            if status == HTTPStatus.PARTIAL_CONTENT:
                extra["Content-Range"] = f"bytes {start}-{end}/{size}"
            self._head(status, ctype, end - start + 1, extra)
            handle.seek(start)
            left = end - start + 1
            try:
                while left > 0:
                    chunk = handle.read(min(left, 1 << 16))
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    left -= len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                return  # the browser stopped reading (a seek): nothing to do

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        action = path.strip("/")
        origin = self.headers.get("Origin")
        if not self._host_ok() or (origin is not None and origin.rstrip("/") != self.server.url.rstrip("/")):
            self._refuse(HTTPStatus.FORBIDDEN, "cross-site request refused")
            return
        if action not in ("pick", "reroll"):
            self._refuse(HTTPStatus.NOT_FOUND, "unknown action")
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self._refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "form too large")
            return
        raw = self.rfile.read(length).decode("utf-8", "replace")
        form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        if not hmac.compare_digest(form.get("token", "").encode(), self.server.token.encode()):
            self._text(HTTPStatus.FORBIDDEN, "missing or wrong token: reload the page from `shotmake review`")
            return
        with self.server.lock:
            try:
                message = self.server.act(action, form)
            except ShotmakeError as exc:
                message = f"{action} failed: {exc}"
            try:
                self.server.refresh(message)
            except ShotmakeError as exc:  # the spec no longer loads: keep the old page, say why
                self.server.message = f"{message}\nthe page could not be made again: {exc}"
        shot = form.get("shot", "")
        self._head(HTTPStatus.SEE_OTHER, "text/plain", 0,
                   {"Location": f"/#shot-{shot}" if shot.replace("-", "").replace("_", "").isalnum() else "/"})
