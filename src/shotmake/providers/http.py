"""HTTP plumbing shared by the remote adapters: where credentials go, bounded bodies, status mapping.

Each adapter parses its own vendor's error body; this module knows what every vendor shares:

* **where credentials go** (``ApiSession``): only to the configured API origin, never across
  a redirect to another origin, never over plain http (except to loopback, the tests' fakes);
* **how much a server may send** (``BodyLimits``): every body is capped (the route's
  ``max_download_mb``) and every exchange has an overall deadline, so an endless body, a
  gzip bomb or a server dripping one byte at a time cannot fill the disk or hold the build;
* which statuses are transient and how servers say when to come back (clamped hints);
* how to stream a large response to disk in constant memory without leaving a partial file.
"""

from __future__ import annotations

import email.utils
import ipaddress
import math
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from .. import atomic

if TYPE_CHECKING:
    from .base import RenderRequest
from ..errors import (
    RETRY_HINT_MAX,
    ProviderError,
    RetryableError,
    TerminalError,
    TransferAborted,
    clamp_hint,
)
from ..redaction import scrub_urls

#: Statuses worth retrying (the OpenAI SDK's list; Google's 429/5xx agree).
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
CHUNK_SIZE = 1 << 20
#: Default cap of one body, when a route does not set ``max_download_mb``.
DEFAULT_MAX_BYTES = 512 << 20
#: Default overall deadline of one exchange (headers and the whole body), in seconds.
DEFAULT_DEADLINE = 900.0
#: Redirect hops followed before giving up (browsers and httpx allow 20; APIs need 1 or 2).
MAX_REDIRECTS = 5
#: Most of an error body that is read (the rest is never waited for).
ERROR_BODY_MAX = 64 << 10
#: Decoded bytes produced per step when inflating a gzip/deflate body: memory stays bounded
#: however well the server's bytes compress.
INFLATE_STEP = 1 << 20


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Return seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or HTTP date).

    Clamped to ``[0, RETRY_HINT_MAX]``: a hint of a day, ``inf``, ``nan`` or a negative number
    is a server bug, not an instruction.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    ms = lowered.get("retry-after-ms")
    if ms:
        try:
            return clamp_hint(float(ms) / 1000.0, RETRY_HINT_MAX)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if not value:
        return None
    try:
        return clamp_hint(float(value), RETRY_HINT_MAX)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, OverflowError):
        return None
    return clamp_hint(when - (time.time() if now is None else now), RETRY_HINT_MAX)


def parse_poll_after_ms(value: str | None) -> float | None:
    """Seconds from a milliseconds header such as ``openai-poll-after-ms`` (clamped by ``JobStatus``)."""
    if value is None:
        return None
    try:
        seconds = float(value) / 1000.0
    except ValueError:
        return None
    return None if math.isnan(seconds) else seconds


def error_for_status(
    status: int,
    message: str,
    *,
    headers: Mapping[str, str] | None = None,
    provider: str = "",
    node: str = "",
) -> ProviderError:
    """Build the right error for an HTTP failure: retryable for transient statuses, else terminal."""
    headers = headers or {}
    should_retry = {k.lower(): v for k, v in headers.items()}.get("x-should-retry")
    text = f"HTTP {status}: {message}"
    if should_retry == "true" or (should_retry != "false" and status in RETRYABLE_STATUSES):
        return RetryableError(text, provider=provider, node=node, retry_after=parse_retry_after(headers))
    return TerminalError(text, provider=provider, node=node)


#: Words of a notice that a model or an API is gone for good (trusted on a 4xx other than 429).
GONE_NOTICE = re.compile(r"shut ?down|sunset|discontinued|no longer (?:available|supported|served)", re.IGNORECASE)
#: Answers meaning the endpoint itself does not exist (OpenAI "Invalid URL", Google "Method not found").
UNKNOWN_ENDPOINT = re.compile(r"invalid url|method not found", re.IGNORECASE)


def route_gone(status: int, message: str, *, about_model: bool) -> bool:
    """Whether an error answer says the route's model or API is gone, not one job or file.

    ``about_model`` is True for a request that names the model or a collection (a create, a
    generate, a list): its 404/410, or a shutdown notice on another 4xx, means the model or
    endpoint is gone. A request about one job, video or file (poll, download, delete) is
    about that object: its 404 ("content expired", "no longer available", deleted) fails that
    node only, unless the answer says the endpoint itself does not exist.
    """
    if status < 400 or status >= 500 or status == 429:
        return False
    if about_model:
        return status in (404, 410) or bool(GONE_NOTICE.search(message))
    return status == 404 and bool(UNKNOWN_ENDPOINT.search(message))


