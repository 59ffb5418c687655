"""Files planted by someone else: a pickled cache index row never runs, a symlink never redirects a write.

A cache directory may be shared and a project is a git checkout: both hold files other people
wrote. shotmake reads its index as JSON (a row of any other shape is skipped with a warning)
and writes every file through a new temp file and a rename (``atomic.py``), so a symlink
committed at a path shotmake writes is replaced, never followed.
"""

from __future__ import annotations

import os
import pickle
import shutil
import sqlite3
import zlib
from pathlib import Path

import pytest

from .helpers import SMALL_EPISODE, lock_nodes, make_project, shotmake


class _Payload:
    """Unpickling this creates ``marker``: the proof that a pickle from disk was loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("planted")
    make_project(root)
    done = shotmake(["build", "tiny.yaml", "-q"], root)
    assert done.returncode == 0, done.stderr
    return root


def copy_of(built: Path, dest: Path) -> Path:
    shutil.copytree(built, dest, symlinks=True)
    return dest


def test_a_pickled_index_row_is_never_loaded(built: Path, tmp_path: Path) -> None:
    root = copy_of(built, tmp_path / "p")
    marker = tmp_path / "pwned"
    key = lock_nodes(root / "tiny.yaml")["clip:a"][0]
    payload = pickle.dumps(_Payload(marker))
    with sqlite3.connect(root / ".shotmake" / "index" / "index.sqlite") as db:
        db.execute("UPDATE entries SET value=? WHERE name=?", (payload, f"node:{key}"))
        db.execute("INSERT INTO entries VALUES(?, ?)", ("node:" + "e" * 64, payload))
        db.execute("INSERT INTO entries VALUES(?, ?)",  # JSON, but pointing outside the object store
                   ("node:" + "d" * 64, '{"digest": "../../../etc/passwd", "ext": "", "size": 1, "meta": {}}'))
    for args in (["cost"], ["gc", "-n"], ["status", "tiny.yaml"], ["build", "tiny.yaml"], ["gc"]):
        done = shotmake(args, root)
        assert "Traceback" not in done.stderr, (args, done.stderr)
        assert done.returncode == 0, (args, done.stderr)
        assert not marker.exists(), f"shotmake {' '.join(args)} unpickled a row from the cache index"
        if args[0] != "build" and args != ["gc"]:  # build rewrites clip:a's row; gc drops the stray ones
            assert f"node:{key}" in done.stderr and "not an entry shotmake wrote" in done.stderr, (args, done.stderr)


def test_a_pickled_row_in_an_old_diskcache_index_is_not_imported(built: Path, tmp_path: Path) -> None:
    """Caches from before index.sqlite: diskcache's cache.db is imported as JSON only."""
    root = copy_of(built, tmp_path / "p")
    marker = tmp_path / "pwned"
    folder = root / ".shotmake" / "index"
    with sqlite3.connect(folder / "index.sqlite") as db:
        rows = db.execute("SELECT name, value FROM entries").fetchall()
    (folder / "index.sqlite").unlink()
    with sqlite3.connect(folder / "cache.db") as db:  # diskcache's table, as JSONDisk filled it
        db.execute("CREATE TABLE Cache (rowid INTEGER PRIMARY KEY, key BLOB, raw INTEGER, store_time REAL, "
                   "expire_time REAL, access_time REAL, access_count INTEGER DEFAULT 0, tag BLOB, size INTEGER "
                   "DEFAULT 0, mode INTEGER DEFAULT 0, filename TEXT, value BLOB)")
        for name, value in rows:
            db.execute("INSERT INTO Cache(key, raw, mode, value) VALUES(?, 1, 1, ?)",
                       (zlib.compress(f'"{name}"'.encode()), zlib.compress(value.encode())))
        db.execute("INSERT INTO Cache(key, raw, mode, value) VALUES(?, 1, 4, ?)",  # MODE_PICKLE
                   (zlib.compress(b'"node:' + b"c" * 64 + b'"'), pickle.dumps(_Payload(marker))))
        db.execute("INSERT INTO Cache(key, raw, mode, value) VALUES(?, 0, 1, ?)",  # a pickled key
                   (pickle.dumps(_Payload(marker)), zlib.compress(b"{}")))
    done = shotmake(["build", "tiny.yaml", "--json"], root)
    assert done.returncode == 0, done.stderr
    assert not marker.exists()
    assert "not an entry shotmake wrote (not imported)" in done.stderr
    assert '"rendered": []' in done.stdout, "the imported index serves every render"


# -- symlinks planted where shotmake writes ---------------------------------------------------------
def plant(link: Path, outside: Path) -> None:
    outside.write_text("precious")
    link.parent.mkdir(parents=True, exist_ok=True)
    link.unlink(missing_ok=True)
    link.symlink_to(outside)


def edit_spec(root: Path) -> None:
    (root / "tiny.yaml").write_text(SMALL_EPISODE.replace("A lighthouse at dusk.", "A lighthouse at dawn."))


@pytest.mark.parametrize("where", [".tiny.lock.tmp", "tiny.lock", "build/tiny.mp4"])
def test_a_planted_symlink_is_replaced_not_written_through(built: Path, tmp_path: Path, where: str) -> None:
    root = copy_of(built, tmp_path / "p")
    outside = tmp_path / "outside.txt"
    plant(root / where, outside)
    edit_spec(root)  # the lock and the output both change
    done = shotmake(["build", "tiny.yaml", "-q"], root)
    assert done.returncode == 0, done.stderr
    assert outside.read_text() == "precious"
    if where != ".tiny.lock.tmp":
        assert not (root / where).is_symlink() and (root / where).stat().st_size > len("precious")


def test_planted_snapshot_and_stamp_symlinks_are_replaced(built: Path, tmp_path: Path) -> None:
    root = copy_of(built, tmp_path / "p")
    specs = root / ".shotmake" / "specs"
    shotmake(["build", "tiny.yaml", "-q"], root)  # the up-to-date stamp exists now
    planted = sorted(specs.iterdir())
    assert any(p.name.endswith(".uptodate.json") for p in planted) and len(planted) >= 3
    for i, path in enumerate(planted):
        plant(path, tmp_path / f"outside{i}.txt")
    edit_spec(root)
    done = shotmake(["build", "tiny.yaml", "-q"], root)
    assert done.returncode == 0, done.stderr
    assert all((tmp_path / f"outside{i}.txt").read_text() == "precious" for i in range(len(planted)))


def test_a_symlink_at_the_build_lock_is_refused(built: Path, tmp_path: Path) -> None:
    root = copy_of(built, tmp_path / "p")
    outside = tmp_path / "outside.txt"
    plant(root / ".shotmake" / "lock", outside)
    edit_spec(root)
    done = shotmake(["build", "tiny.yaml", "-q"], root)
    assert done.returncode == 1 and "symbolic link" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert outside.read_text() == "precious"
    assert os.path.islink(root / ".shotmake" / "lock")


def test_a_symlink_at_the_index_database_is_refused(built: Path, tmp_path: Path) -> None:
    root = copy_of(built, tmp_path / "p")
    outside = tmp_path / "outside.txt"
    plant(root / ".shotmake" / "index" / "index.sqlite", outside)
    done = shotmake(["build", "tiny.yaml", "--json"], root)
    assert done.returncode == 1 and "is a symbolic link" in done.stderr, done.stderr
    assert outside.read_text() == "precious"
