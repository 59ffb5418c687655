"""Google wire conventions shared by the Gemini API and Vertex AI adapters.

Veo (both backends) and Gemini image speak the same dialect: errors arrive as
``{"error": {"code", "message", "status"}}`` bodies, long-running operations fail with a
``google.rpc.Status`` carrying a numeric gRPC code, and media travel as base64. This module
turns those into shotmake's error tree and files, so each adapter only knows its endpoints.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx

from ..errors import JobGone, ProviderError, ProviderUnavailable, RetryableError, RouteGone, TerminalError
from . import http

#: The Gemini API's host and version (Veo and the image models share them).
GEMINI_BASE_URL = "https://generativelanguage.googleapis.com"
GEMINI_API_VERSION = "v1beta"

#: gRPC codes for which a failed operation may succeed if submitted again:
#: DEADLINE_EXCEEDED (4), RESOURCE_EXHAUSTED (8), ABORTED (10), INTERNAL (13), UNAVAILABLE (14).
#: UNKNOWN (2) is terminal on purpose: Veo reports some deterministic refusals that way, and a
#: resubmission of a $3 clip should be reserved for failures Google itself calls transient.
RETRYABLE_RPC_CODES = frozenset({4, 8, 10, 13, 14})

RPC_CODE_NAMES = {
    1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND",
    6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION",
    10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED", 13: "INTERNAL", 14: "UNAVAILABLE",
    15: "DATA_LOSS", 16: "UNAUTHENTICATED",
}

#: Words in a message that mark a transient failure whatever its code (Google's 503 text
#: "The model is overloaded. Please try again later." also appears inside operation errors).
TRANSIENT_WORDS = ("overloaded", "try again later", "temporarily unavailable", "high load", "heavy load")

#: Words of a 400 that is about the API key, not the request (Google answers a bad key with 400
#: INVALID_ARGUMENT "API key not valid. Please pass a valid API key.", reason ``API_KEY_INVALID``).
BAD_KEY_WORDS = ("api key not valid", "api key expired", "api_key_invalid", "api_key_expired")

#: base64 characters decoded per step when writing inline media: a multiple of 4, ~3 MiB out.
B64_STEP = 4 * (1 << 20)


def redact(text: str, *secrets: str) -> str:
    """Replace every secret in ``text`` with ``***`` (defence in depth: keys never leak)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def describe_error(response: httpx.Response) -> str:
    """Render a Google error body as ``STATUS: message`` (or the raw text when not JSON)."""
    try:
        body: Any = response.json()
    except ValueError:
        return response.text[:500].strip() or response.reason_phrase
    if isinstance(body, list) and body:  # some Google front ends wrap the error in a list
        body = body[0]
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return response.text[:500].strip() or response.reason_phrase
    status = str(err.get("status") or "")
    message = str(err.get("message") or "").strip()
    return f"{status}: {message}" if status and message else (message or status or response.reason_phrase)


def error_for_response(
    response: httpx.Response, *, provider: str, node: str = "", secrets: tuple[str, ...] = (), hint: str = "",
    about_model: bool = False, create: bool = False,
) -> ProviderError:
    """Map a failed HTTP response to Retryable (429/5xx/overload) or Terminal (the rest).

    ``create``: the request was a create. A gateway's 502 or 504 then says nothing of whether it
    reached Google, and neither Google API lists jobs: the error is terminal and ``uncertain``
    (as a create whose answer was lost, ``transport_failure``), never retried into a second job.

    A refused credential (401, 403, or a 400 saying the API key is not valid) is about the
    account, not the request: ``ProviderUnavailable``, so the route's fallbacks may render the
    node and the journal does not remember the shot as refused once the key is fixed.
    ``about_model``: the request named the model (a create, a generate), so a 404/410 or a
    shutdown notice means the model is gone: ``RouteGone`` (e.g. "models/veo-3.1-generate-preview
    is no longer available"). Any other 404 is about one operation or file: ``TerminalError``.
    """
    message = redact(describe_error(response), *secrets)
    if create and response.status_code in MAYBE_CREATED:
        return _uncertain(f"HTTP {response.status_code}: {message}", provider=provider, node=node)
    if http.route_gone(response.status_code, message, about_model=about_model):
        return RouteGone(f"HTTP {response.status_code}: {message} (the model is gone: retired, or not served at "
                         "this base URL; route the shot to another provider or add a fallback)",
                         provider=provider, node=node)
    bad_key = response.status_code in (401, 403) or (
        response.status_code == 400 and any(w in message.lower() for w in BAD_KEY_WORDS))
    if bad_key and not hint:
        hint = "check the credentials in the environment"
    if hint and response.status_code < 500 and response.status_code != 429:
        message = f"{message} ({hint})"
    if bad_key:
        return ProviderUnavailable(f"HTTP {response.status_code}: {message}", provider=provider, node=node)
    error = http.error_for_status(
        response.status_code, message, headers=response.headers, provider=provider, node=node
    )
    if isinstance(error, TerminalError) and any(w in message.lower() for w in TRANSIENT_WORDS):
        return RetryableError(str(error.message), provider=provider, node=node,
                              retry_after=http.parse_retry_after(response.headers))
    if response.status_code in (404, 410) and not about_model:  # one operation or file (route_gone said so)
        return JobGone(error.message, provider=provider, node=node)
    return error


