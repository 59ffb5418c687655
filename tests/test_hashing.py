"""Canonical JSON and node keys: the format is pinned, since changing it re-renders (and re-pays) everything."""

from __future__ import annotations

import math

import pytest

from shotmake.hashing import canonical_json, node_key


def test_canonical_json_sorts_keys_and_strips_whitespace() -> None:
    assert canonical_json({"b": 1, "a": [1.5, "é", None, True]}) == '{"a":[1.5,"é",null,true],"b":1}'.encode()


def test_canonical_json_refuses_nan() -> None:
    with pytest.raises(ValueError):
        canonical_json({"x": math.nan})


def test_key_ignores_key_order() -> None:
    assert node_key({"kind": "clip", "prompt": "p", "duration": 8.0}) == node_key(
        {"duration": 8.0, "prompt": "p", "kind": "clip"}
    )


def test_golden_key() -> None:
    # sha256 of {"duration":8.0,"format":1,"kind":"clip","prompt":"a lighthouse","provider":"local","recipe":1}
    # If this changes, every cached render in every project becomes a miss: bump KEY_FORMAT on purpose.
    manifest = {"kind": "clip", "recipe": 1, "provider": "local", "prompt": "a lighthouse", "duration": 8.0}
    assert node_key(manifest) == "85bb0536d608580f4736f76888cd96f6e414798fc8a50d50df509fc588bd636a"


def test_sha256_hex_is_hashlibs_digest_from_either_implementation() -> None:
    """Small inputs are hashed by CPython's own SHA-256 until hashlib is loaded (no libcrypto for a
    short command); the digest is the same either way, so keys and stamps never change."""
    import hashlib
    import subprocess
    import sys

    from shotmake.hashing import SMALL, _small_sha256, sha256_hex

    for data in (b"", b"shotmake", bytes(range(256)) * 4097):
        assert sha256_hex(data) == hashlib.sha256(data).hexdigest()
        assert _small_sha256(data).hexdigest() == hashlib.sha256(data).hexdigest()
    probe = ("import sys\nfrom shotmake.hashing import node_key, sha256_hex\n"
             "small = [sha256_hex(b'abc'), node_key({'kind': 'clip', 'prompt': 'a'})]\n"
             "assert 'hashlib' not in sys.modules, 'hashlib loaded for a small input'\n"
             f"big = sha256_hex(bytes({SMALL} + 1))\n"
             "assert 'hashlib' in sys.modules\n"
             "print(' '.join([*small, big]))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert out == [hashlib.sha256(b"abc").hexdigest(), node_key_by_hashlib({"kind": "clip", "prompt": "a"}),
                   hashlib.sha256(bytes(SMALL + 1)).hexdigest()]


def node_key_by_hashlib(manifest: dict[str, str]) -> str:
    import hashlib

    from shotmake.hashing import KEY_FORMAT, canonical_json

    return hashlib.sha256(canonical_json({"format": KEY_FORMAT, **manifest})).hexdigest()
