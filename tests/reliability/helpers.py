"""What the reliability tests share: run ``shotmake`` as a user would, and inspect a cache from outside.

``check_store`` is the crash-consistency invariant, asserted after every kill: every object is
named by its content's digest (nothing truncated or half-renamed), and every index entry points
at such an object of the recorded size.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from shotmake.cache import Cache, file_digest
from tests.conftest import SMALL_EPISODE
from tests.fakes.harness import LEGACY_ROUTES_LIVE

__all__ = ["SMALL_EPISODE", "check_store", "index_entries", "lock_nodes", "make_project", "objects", "shotmake"]


def make_project(root: Path, text: str = SMALL_EPISODE, name: str = "tiny.yaml") -> Path:
    """A project directory with one episode spec; returns the spec path."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "shotmake.toml").write_text(LEGACY_ROUTES_LIVE)  # the fakes serve the retired Sora and Veo
    spec = root / name
    spec.write_text(text)
    return spec


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "GEMINI_", "GOOGLE_", "SHOTMAKE_"))}
    env.update(extra)
    return env


def shotmake(args: list[str], cwd: Path, *, timeout: float = 180, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m shotmake ARGS`` in ``cwd`` with a clean environment plus ``env``."""
    return subprocess.run([sys.executable, "-m", "shotmake", *args], check=False, cwd=cwd, env=clean_env(**env),
                          capture_output=True, text=True, timeout=timeout)


def objects(cache_root: Path) -> list[Path]:
    root = cache_root / "objects"
    return sorted(p for d in root.iterdir() if d.is_dir() for p in d.iterdir()) if root.exists() else []


def index_entries(cache_root: Path) -> dict[str, dict[str, Any]]:
    """Node key -> index entry, read through a fresh ``Cache`` (as the next build would)."""
    cache = Cache(cache_root)
    try:
        return dict(cache.entries())
    finally:
        cache.close()


def index_is_sound(cache_root: Path) -> bool:
    path = cache_root / "index" / "index.sqlite"
    if not path.exists():  # killed before the cache was first opened: nothing indexed, nothing to check
        return True
    with sqlite3.connect(path) as db:  # read-write: a kill may leave a hot journal to roll back
        return bool(db.execute("PRAGMA integrity_check").fetchone()[0] == "ok")


def check_store(cache_root: Path) -> None:
    """Assert the crash-consistency invariant of the object store (see the module docstring)."""
    for path in objects(cache_root):
        assert path.name.split(".", 1)[0] == file_digest(path), f"{path} does not hold what its name says"
    assert index_is_sound(cache_root)
    for key, entry in index_entries(cache_root).items():
        path = cache_root / "objects" / entry["digest"][:2] / f"{entry['digest']}{entry.get('ext', '')}"
        assert path.is_file(), f"index entry {key[:12]} points at a missing object {path.name}"
        assert path.stat().st_size == entry["size"], f"index entry {key[:12]}: {path.name} has the wrong size"


def lock_nodes(spec: Path) -> dict[str, tuple[str, str]]:
    """Node id -> (key, artifact digest) from the lock file a successful build wrote beside ``spec``."""
    data = yaml.safe_load(spec.with_suffix(".lock").read_text())
    return {nid: (entry["key"], entry["digest"]) for nid, entry in data["nodes"].items()}