def transport_failure(
    exc: httpx.TransportError, *, provider: str, node: str = "", secrets: tuple[str, ...] = (), sent: bool = False
) -> ProviderError:
    """Map a network failure: retryable, unless a create may have reached the server.

    ``sent`` is True for a create. If that failed after the request left (a read timeout, a
    reset), the job may exist and bill, and neither Google API can list jobs to find it, so a
    retry could pay twice: the error is terminal and marked ``uncertain``. The journal then
    holds an intent without a job id, which the next build refuses to resubmit unless the
    user passes ``--resubmit-uncertain``. A failure to connect sent nothing: retryable.
    """
    text = redact(f"network error: {type(exc).__name__}: {exc}", *secrets)
    if isinstance(exc, httpx.LocalProtocolError):
        # Raised before a byte left (an illegal header value, e.g. a key with a trailing CR):
        # nothing reached Google, and every request with these settings would fail the same way.
        return ProviderUnavailable(f"{text}; the request was not sent: check the key and base URL in the "
                                   "environment for stray characters", provider=provider, node=node)
    maybe_delivered = sent and not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
    if maybe_delivered:
        return _uncertain(text, provider=provider, node=node)
    return RetryableError(text, provider=provider, node=node)


#: A gateway's answer to a create that may still have reached Google (bad gateway, gateway timeout).
MAYBE_CREATED = (502, 504)


def _uncertain(text: str, *, provider: str, node: str) -> TerminalError:
    return TerminalError(
        f"{text}; the create request may have reached Google and started a billed job, which "
        "cannot be looked up, so it is not sent again (check the Google console, then rerun "
        "with --resubmit-uncertain to create it anyway)", provider=provider, node=node, uncertain=True)


def operation_error(status: Mapping[str, Any], *, provider: str, node: str = "", what: str = "operation") -> ProviderError:
    """Map a finished operation's ``error`` (a google.rpc.Status) to Retryable or Terminal."""
    code = status.get("code")
    name = RPC_CODE_NAMES.get(code, str(code)) if isinstance(code, int) else str(code or "UNKNOWN")
    message = str(status.get("message") or "no message")
    text = f"{what} failed: {name} (code {code}): {message}"
    if (isinstance(code, int) and code in RETRYABLE_RPC_CODES) or any(
        w in message.lower() for w in TRANSIENT_WORDS
    ):
        return RetryableError(text, provider=provider, node=node)
    return TerminalError(text, provider=provider, node=node)


def rai_error(count: Any, reasons: Any, *, provider: str, node: str = "") -> TerminalError:
    """Explain a Responsible-AI filtered result with Google's own reasons (never retried)."""
    listed = [str(r) for r in reasons] if isinstance(reasons, list) else []
    why = "; ".join(listed) if listed else "no reason given"
    return TerminalError(
        f"the video was blocked by Google's safety filters ({count} filtered): {why} "
        "(blocked videos are not charged; change the prompt or input images)",
        provider=provider,
        node=node,
    )


def b64_image(path: Path) -> str:
    """Return the file's bytes as standard base64 text."""
    return base64.b64encode(path.read_bytes()).decode("ascii")


def media_part(data_b64: str, mime: str, encoding: str) -> dict[str, Any]:
    """Build an image value in ``inlineData`` (REST docs) or ``bytesBase64Encoded`` (SDK) form."""
    if encoding == "inlineData":
        return {"inlineData": {"mimeType": mime, "data": data_b64}}
    return {"bytesBase64Encoded": data_b64, "mimeType": mime}


def write_base64(data: str, dest: Path) -> int:
    """Decode base64 text into ``dest`` in bounded slices, atomically; return bytes written.

    The JSON parser already holds the text once; decoding it whole would hold a second,
    decoded copy. Slices keep the extra memory at a few MiB whatever the clip size.
    """
    def decoded() -> Iterable[bytes]:
        for start in range(0, len(data), B64_STEP):
            yield base64.b64decode(data[start : start + B64_STEP], validate=False)

    return http.write_atomically(dest, decoded())


def json_body(response: httpx.Response, *, provider: str, node: str = "") -> dict[str, Any]:
    """Parse a 2xx JSON object body; a garbled one is a transient server fault."""
    try:
        body = response.json()
    except ValueError as exc:
        raise RetryableError(
            f"malformed JSON from server (HTTP {response.status_code})", provider=provider, node=node
        ) from exc
    if not isinstance(body, dict):
        raise RetryableError("unexpected JSON from server (not an object)", provider=provider, node=node)
    return body
