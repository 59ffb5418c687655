"""Keep secrets out of everything shotmake writes: journal, cache metadata, reports, errors.

Adapters already redact the key they hold from server text; this is the second, defensive
line at the places that write: any value of a known secret variable in the environment is
replaced by ``[redacted]``::

    redact("HTTP 401: bad key sk-abc123...")   # -> "HTTP 401: bad key [redacted]"
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

#: Environment variables that hold secrets.
SECRET_VARIABLES = ("OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_OAUTH_ACCESS_TOKEN")
#: Shorter values are not secrets worth the false positives of replacing them everywhere.
MIN_LENGTH = 8
MASK = "[redacted]"


def secret_values(env: Mapping[str, str] | None = None) -> list[str]:
    """The secret values present in ``env`` (default: the process environment), longest first."""
    env = os.environ if env is None else env
    values = {env.get(name, "").strip() for name in SECRET_VARIABLES}
    return sorted((v for v in values if len(v) >= MIN_LENGTH), key=len, reverse=True)


def redact(text: str, env: Mapping[str, str] | None = None) -> str:
    """``text`` with every secret value replaced by ``[redacted]``."""
    for value in secret_values(env):
        if value in text:
            text = text.replace(value, MASK)
    return text


def redact_data(value: Any, env: Mapping[str, str] | None = None) -> Any:
    """Redact every string inside JSON-like data (metadata dicts, lists)."""
    if isinstance(value, str):
        return redact(value, env)
    if isinstance(value, Mapping):
        return {k: redact_data(v, env) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_data(v, env) for v in value]
    return value