def transport_error(exc: httpx.TransportError, *, provider: str = "", node: str = "",
                    redact: Callable[[str], str] = scrub_urls) -> RetryableError:
    """Map connection resets, timeouts and protocol errors to a retryable error."""
    return RetryableError(redact(f"network error: {type(exc).__name__}: {exc}"), provider=provider, node=node)


def write_atomically(dest: Path, chunks: Iterable[bytes]) -> int:
    """Write a download through ``atomic.write_chunks`` (whole or absent); return bytes written."""
    return atomic.write_chunks(dest, chunks)


# -- where credentials go ----------------------------------------------------------------------
Origin = tuple[str, str, int]
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str | httpx.URL) -> Origin:
    """``(scheme, host, port)`` of a URL, the unit of trust (userinfo, path and query are not part of it)."""
    parsed = httpx.URL(url)
    scheme = parsed.scheme.lower()
    return scheme, parsed.host.lower(), parsed.port or _DEFAULT_PORTS.get(scheme, 0)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(url: str, *, provider: str = "", variable: str = "") -> str:
    """Return ``url`` without a trailing ``/``, or refuse one that would expose a credential.

    A base URL must be ``https://``; plain ``http://`` is accepted only for a loopback host
    (a local gateway, the tests' fakes), where nothing crosses a network.
    """
    where = f"{variable}=" if variable else "base URL "
    shown = scrub_urls(url)
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise TerminalError(f"{where}{shown!r} is not a URL", provider=provider) from exc
    if parsed.scheme == "https" and parsed.host:
        return url.rstrip("/")
    if parsed.scheme == "http" and parsed.host and is_loopback(parsed.host):
        return url.rstrip("/")
    if parsed.scheme == "http":
        raise TerminalError(f"{where}{shown!r} is plain http: the API key would cross the network in "
                            "cleartext; use https:// (http is allowed only for localhost)", provider=provider)
    raise TerminalError(f"{where}{shown!r} must be an https:// URL", provider=provider)


@dataclass(frozen=True)
class Credential:
    """A secret and the header that carries it: ``Credential("x-goog-api-key", key)``.

    ``secret`` may be a callable returning a fresh value per request (OAuth tokens expire);
    ``prefix`` goes before it (``"Bearer "``). ``repr`` never shows the secret.
    """

    header: str
    secret: str | Callable[[], str] = field(repr=False)
    prefix: str = ""

    def value(self) -> str:
        """The current secret."""
        return self.secret() if callable(self.secret) else self.secret


@dataclass(frozen=True)
class BodyLimits:
    """How much one response may send and for how long: a cap on its decoded bytes, a deadline.

    ``max_bytes`` bounds a downloaded file; an API answer (JSON that may carry a base64
    image or video) may be 4/3 of it. ``deadline`` bounds the whole exchange in seconds,
    headers to last byte: a read timeout alone lets a server send one byte per interval forever.
    """

    max_bytes: int = DEFAULT_MAX_BYTES
    deadline: float = DEFAULT_DEADLINE

    @classmethod
    def for_route(cls, max_download_mb: float | None, deadline: float | None = None) -> BodyLimits:
        """Limits from a route's ``max_download_mb`` (None: the default) and a deadline in seconds."""
        return cls(max_bytes=int(max_download_mb * (1 << 20)) if max_download_mb else DEFAULT_MAX_BYTES,
                   deadline=deadline if deadline else DEFAULT_DEADLINE)

    @property
    def max_answer_bytes(self) -> int:
        """Cap of an API answer: base64 of the largest allowed file, plus room for the JSON around it."""
        return self.max_bytes * 4 // 3 + (1 << 20)


