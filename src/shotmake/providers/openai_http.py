"""OpenAI wire conventions shared by the Videos (Sora) and Images adapters.

Both APIs authenticate with ``Authorization: Bearer <key>``, answer errors as
``{"error": {"message", "type", "param", "code"}}`` and are configured from
``OPENAI_API_KEY`` / ``OPENAI_BASE_URL``. This module turns those conventions into
shotmake errors. The key travels only through ``http.ApiSession`` (``Credentials.session``),
which sends it to the configured origin alone; every message that leaves passes its ``redact``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..errors import ProviderError, ProviderUnavailable, RetryableError, RouteGone, TerminalError
from .http import ApiSession, BodyLimits, Credential, error_for_status, route_gone, transport_error

DEFAULT_BASE_URL = "https://api.openai.com/v1"

#: ``error.code`` values that mean the content itself was refused: never worth a retry.
MODERATION_CODES = frozenset(
    {"moderation_blocked", "content_policy_violation", "content_filter", "safety_violation"}
)
#: ``error.code`` values saying the model itself is not served (retired, or not on this gateway).
MODEL_GONE_CODES = frozenset({"model_not_found"})
#: 429 codes that are a billing state, not a transient rate limit.
QUOTA_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached", "billing_not_active"})


@dataclass(frozen=True)
class ErrorBody:
    """The parts of an OpenAI error body shotmake reports (all optional on the wire)."""

    message: str = ""
    type: str = ""
    code: str = ""
    param: str = ""


@dataclass(frozen=True)
class Credentials:
    """An API key plus the base URL it is sent to; ``repr`` never shows the key."""

    api_key: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    def session(self, client: httpx.Client, *, provider: str, limits: BodyLimits | None = None) -> ApiSession:
        """The session that sends the key as ``Authorization: Bearer`` to ``base_url``'s origin only."""
        return ApiSession(client, self.base_url, Credential("Authorization", self.api_key, "Bearer "),
                          provider=provider, limits=limits, variable="OPENAI_BASE_URL")

    def url(self, path: str) -> str:
        """Join ``path`` (starting with ``/``) onto the base URL, keeping any gateway prefix."""
        return self.base_url + path

    def redact(self, text: str) -> str:
        """Remove the key from text a server or transport produced (gateways may echo it)."""
        if self.api_key and self.api_key in text:
            text = text.replace(self.api_key, "[redacted]")
        return text


def credentials_from_env(env: Mapping[str, str], *, provider: str) -> Credentials:
    """Read ``OPENAI_API_KEY`` and ``OPENAI_BASE_URL``; a missing key is a clear ProviderError."""
    key = env.get("OPENAI_API_KEY", "").strip()
    if not key:
        raise ProviderUnavailable(
            "OPENAI_API_KEY is not set; export it (or set OPENAI_BASE_URL and the gateway's key) "
            "to render with this provider, or route the shot to another provider",
            provider=provider,
        )
    base_url = env.get("OPENAI_BASE_URL", "").strip() or DEFAULT_BASE_URL
    return Credentials(api_key=key, base_url=base_url)


def parse_error_body(response: httpx.Response) -> ErrorBody:
    """Read ``{"error": {...}}``; fall back to the raw text for gateways that answer otherwise."""
    try:
        data: Any = response.json()
    except (ValueError, UnicodeDecodeError):
        return ErrorBody(message=response.text[:500].strip() or response.reason_phrase)
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, str):
        return ErrorBody(message=err)
    if not isinstance(err, dict):
        return ErrorBody(message=json.dumps(data)[:500])
    return ErrorBody(
        message=str(err.get("message") or ""),
        type=str(err.get("type") or ""),
        code=str(err.get("code") or ""),
        param=str(err.get("param") or ""),
    )


def describe(body: ErrorBody) -> str:
    """One line with the server's words and its code, e.g. ``Bad size (invalid_value, param size)``."""
    extras = [x for x in (body.code, f"param {body.param}" if body.param else "") if x]
    text = body.message or body.type or "no error message"
    return f"{text} ({', '.join(extras)})" if extras else text


def http_error(
    response: httpx.Response, creds: Credentials | ApiSession, *, provider: str, node: str = "", what: str = "",
    about_model: bool = False,
) -> ProviderError:
    """Map a failed response to Retryable/Terminal, with the server's words and no key.

    Besides the shared status rules: a 429 that is a quota/billing state is terminal (waiting
    does not refill an account), and a moderation code is terminal whatever the status. An
    answer that the model is gone (``http.route_gone`` for a request ``about_model``, or a
    ``model_not_found`` code) is ``RouteGone``.
    """
    body = parse_error_body(response)
    message = creds.redact(describe(body))
    prefix = f"{what}: " if what else ""
    status = response.status_code
    if body.code in MODEL_GONE_CODES or route_gone(status, body.message, about_model=about_model):
        return RouteGone(f"{prefix}HTTP {status}: {message}; the model or endpoint is gone (retired, or not "
                         "served at OPENAI_BASE_URL): route the shot to another provider or add a fallback",
                         provider=provider, node=node)
    if body.code in MODERATION_CODES:
        return TerminalError(
            f"{prefix}rejected by content moderation (HTTP {status}): {message}", provider=provider, node=node
        )
    if status == 429 and body.code in QUOTA_CODES:
        return TerminalError(
            f"{prefix}HTTP 429: {message}; the account is out of quota, check billing",
            provider=provider,
            node=node,
        )
    error = error_for_status(status, message, headers=response.headers, provider=provider, node=node)
    if status in (401, 403):
        # A create refused for the account, not this request: unavailable (fallbacks may render it),
        # and not remembered as the node's refusal, so the build after the key is fixed sends it.
        refused = ProviderUnavailable if about_model else TerminalError
        return refused(
            f"{prefix}{error.message}; check OPENAI_API_KEY (and OPENAI_BASE_URL if using a gateway)",
            provider=provider,
            node=node,
        )
    if isinstance(error, RetryableError):
        return RetryableError(
            prefix + error.message, provider=provider, node=node, retry_after=error.retry_after
        )
    return TerminalError(prefix + error.message, provider=provider, node=node)


def network_error(
    exc: httpx.TransportError, creds: Credentials | ApiSession, *, provider: str, node: str = ""
) -> RetryableError:
    """A connection reset/timeout as a retryable error; the text is redacted like any other."""
    error = transport_error(exc, provider=provider, node=node)
    return RetryableError(creds.redact(error.message), provider=provider, node=node)
