"""Keep secrets out of everything shotmake writes: journal, cache metadata, stamps, reports, errors.

Adapters already redact the key they hold from server text; this is the second, defensive
line at the places that write. Two kinds of secret are removed:

* any value of a known secret variable in the environment, and the credentials written into
  a ``*_BASE_URL`` (``https://user:secret@gateway/v1``), become ``[redacted]``;
* in every URL of a text, the userinfo and the values of query parameters that carry
  credentials (``?key=``, ``token``, ``sig``, ``X-Goog-Signature``...) become ``[redacted]``::

    redact("HTTP 401: bad key sk-abc123...")            # -> "HTTP 401: bad key [redacted]"
    scrub_urls("GET https://u:pw@gw/v1/x?key=AIza&alt=media")
    # -> "GET https://[redacted]@gw/v1/x?key=[redacted]&alt=media"
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

#: Environment variables that hold secrets.
SECRET_VARIABLES = ("OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_OAUTH_ACCESS_TOKEN",
                    "ARK_API_KEY", "DASHSCOPE_API_KEY")
#: Any variable named like a credential is one too: a route in shotmake.toml may name its own
#: (``key_env = ["GATEWAY_API_KEY"]``), and those must never reach output or disk either.
SECRET_SUFFIXES = ("_API_KEY", "_TOKEN", "_SECRET", "_PASSWORD")
#: Variables whose URL values may carry credentials in their userinfo.
URL_VARIABLE_SUFFIXES = ("_BASE_URL", "_URL", "_URI")
#: Shorter values are not secrets worth the false positives of replacing them everywhere.
MIN_LENGTH = 8
MASK = "[redacted]"

_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]+")
_SECRET_PARAM = re.compile(r"key|token|sig|secret|passw|auth|credential|session|x-goog-|x-amz-", re.IGNORECASE)
_PARAM = re.compile(r"(?P<name>[^=&#]*)=(?P<value>[^&#]*)")


#: The object-store SDKs' credentials (the remote cache, ``remote.py``) whose names the suffixes miss.
STORAGE_SECRET_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AZURE_STORAGE_ACCOUNT_KEY",
                            "AZURE_STORAGE_ACCESS_KEY", "AZURE_STORAGE_MASTER_KEY", "AZURE_STORAGE_SAS_KEY",
                            "GOOGLE_SERVICE_ACCOUNT_KEY")


def is_secret_variable(name: str) -> bool:
    """Whether the environment variable ``name`` holds a credential (by name: values are never guessed)."""
    return name in SECRET_VARIABLES or name in STORAGE_SECRET_VARIABLES or name.upper().endswith(SECRET_SUFFIXES)


def secret_values(env: Mapping[str, str] | None = None) -> list[str]:
    """The secret values present in ``env`` (default: the process environment), longest first."""
    env = os.environ if env is None else env
    values = {value.strip() for name, value in env.items() if is_secret_variable(name)}
    for name, value in env.items():
        if name.endswith(URL_VARIABLE_SUFFIXES) and "@" in value:
            values |= _userinfo(value)
    return sorted((v for v in values if len(v) >= MIN_LENGTH), key=len, reverse=True)


def _userinfo(url: str) -> set[str]:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return set()
    found = {parts.username or "", parts.password or ""}
    return found | {unquote(v) for v in found}


def scrub_url(url: str) -> str:
    """``url`` with its userinfo and credential-like query values replaced by ``[redacted]``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    end = len(rest)
    for mark in "/?#":
        found = rest.find(mark)
        if found != -1:
            end = min(end, found)
    authority, tail = rest[:end], rest[end:]
    if "@" in authority:
        authority = MASK + "@" + authority.rpartition("@")[2]
    path, qmark, query = tail.partition("?")
    if qmark:
        query, hashmark, fragment = query.partition("#")
        query = _PARAM.sub(lambda m: f"{m['name']}={MASK}" if _SECRET_PARAM.search(m["name"]) else m[0], query)
        tail = path + "?" + query + hashmark + fragment
    return f"{scheme}://{authority}{tail}"


def scrub_urls(text: str) -> str:
    """Every URL in ``text`` passed through ``scrub_url``."""
    if "://" not in text:
        return text
    return _URL.sub(lambda m: scrub_url(m[0]), text)


def redact(text: str, env: Mapping[str, str] | None = None) -> str:
    """``text`` with every secret value and every URL credential replaced by ``[redacted]``."""
    for value in secret_values(env):
        if value in text:
            text = text.replace(value, MASK)
    return scrub_urls(text)


def redact_data(value: Any, env: Mapping[str, str] | None = None) -> Any:
    """Redact every string inside JSON-like data (metadata dicts, lists)."""
    if isinstance(value, str):
        return redact(value, env)
    if isinstance(value, Mapping):
        return {k: redact_data(v, env) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_data(v, env) for v in value]
    return value