class ApiSession:
    """Send requests to one API with its credential, which goes to that API's origin and nowhere else.

    The one way adapters talk HTTP (present and future: reuse it, do not call ``httpx`` with a
    key yourself)::

        session = ApiSession(client, "https://api.example.com/v1", Credential("authorization", key, "Bearer "),
                             provider="my-route", limits=BodyLimits.for_route(route.max_download_mb))
        response = session.request("POST", session.url("/jobs"), json=body)    # bounded, redirects checked
        session.download(session.url("/jobs/1/content"), dest)                # capped, deadline, atomic
        session.redact(text)                                                   # the secret out of a message

    Rules, per request and per redirect hop:

    * the credential header is attached only when the URL's origin (scheme, host, port) is
      the base URL's or one of ``also`` (e.g. Vertex's Cloud Storage host); a result URI or a
      redirect naming another host gets the request without it;
    * redirects (GET only) are followed here, not by httpx, at most ``MAX_REDIRECTS`` hops; a hop
      from https to http is refused (``TerminalError``); a redirect answered to another method
      is an error, never replayed with its body;
    * the base URL must be https, or http on loopback (``check_base_url``);
    * every body is read within ``limits`` (``TransferAborted`` when a cap or the deadline breaks).

    Network failures come out as ``httpx.TransportError`` (adapters decide whether a create
    may have reached the server); everything else is in shotmake's error tree.
    """

    def __init__(
        self,
        client: httpx.Client,
        base_url: str,
        credential: Credential | None,
        *,
        provider: str = "",
        also: Iterable[str] = (),
        limits: BodyLimits | None = None,
        variable: str = "",
    ) -> None:
        self.client = client
        # Without a credential there is nothing to expose: any URL may be fetched.
        self.base_url = (check_base_url(base_url, provider=provider, variable=variable) if credential is not None
                         else base_url.rstrip("/"))
        self.credential = credential
        self.provider = provider
        self.limits = limits or BodyLimits()
        self._origins = {origin_of(self.base_url)} | {
            origin_of(check_base_url(u, provider=provider)) for u in also}
        #: Every value the credential has had (a token source refreshes): all are redacted.
        self._sent: set[str] = set()
        if credential is not None and isinstance(credential.secret, str):
            self._sent.add(credential.secret)

    def __repr__(self) -> str:
        return f"ApiSession(provider={self.provider!r}, base_url={scrub_urls(self.base_url)!r})"

    def url(self, path: str) -> str:
        """Join ``path`` (starting with ``/``) onto the base URL, keeping any gateway prefix."""
        return self.base_url + path

    def trusted(self, url: str | httpx.URL) -> bool:
        """Whether the credential may be sent to ``url``."""
        return origin_of(url) in self._origins

    def secrets(self) -> tuple[str, ...]:
        """The credential's values sent so far (what a message must never show)."""
        return tuple(sorted((s for s in self._sent if s), key=len, reverse=True))

    def redact(self, text: str) -> str:
        """``text`` without the secret (servers and gateways may echo it) or URL credentials."""
        for secret in self.secrets():
            if secret in text:
                text = text.replace(secret, "[redacted]")
        return scrub_urls(text)

    # -- requests ---------------------------------------------------------------------------
    def request(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
                node: str = "", **kwargs: Any) -> httpx.Response:
        """One exchange, its body read within the limits; the answer as a plain ``httpx.Response``.

        ``kwargs`` go to ``httpx.Client.build_request`` (``json``, ``data``, ``files``,
        ``params``). Raises ``httpx.TransportError`` for network failures.
        """
        started = time.monotonic()
        response = self._send(method, url, headers=headers, node=node, started=started, **kwargs)
        try:
            cap = ERROR_BODY_MAX if response.status_code >= 400 else self.limits.max_answer_bytes
            body = b"".join(self._body(response, cap, started, node=node, what="answer",
                                       truncate=response.status_code >= 400))
        finally:
            response.close()
        return _plain(response, body)

    def download(
        self,
        url: str,
        dest: Path,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        node: str = "",
        describe_error: Callable[[httpx.Response], str] | None = None,
    ) -> int:
        """Stream ``url`` into ``dest``; return the bytes written.

        Asks for ``Accept-Encoding: identity``; a server that compresses anyway is decoded here
        in bounded steps, with Content-Length checked against the bytes on the wire and the
        cap against the decoded bytes. ``dest`` is written by ``write_atomically``: whole or
        absent. An error status raises the mapped error (``describe_error`` words it).
        """
        started = time.monotonic()
        asked = {**(headers or {}), "accept-encoding": "identity"}
        try:
            response = self._send("GET", url, headers=asked, node=node, started=started, params=params)
            try:
                if response.status_code >= 400:
                    error = _plain(response, b"".join(self._body(response, ERROR_BODY_MAX, started, node=node,
                                                                 what="answer", truncate=True)))
                    message = describe_error(error) if describe_error else error.text[:500]
                    raise error_for_status(error.status_code, self.redact(message), headers=error.headers,
                                           provider=self.provider, node=node)
                declared = response.headers.get("content-length")
                if (declared and declared.isdigit() and int(declared) > self.limits.max_bytes
                        and _encoding(response) == "identity"):
                    raise self._too_large(int(declared), node)
                return write_atomically(dest, self._body(response, self.limits.max_bytes, started, node=node,
                                                         what="download"))
            finally:
                response.close()
        except httpx.TransportError as exc:
            raise transport_error(exc, provider=self.provider, node=node, redact=self.redact) from exc

    # -- plumbing ---------------------------------------------------------------------------
    def _send(self, method: str, url: str, *, headers: Mapping[str, str] | None, node: str,
              started: float, **kwargs: Any) -> httpx.Response:
        """Send, following GET redirects hop by hop with the credential rule; the response is open."""
        target = httpx.URL(url)
        for _ in range(MAX_REDIRECTS + 1):
            request = self.client.build_request(method, target, headers=self._headers(target, headers),
                                                timeout=self._timeout(started, node), **kwargs)
            response = self.client.send(request, stream=True, follow_redirects=False)
            if not response.is_redirect:
                return response
            response.close()
            following = request.url.join(response.headers["location"])
            if method not in ("GET", "HEAD"):
                raise TerminalError(f"the API answered HTTP {response.status_code} to {method} "
                                    f"{self.redact(str(request.url.copy_with(query=None)))}, moving it to "
                                    f"{self.redact(str(following))}; point the base URL at the new address",
                                    provider=self.provider, node=node)
            if request.url.scheme == "https" and following.scheme != "https":
                raise TerminalError(f"refused a redirect from https to {self.redact(str(following))}: it "
                                    "would leave TLS (a misconfigured server or an attack)",
                                    provider=self.provider, node=node)
            if following.scheme not in ("http", "https"):
                raise TerminalError(f"refused a redirect to {self.redact(str(following))}",
                                    provider=self.provider, node=node)
            target, kwargs = following, {}  # the Location carries its own query
        raise RetryableError(f"more than {MAX_REDIRECTS} redirects from {self.redact(url)}",
                             provider=self.provider, node=node)

    def _headers(self, url: httpx.URL, extra: Mapping[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.credential is not None and self.trusted(url):
            secret = self.credential.value()
            self._sent.add(secret)
            headers[self.credential.header] = self.credential.prefix + secret
        return headers

    def _timeout(self, started: float, node: str) -> httpx.Timeout:
        """The client's timeouts, none longer than what is left of the deadline."""
        left = self.limits.deadline - (time.monotonic() - started)
        if left <= 0:
            raise self._late(node)
        base = self.client.timeout

        def bound(value: float | None) -> float:
            return left if value is None else min(value, left)

        return httpx.Timeout(connect=bound(base.connect), read=bound(base.read), write=bound(base.write),
                             pool=bound(base.pool))

    def _body(self, response: httpx.Response, cap: int, started: float, *, node: str, what: str,
              truncate: bool = False) -> Iterator[bytes]:
        """Yield the decoded body, checked against ``cap``, the deadline and Content-Length.

        With ``truncate`` (error bodies), stop quietly at ``cap`` instead of failing. Network
        failures come out as ``httpx.TransportError``.
        """
        chunks: Iterable[bytes]
        if response.is_stream_consumed:  # read already (an ``httpx.MockTransport`` answer): decoded
            inflate, declared, chunks = _inflater("identity", provider=self.provider, node=node), None, [response.content]
        else:
            inflate = _inflater(_encoding(response), provider=self.provider, node=node)
            declared, chunks = response.headers.get("content-length"), response.iter_raw()
        wire = decoded = 0
        for raw in chunks:
            wire += len(raw)
            for piece in inflate(raw):
                if decoded + len(piece) > cap:
                    if truncate:
                        yield piece[: cap - decoded]
                        return
                    raise self._too_large(decoded + len(piece), node, what=what, over=True)
                decoded += len(piece)
                yield piece
            if time.monotonic() - started > self.limits.deadline:
                raise self._late(node, got=decoded)
        for piece in inflate(None):
            if decoded + len(piece) > cap and not truncate:
                raise self._too_large(decoded + len(piece), node, what=what, over=True)
            decoded += len(piece)
            yield piece
        if declared is not None and declared.isdigit() and wire != int(declared):  # raised before the rename
            raise RetryableError(f"truncated {what}: got {wire} of {declared} bytes",
                                 provider=self.provider, node=node)

    def _too_large(self, size: int, node: str, *, what: str = "download", over: bool = False) -> TransferAborted:
        """``over``: the decoded body passed the cap while streaming; else Content-Length announced ``size``."""
        cap = self.limits.max_bytes if what == "download" else self.limits.max_answer_bytes
        amount = f"passed the cap of {_mib(cap)}" if over else f"is {_mib(size)}, over the cap of {_mib(cap)}"
        return TransferAborted(
            f"the {what} {amount} for this route; stopped (nothing kept). If the file is legitimately that "
            "large, raise the route's max_download_mb; the job stays in the journal and the next build "
            "fetches it again", node=node, provider=self.provider)

    def _late(self, node: str, got: int | None = None) -> TransferAborted:
        so_far = f" after {_mib(got)}" if got is not None else ""
        return TransferAborted(
            f"the transfer passed its deadline of {self.limits.deadline:g}s{so_far}; stopped (nothing kept). "
            "The server is too slow; the job stays in the journal and the next build fetches it again "
            "([remote] download_minutes in shotmake.toml sets the deadline)", node=node, provider=self.provider)


def _mib(size: int) -> str:
    return f"{size / (1 << 20):.1f} MiB" if size >= (1 << 20) else f"{size} bytes"


def _encoding(response: httpx.Response) -> str:
    return response.headers.get("content-encoding", "identity").strip().lower() or "identity"


def _inflater(encoding: str, *, provider: str, node: str) -> Callable[[bytes | None], Iterator[bytes]]:
    """A decoder fed raw chunks (None at the end) yielding decoded pieces of at most ``INFLATE_STEP``."""
    if encoding == "identity":
        def identity(raw: bytes | None) -> Iterator[bytes]:
            if raw:
                yield raw
        return identity
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise RetryableError(f"the server sent Content-Encoding {encoding!r} although identity was asked "
                             "for; it cannot be decoded here", provider=provider, node=node)
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS)

    def inflate(raw: bytes | None) -> Iterator[bytes]:
        try:
            if raw is None:
                if not decoder.eof:
                    raise RetryableError(f"the {encoding} body ended early", provider=provider, node=node)
                return
            data = raw
            while data and not decoder.eof:
                piece = decoder.decompress(data, INFLATE_STEP)
                if piece:
                    yield piece
                data = decoder.unconsumed_tail
        except zlib.error as exc:
            raise RetryableError(f"the {encoding} body is corrupt: {exc}", provider=provider, node=node) from exc
    return inflate


def _plain(response: httpx.Response, body: bytes) -> httpx.Response:
    """A read response with ``body`` already decoded (so ``.json()``/``.text`` work without decoding again)."""
    headers = [(k, v) for k, v in response.headers.multi_items()
               if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")]
    return httpx.Response(response.status_code, headers=headers, content=body, request=response.request)


def stream_to_file(
    client: httpx.Client,
    url: str,
    dest: Path,
    *,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    provider: str = "",
    node: str = "",
    describe_error: Callable[[httpx.Response], str] | None = None,
    limits: BodyLimits | None = None,
) -> int:
    """Download a URL that needs no credential (a signed URL) into ``dest``; see ``ApiSession.download``."""
    session = ApiSession(client, str(httpx.URL(url).copy_with(path="/", query=None, fragment=None)), None,
                         provider=provider, limits=limits)
    return session.download(url, dest, headers=headers, params=params, node=node, describe_error=describe_error)


#: Transport failures that happen before a request leaves: a create that failed so sent nothing.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class UncertainCreates:
    """Creates sent by this process whose answer was lost, by node key, with when each was sent.

    For adapters whose API can list jobs (Sora, Ark, DashScope): after a create that may have
    reached the server (a reset or timeout after sending, a 408/500/502/504), the next ``submit``
    of the same key first asks ``reconcile`` for the job it started, so an in-process retry never
    pays twice. (Across processes the journal's intent does the same.)
    """

    #: Answers to a create after which the job may exist all the same.
    STATUSES = frozenset({408, 500, 502, 504})

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: dict[str, float] = {}

    def failed(self, key: str, sent_at: float, *, status: int | None = None,
               error: BaseException | None = None) -> None:
        """Record a failed create if it may have reached the server: an answer in ``STATUSES``, or
        a transport ``error`` (or an error caused by one) other than a refused connection."""
        reached = (status in self.STATUSES if status is not None else
                   not isinstance(error, _NOT_SENT) and not isinstance(getattr(error, "__cause__", None), _NOT_SENT))
        if reached:
            with self._lock:
                self._sent.setdefault(key, sent_at)

    def adopt(self, request: RenderRequest,
              reconcile: Callable[[RenderRequest, float], str | None]) -> str | None:
        """The job an earlier lost create of this key started, if ``reconcile`` finds exactly one."""
        with self._lock:
            sent_at = self._sent.get(request.key)
        if sent_at is None:
            return None
        found = reconcile(request, sent_at)  # a failure here keeps the key uncertain
        self.settled(request.key)
        return found

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._sent

    def settled(self, key: str) -> None:
        """The key's create was answered: nothing is uncertain about it any more."""
        with self._lock:
            self._sent.pop(key, None)
