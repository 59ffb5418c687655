"""Canonical JSON and SHA-256 node keys.

A node's key is the SHA-256 of the canonical JSON of its manifest: everything that decides
its output (kind, recipe version, provider, model, compiled prompt, render parameters, the
keys of its inputs) and nothing that does not (ids, titles, comments, key order, -j).
The format is pinned by golden-hash tests: changing it silently would re-render (and re-pay
for) every cached shot, so a change must bump ``KEY_FORMAT`` on purpose.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

#: Bump to invalidate every key at once (a deliberate, paid-for decision).
KEY_FORMAT = 1

#: Per-kind recipe versions: bump one when that kind's output would change for the same inputs.
RECIPES: Mapping[str, int] = {
    "sheet": 1,
    "plate": 1,
    "clip": 1,
    "frame": 1,
    "conform": 2,
    "span": 1,
    "sequence": 3,
    "piece": 1,
    "master": 2,
    "episode": 3,
    "subtitles": 1,
    "poster": 1,
    "rendition": 2,
}


#: One encoder for every key: ``json.dumps`` with options builds a new one per call (a plan hashes
#: two manifests per shot). The same settings, so the same bytes (pinned by the golden-hash tests).
_ENCODE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def canonical_json(value: Any) -> bytes:
    """Serialise deterministically: sorted keys, no whitespace, UTF-8, no NaN/infinity."""
    return _ENCODE(value).encode()


def node_key(manifest: Mapping[str, Any]) -> str:
    """Return the hex SHA-256 key of a node manifest."""
    return sha256_hex(_ENCODE({"format": KEY_FORMAT, **manifest}).encode())


#: Up to this size ``sha256_hex`` uses CPython's own SHA-256 while hashlib is not loaded.
SMALL = 1 << 20


def _builtin_sha256() -> Any:
    try:
        from _sha2 import sha256  # CPython 3.12 and later
    except ImportError:
        try:
            from _sha256 import sha256  # CPython 3.11
        except ImportError:  # a build without them: hashlib it is
            from hashlib import sha256
    return sha256


_small_sha256 = _builtin_sha256()


def sha256_hex(data: bytes) -> str:
    """The hex SHA-256 of ``data``: the same digest whichever implementation computes it.

    hashlib's SHA-256 is OpenSSL's, five times faster per byte here, but loading libcrypto costs
    a short command ~2 ms, more than hashing its keys, stamps and a small snapshot takes with
    CPython's own SHA-256. So small inputs use the latter until something has loaded hashlib.
    """
    if len(data) <= SMALL and "hashlib" not in sys.modules:
        return str(_small_sha256(data).hexdigest())
    import hashlib

    return hashlib.sha256(data).hexdigest()

