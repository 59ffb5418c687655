"""The cache: content-addressed, atomic, read-only objects; a JSON index; revert hits again."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from shotmake.cache import Cache, file_digest
from shotmake.errors import CacheError


@pytest.fixture
def cache(tmp_path: Path) -> Cache:
    c = Cache(tmp_path / "cache")
    yield c
    c.close()


def test_store_and_lookup(cache: Cache) -> None:
    temp = cache.temp_path(".mp4")
    temp.write_bytes(b"video bytes")
    art = cache.store("k1", temp, {"provider": "local", "cost_usd": 0.0})
    assert not temp.exists()
    assert Path(art.path).read_bytes() == b"video bytes"
    assert art.digest == file_digest(art.path) and Path(art.path).name == f"{art.digest}.mp4"
    assert not os.stat(art.path).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    found = cache.lookup("k1")
    assert found is not None and found.digest == art.digest and found.meta["provider"] == "local"
    assert cache.lookup("other") is None


def test_cache_root_is_owner_only_and_index_is_json(cache: Cache) -> None:
    assert stat.S_IMODE(os.stat(cache.root).st_mode) == 0o700
    temp = cache.temp_path(".png")
    temp.write_bytes(b"x")
    cache.store("k", temp, {"a": 1})
    # Values are JSON, never pickle: a writable cache must not run code.
    with sqlite3.connect(cache.root / "index" / "index.sqlite") as db:
        values = [row[0] for row in db.execute("SELECT value FROM entries")]
    decoded = [json.loads(v) for v in values]
    assert any(d.get("meta") == {"a": 1} for d in decoded)


def test_same_content_under_two_keys_is_stored_once(cache: Cache) -> None:
    for key in ("k1", "k2"):
        temp = cache.temp_path(".png")
        temp.write_bytes(b"same")
        cache.store(key, temp)
    objects = [p for d in cache.objects.iterdir() for p in d.iterdir()]
    assert len(objects) == 1


def test_missing_or_truncated_object_is_a_miss(cache: Cache) -> None:
    temp = cache.temp_path(".mp4")
    temp.write_bytes(b"abcdef")
    art = cache.store("k", temp)
    os.chmod(art.path, 0o644)
    Path(art.path).write_bytes(b"abc")
    assert cache.lookup("k") is None
    Path(art.path).unlink()
    assert cache.lookup("k") is None


def test_contains_checks_what_lookup_checks_and_a_hit_becomes_the_same_artifact(tmp_path: Path) -> None:
    """``contains`` (a plan asks it of every node) keeps its hit; ``lookup`` makes the record from it."""
    first = Cache(tmp_path / "c")
    arts = {}
    for key, body in (("whole", b"abcdef"), ("short", b"ghijkl"), ("gone", b"mnopqr")):
        temp = first.temp_path(".mp4")
        temp.write_bytes(body)
        arts[key] = first.store(key, temp, {"node": f"clip:{key}"})
    first.close()
    os.chmod(arts["short"].path, 0o644)
    Path(arts["short"].path).write_bytes(b"ghi")
    Path(arts["gone"].path).unlink()
    cache = Cache(tmp_path / "c")
    try:
        cache.prefetch(["whole", "short", "gone", "never"])
        assert [cache.contains(k) for k in ("whole", "short", "gone", "never")] == [True, False, False, False]
        found = cache.lookup("whole")
        assert found == arts["whole"] and cache.lookup("whole") is found
        assert cache.lookup("short") is None and cache.lookup("gone") is None
    finally:
        cache.close()


@pytest.mark.parametrize("raw", [
    '{"digest":"%s","ext":".mp4","size":3,"meta":{}}',  # as Index.set writes it
    ' {"digest": "%s", "ext": ".mp4", "size": 3, "meta": {}}\n',  # spaces around: json.loads reads it
    '{"digest":"%s","ext":".mp4","size":3,"meta":{}} x',  # extra data: not JSON
    '{"digest":"%s","ext":".mp4","size":3,"meta":{}}{}',
    '{"digest":"%s","ext":".mp4","size":NaN,"meta":{}}',
    '{"digest":"%s","ext":".mp4","size":3,"meta":{}',
    "",
])
def test_index_rows_read_one_by_one_or_many_at_once_as_json_loads_reads_them(cache: Cache, raw: str,
                                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from shotmake.cache import valid_row

    text = raw % ("a" * 64) if "%s" in raw else raw
    with sqlite3.connect(cache.root / "index" / "index.sqlite") as db:
        db.execute("INSERT INTO entries VALUES(?, ?)", ("node:k", text))
    try:
        expected = json.loads(text)
    except ValueError:
        expected = None
    if expected is not None and not valid_row("node:k", expected):
        expected = None
    assert cache.index.get("node:k") == expected
    assert cache.index.get_many(["node:k"]).get("node:k") == expected
    assert ("not an entry shotmake wrote" in capsys.readouterr().err) is (expected is None)


def test_materialize_copies_atomically(cache: Cache, tmp_path: Path) -> None:
    temp = cache.temp_path(".mp4")
    temp.write_bytes(b"episode")
    art = cache.store("k", temp)
    dest = tmp_path / "build" / "ep.mp4"
    cache.materialize(art, dest)
    # A copy of its own, writable like any new file: editing it cannot reach the cache.
    assert dest.read_bytes() == b"episode" and not os.path.samefile(dest, art.path)
    assert os.stat(dest).st_mode & stat.S_IWUSR
    cache.materialize(art, dest)  # idempotent
    assert sorted(p.name for p in dest.parent.iterdir()) == ["ep.mp4"]


def test_gc_removes_only_unreferenced(cache: Cache) -> None:
    temp = cache.temp_path(".mp4")
    temp.write_bytes(b"kept")
    kept = cache.store("k", temp)
    orphan = cache.objects / "ab" / ("ab" + "0" * 62 + ".mp4")
    orphan.parent.mkdir(exist_ok=True)
    orphan.write_bytes(b"orphan")
    leftover = cache.temp_path(".mp4")
    leftover.write_bytes(b"partial")
    assert cache.gc(dry_run=True) == (2, 13)
    assert orphan.exists()
    assert cache.gc() == (2, 13)
    assert not orphan.exists() and not leftover.exists() and Path(kept.path).exists()


def test_build_lock_excludes_a_second_holder(cache: Cache) -> None:
    with cache.build_lock():
        other = Cache(cache.root)
        try:
            with pytest.raises(CacheError, match="another shotmake build"):
                with other.build_lock(wait=False):
                    pass
        finally:
            other.close()
