"""Faults the Google fakes inject, one request at a time (see ``google_server``).

Append to ``fake.faults``; the next request on the fault's route consumes it. Routes:
``create``, ``poll``, ``download`` (Gemini ``files/{id}:download``), ``bytes`` (the bytes
behind the redirect, or a Vertex Cloud Storage object), ``generate`` (generateContent) and
``operation`` (the outcome of the next accepted job).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass
class Fault:
    """One injected misbehaviour, consumed by the next request on ``route`` (see module doc)."""

    route: str
    status: int = 0
    error_status: str = ""
    message: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    reset_after: int | None = None
    truncate_by: int | None = None
    #: For route "operation": "stall", "rai" or "error". For route "generate": "image_safety",
    #: "prompt_blocked" or "text_only". For route "bytes": a hostile body (``server.HOSTILE``).
    outcome: str = ""
    reasons: list[str] = field(default_factory=list)
    rpc_code: int = 13


def http_error(route: str, status: int, error_status: str, message: str,
               headers: dict[str, str] | None = None) -> Fault:
    """Answer the next request on ``route`` with a Google error body."""
    return Fault(route, status=status, error_status=error_status, message=message, headers=dict(headers or {}))


def rate_limited(route: str = "create", retry_after: float | None = 2.0) -> Fault:
    """429 RESOURCE_EXHAUSTED, with ``Retry-After`` when given."""
    headers = {"retry-after": f"{retry_after:g}"} if retry_after is not None else {}
    return http_error(route, 429, "RESOURCE_EXHAUSTED",
                      "Resource has been exhausted (e.g. check quota).", headers)


def server_error(route: str = "create", status: int = 500) -> Fault:
    """500 INTERNAL or 503 UNAVAILABLE."""
    if status == 503:
        return http_error(route, 503, "UNAVAILABLE", "The service is currently unavailable.")
    return http_error(route, status, "INTERNAL", "An internal error has occurred. Please retry or report.")


def overloaded(route: str = "create") -> Fault:
    """503 "The model is overloaded" (what Gemini answers at peak load)."""
    return http_error(route, 503, "UNAVAILABLE", "The model is overloaded. Please try again later.")


def reset_download(after: int = 4096, route: str = "bytes") -> Fault:
    """Close the connection after ``after`` body bytes of the next download."""
    return Fault(route, reset_after=after)


def truncated_download(missing: int = 4096, route: str = "bytes") -> Fault:
    """Declare ``missing`` more bytes in Content-Length than the next download sends."""
    return Fault(route, truncate_by=missing)


def hostile(kind: str, route: str = "bytes") -> Fault:
    """Serve the next download as ``kind``: ``endless``, ``gzip_bomb``, ``drip`` or ``gzip`` (see ``server``)."""
    return Fault(route, outcome=kind)


def lost_response(route: str = "create") -> Fault:
    """Accept the next create (the job exists and will bill) but reset before answering it."""
    return Fault(route, reset_after=0, outcome="lost")


def gateway_timeout(route: str = "create") -> Fault:
    """Accept the next create (the job exists and will bill), then answer 504 as a gateway would."""
    return Fault(route, outcome="gateway_timeout")


def stall() -> Fault:
    """The next accepted job never finishes (stuck at 99 %)."""
    return Fault("operation", outcome="stall")


def rai_filtered(reasons: Sequence[str] | None = None) -> Fault:
    """The next accepted job ends done with no samples and ``raiMediaFilteredCount`` 1."""
    return Fault("operation", outcome="rai", reasons=list(reasons or [
        "Your current safety settings for person generation prevented the video from being generated."]))


def operation_failed(code: int = 13, message: str = "Video generation failed due to an internal error.") -> Fault:
    """The next accepted job ends done with an ``error`` google.rpc.Status."""
    return Fault("operation", outcome="error", rpc_code=code, message=message)


def image_safety(finish_reason: str = "IMAGE_SAFETY") -> Fault:
    """The next generateContent answers a candidate with a safety ``finishReason`` and no image."""
    return Fault("generate", outcome="image_safety", message=finish_reason)


def prompt_blocked(reason: str = "PROHIBITED_CONTENT") -> Fault:
    """The next generateContent answers ``promptFeedback.blockReason`` and no candidates."""
    return Fault("generate", outcome="prompt_blocked", message=reason)


def text_only() -> Fault:
    """The next generateContent answers text but no image (finishReason STOP)."""
    return Fault("generate", outcome="text_only")


#: What ``chaos`` may inject, per route (all transient: a correct client recovers from each).
CHAOS: dict[str, tuple[Callable[[], Fault], ...]] = {
    "create": (lambda: rate_limited("create", 0), lambda: server_error("create", 500),
               lambda: server_error("create", 503), lambda: overloaded("create")),
    "poll": (lambda: rate_limited("poll", 0), lambda: server_error("poll", 500), lambda: overloaded("poll")),
    "download": (lambda: rate_limited("download", 0), lambda: server_error("download", 503)),
    "bytes": (lambda: reset_download(1024), lambda: truncated_download(1024)),
    "generate": (lambda: rate_limited("generate", 0), lambda: overloaded("generate")),
}
#: Outcomes ``chaos_outcomes`` may name: terminal (rai), retryable (error), or neither (stall).
OUTCOMES: dict[str, Callable[[], Fault]] = {"rai": rai_filtered, "error": operation_failed, "stall": stall}
