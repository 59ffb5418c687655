"""HTTP plumbing shared by the remote adapters: status mapping, Retry-After, streamed downloads.

Each adapter parses its own vendor's error body; this module knows what every vendor shares:
which statuses are transient, how servers say when to come back, and how to stream a large
response to disk in constant memory without ever leaving a partial file behind.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import httpx

from .. import atomic
from ..errors import ProviderError, RetryableError, TerminalError

#: Statuses worth retrying (the OpenAI SDK's list; Google's 429/5xx agree).
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
CHUNK_SIZE = 1 << 20


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Return seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or HTTP date)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    ms = lowered.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


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


def transport_error(exc: httpx.TransportError, *, provider: str = "", node: str = "") -> RetryableError:
    """Map connection resets, timeouts and protocol errors to a retryable error."""
    return RetryableError(f"network error: {type(exc).__name__}: {exc}", provider=provider, node=node)


def write_atomically(dest: Path, chunks: Iterable[bytes]) -> int:
    """Write a download through ``atomic.write_chunks`` (whole or absent); return bytes written."""
    return atomic.write_chunks(dest, chunks)


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
) -> int:
    """Stream ``url`` into ``dest`` in 1 MiB chunks, following redirects; return bytes written.

    The body is written by ``write_atomically``, so a reset or a body shorter than its
    Content-Length never leaves a file at ``dest``.
    """
    try:
        with client.stream("GET", url, headers=headers, params=params, follow_redirects=True) as response:
            if response.status_code >= 400:
                response.read()
                message = describe_error(response) if describe_error else response.text[:500]
                raise error_for_status(
                    response.status_code, message, headers=response.headers, provider=provider, node=node
                )
            expected = response.headers.get("content-length")

            def body() -> Iterable[bytes]:
                received = 0
                for chunk in response.iter_bytes(CHUNK_SIZE):
                    received += len(chunk)
                    yield chunk
                if expected is not None and received != int(expected):  # raised before the rename
                    raise RetryableError(f"truncated download: got {received} of {expected} bytes",
                                         provider=provider, node=node)

            return write_atomically(dest, body())
    except httpx.TransportError as exc:
        raise transport_error(exc, provider=provider, node=node) from exc
