"""What ``gc`` may delete from a cache, and how ``reindex`` gives a lost index back.

**gc.** A render is kept while any of these holds:

* a lock file references its key: the project's ``*.lock`` files (found under the project
  root) and any lock named with ``--keep-lock``;
* it was used recently: stored in the last ``keep_days`` days, or part of the cut a build
  of some episode (in any project sharing the cache) recorded in the last ``keep_days`` days;
* ``keep_days`` is None: every indexed render is kept (only unreferenced files go).

Everything else goes: superseded renders (index entry, job journal row and object), objects
no kept entry names (a crash between a store and its index write leaves those), and the
temp files of renders that never finished. The job journal's downloaded renders count as
indexed, so an emptied index never lets ``gc`` delete paid renders ``reindex`` could recover.
``gc`` holds the build lock: a running build's files look exactly like garbage.

**reindex.** Rebuilds the index of paid renders from the job journal, which keeps each
downloaded render's entry (digest, size, metadata): every object still present and intact is
indexed again. A damaged index file is moved aside first. Local renders and assembled pieces
are not in the journal; the next build makes them again, for free.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cache import Cache
from .journal import Journal

DAY = 86400.0
#: Folders never searched for lock files.
_SKIP = {".git", ".shotmake", "node_modules", "__pycache__", ".venv", "venv"}
LOCK_HEADER = "# shotmake lock file"


@dataclass(frozen=True)
class Policy:
    """What ``gc`` keeps besides lock-referenced renders (see the module docstring)."""

    keep_days: float | None = None
    keep_keys: frozenset[str] = frozenset()


@dataclass
class Collected:
    """What ``gc`` removed (or, in a dry run, would remove)."""

    #: ``(path, bytes, what)`` of every file.
    files: list[tuple[Path, int, str]] = field(default_factory=list)
    #: Index entries (renders) dropped, and kept.
    dropped: int = 0
    kept: int = 0

    @property
    def freed(self) -> int:
        return sum(size for _, size, _ in self.files)


def lock_keys(paths: Iterable[Path]) -> frozenset[str]:
    """Every node key the shotmake lock files at ``paths`` reference (other files are skipped)."""
    from .errors import SpecError
    from .lock import read_lock

    keys: set[str] = set()
    for path in paths:
        try:
            with open(path, encoding="utf-8") as handle:
                if not handle.read(len(LOCK_HEADER)) == LOCK_HEADER:
                    continue
            data = read_lock(path)
        except (OSError, UnicodeDecodeError, SpecError):
            continue
        for entry in (data or {}).get("nodes", {}).values():
            if isinstance(entry, dict) and isinstance(entry.get("key"), str):
                keys.add(entry["key"])
    return frozenset(keys)


def project_locks(root: Path) -> list[Path]:
    """The ``*.lock`` files under a project root (hidden and dependency folders skipped)."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in _SKIP and not d.startswith(".")]
        found += [Path(folder) / name for name in files if name.endswith(".lock")]
    return sorted(found)


def collect(cache: Cache, policy: Policy, journal: Journal | None = None, *, dry_run: bool = False,
            wait: bool = True, now: float | None = None) -> Collected:
    """Apply ``policy`` to the cache under its build lock; with ``dry_run``, only say what would go."""
    with cache.build_lock(wait=wait):
        return _collect(cache, policy, journal, dry_run, time.time() if now is None else now)


def _collect(cache: Cache, policy: Policy, journal: Journal | None, dry_run: bool, now: float) -> Collected:
    entries: dict[str, Mapping[str, Any]] = dict(cache.entries())
    journalled: dict[str, Mapping[str, Any]] = {}
    for record in journal.downloads() if journal is not None else []:
        entry = record.index_entry()
        if entry is not None:
            journalled[record.key] = entry
    everything = {**journalled, **entries}
    if policy.keep_days is None:
        keep = set(everything)
    else:
        cutoff = now - policy.keep_days * DAY
        keep = set(policy.keep_keys) | cache.used_since(cutoff)
        keep |= {key for key, entry in everything.items() if _stored(entry) >= cutoff}
    kept_digests = {everything[key]["digest"] for key in keep if key in everything}
    dropped = [key for key in everything if key not in keep]
    result = Collected(dropped=len(dropped), kept=len(everything) - len(dropped))
    named = {}
    for key in dropped:
        meta = everything[key].get("meta") or {}
        named[everything[key]["digest"]] = f"{meta.get('node', key[:12])} of {meta.get('episode', '?')}, " \
                                           f"stored {time.strftime('%Y-%m-%d', time.localtime(_stored(everything[key])))}"
    for path in _files(cache.tmp):
        result.files.append((path, _size(path), "an unfinished render"))
    for folder in _folders(cache.objects):
        for path in _files(folder):
            digest = path.name.split(".", 1)[0]
            if digest not in kept_digests:
                result.files.append((path, _size(path), named.get(digest, "no index entry names it")))
    if dry_run:
        return result
    cache.forget(key for key in dropped if key in entries)
    if policy.keep_days is not None:
        cache.forget_uses_before(now - policy.keep_days * DAY)
    if journal is not None:
        for key in dropped:
            if key in journalled:
                journal.forget(key)  # removed on purpose: building it again later is a new job
    for path, _, _ in result.files:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return result


def _stored(entry: Mapping[str, Any]) -> float:
    value = entry.get("stored")
    return float(value) if isinstance(value, (int, float)) else 0.0


def _folders(path: Path) -> list[Path]:
    with contextlib.suppress(OSError):
        return sorted(p for p in path.iterdir() if p.is_dir() and not p.is_symlink())
    return []


def _files(path: Path) -> list[Path]:
    with contextlib.suppress(OSError):
        return sorted(p for p in path.iterdir() if p.is_file() or p.is_symlink())
    return []


def _size(path: Path) -> int:
    try:
        return os.lstat(path).st_size
    except OSError:
        return 0


# -- reindex -----------------------------------------------------------------------------------------
@dataclass
class Reindexed:
    """What ``reindex`` found: renders indexed again, already indexed, and missing (object gone)."""

    recovered: list[str] = field(default_factory=list)
    present: int = 0
    missing: list[str] = field(default_factory=list)
    moved_aside: Path | None = None


def reindex(cache_dir: Path) -> Reindexed:
    """Rebuild the cache index of ``cache_dir`` from its objects and its job journal."""
    from .index import FILE

    result = Reindexed()
    index_file = cache_dir / "index" / FILE
    try:
        cache = Cache(cache_dir)
    except Exception:
        if not index_file.exists():
            raise
        result.moved_aside = index_file.with_name(f"{FILE}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(index_file, result.moved_aside)
        cache = Cache(cache_dir)
    journal = Journal(cache_dir / "journal.sqlite") if (cache_dir / "journal.sqlite").exists() else None
    try:
        with cache.build_lock():
            for record in journal.downloads() if journal is not None else []:
                entry = record.index_entry()
                if entry is None:
                    result.missing.append(record.node)
                    continue
                if cache.lookup(record.key) is not None:
                    result.present += 1
                elif cache.adopt(record.key, entry, record.node) is not None:
                    result.recovered.append(record.node)
                else:
                    result.missing.append(record.node)
    finally:
        if journal is not None:
            journal.close()
        cache.close()
    return result
