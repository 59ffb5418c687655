"""Disk full and read-only caches: a clear error (what, where, how to fix; exit 1, no traceback),
nothing half-written (no partial object, no temp file, no partial output), and the next build,
once space is back, completes and equals a clean build.

Tests run as root, which chmod cannot stop, and no tiny filesystem can be mounted here; so
the conditions are made three ways: a real file-size limit on ffmpeg (``ulimit -f`` in an
``$FFMPEG`` wrapper: its writes fail past 100 kB like on a full disk), a cache path behind a
regular file, and the ``SHOTMAKE_FAULT_AT`` seam in ``cache.py`` that makes one step of a write
(hash-and-rename, index write, output link) fail with ``ENOSPC`` or ``EROFS``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .helpers import check_store, lock_nodes, make_project, objects, shotmake


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    root = tmp_path_factory.mktemp("clean")
    spec = make_project(root)
    assert shotmake(["build", spec.name, "-q"], root).returncode == 0
    return lock_nodes(spec)


def nothing_half_written(root: Path) -> None:
    cache_root = root / ".shotmake"
    assert list((cache_root / "tmp").iterdir()) == [], "a partial render was left in tmp/"
    check_store(cache_root)
    build = root / "build"
    assert not build.exists() or [p for p in build.iterdir() if p.name.startswith(".")] == []


def failed_clearly(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    for word in words:
        assert word in done.stderr, f"{word!r} not in: {done.stderr}"


def rebuilt_cleanly(root: Path, clean: dict[str, tuple[str, str]]) -> None:
    done = shotmake(["build", "tiny.yaml", "-q"], root)
    assert done.returncode == 0, done.stderr
    assert lock_nodes(root / "tiny.yaml") == clean
    check_store(root / ".shotmake")


@pytest.mark.parametrize("point", ["store.hashed", "index.write", "materialize.staged"])
def test_no_space_left_fails_clearly_and_the_rerun_succeeds(tmp_path: Path, clean, point: str) -> None:
    make_project(tmp_path)
    done = shotmake(["build", "tiny.yaml", "-q"], tmp_path, SHOTMAKE_FAULT_AT=f"{point}:ENOSPC")
    failed_clearly(done, "no space left on device", "free some space")
    nothing_half_written(tmp_path)
    rebuilt_cleanly(tmp_path, clean)


def test_a_read_only_cache_fails_clearly_and_says_how_to_fix_it(tmp_path: Path, clean) -> None:
    make_project(tmp_path)
    done = shotmake(["build", "tiny.yaml", "-q"], tmp_path, SHOTMAKE_FAULT_AT="store.hashed:EROFS")
    failed_clearly(done, "not writable", "SHOTMAKE_CACHE")
    nothing_half_written(tmp_path)
    rebuilt_cleanly(tmp_path, clean)


def test_a_cache_path_that_is_a_file_fails_clearly(tmp_path: Path, clean) -> None:
    make_project(tmp_path)
    (tmp_path / "blocker").write_text("a file where the cache directory should go")
    done = shotmake(["build", "tiny.yaml", "-q"], tmp_path, SHOTMAKE_CACHE="blocker/cache")
    failed_clearly(done, "blocker/cache", "not a directory", "SHOTMAKE_CACHE")
    (tmp_path / ".shotmake").write_text("a file")  # as --cache-dir itself: click refuses it (usage, exit 2)
    done = shotmake(["build", "tiny.yaml", "-q"], tmp_path)
    assert done.returncode == 2 and "is a file" in done.stderr, done.stderr
    (tmp_path / ".shotmake").unlink()
    rebuilt_cleanly(tmp_path, clean)


def test_a_full_disk_while_rendering_fails_clearly_and_the_rerun_succeeds(tmp_path: Path, clean) -> None:
    """A real limit on ffmpeg: no file it writes may pass 100 kB (the larger clips and the master do)."""
    import imageio_ffmpeg

    make_project(tmp_path)
    wrapper = tmp_path / "ffmpeg-on-a-full-disk"
    wrapper.write_text(f"#!/bin/bash\ntrap '' XFSZ\nulimit -f 100\nexec {imageio_ffmpeg.get_ffmpeg_exe()} \"$@\"\n")
    wrapper.chmod(0o755)
    done = shotmake(["build", "tiny.yaml", "-q", "-k"], tmp_path, FFMPEG=str(wrapper))
    failed_clearly(done, "File too large")
    nothing_half_written(tmp_path)
    assert objects(tmp_path / ".shotmake"), "what fitted was kept"
    rebuilt_cleanly(tmp_path, clean)
