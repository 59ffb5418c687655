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
