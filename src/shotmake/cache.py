"""The cache: a content-addressed object store plus an index from node key to artifact.

Layout under the cache root (``.shotmake/`` by default)::

    objects/ab/abcdef...0123.mp4   immutable, read-only files named by their SHA-256
    tmp/                           renders in progress; never served, swept by ``gc``
    index/                         diskcache (SQLite, JSON values - never pickle)
    lock                           one build at a time per cache

A render is written to ``tmp/``, hashed, made read-only, fsynced and renamed into
``objects/`` before the index learns its key, so a crash at any point leaves either nothing
or a complete object: the cache never holds a partial file. Lookups are by key, not by
"last build", so reverting an edit hits the cache again.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Iterator, Mapping

import diskcache

from .errors import CacheError
from .model import Artifact

CHUNK = 1 << 20


def file_digest(path: str | Path) -> str:
    """Return the hex SHA-256 of a file, read in 1 MiB chunks (constant memory)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
    except OSError as exc:
        raise CacheError(f"cannot read {path}: {exc.strerror}") from exc
    return digest.hexdigest()


class Cache:
    """Object store + index rooted at ``root``. Thread-safe for concurrent ``store`` calls."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.tmp = self.root / "tmp"
        try:
            # Owner-only: the cache holds paid renders and job metadata.
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.objects.mkdir(mode=0o700, exist_ok=True)
            self.tmp.mkdir(mode=0o700, exist_ok=True)
            self.index = diskcache.Cache(
                str(self.root / "index"),
                disk=diskcache.JSONDisk,
                eviction_policy="none",  # never silently forget a paid render
                size_limit=2**62,
                sqlite_synchronous=2,
                statistics=0,
            )
        except OSError as exc:
            raise CacheError(f"cannot open cache at {self.root}: {exc.strerror}") from exc

    # -- objects ----------------------------------------------------------------------------
    def object_path(self, digest: str, extension: str) -> Path:
        return self.objects / digest[:2] / f"{digest}{extension}"

    def temp_path(self, extension: str) -> Path:
        """A fresh path under ``tmp/`` for a render in progress."""
        return self.tmp / f"{uuid.uuid4().hex}{extension}"

    def lookup(self, key: str) -> Artifact | None:
        """Return the artifact stored for ``key``, or None (also when its object vanished)."""
        entry = self.index.get(f"node:{key}")
        if entry is None:
            return None
        path = self.object_path(entry["digest"], entry.get("ext", ""))
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return None
        if size != entry["size"]:
            return None
        return Artifact(digest=entry["digest"], path=str(path), size=size, meta=entry.get("meta", {}))

    def contains(self, key: str) -> bool:
        return self.lookup(key) is not None

    def store(self, key: str, source: Path, meta: Mapping[str, Any] | None = None) -> Artifact:
        """Move a finished file into the store under its digest and index it under ``key``."""
        extension = "".join(source.suffixes[-1:])
        try:
            digest = file_digest(source)
            size = source.stat().st_size
            target = self.object_path(digest, extension)
            target.parent.mkdir(mode=0o700, exist_ok=True)
            if target.exists() and target.stat().st_size == size:
                source.unlink()
            else:
                with open(source, "rb") as handle:
                    os.fsync(handle.fileno())
                os.chmod(source, 0o444)
                os.replace(source, target)
                _fsync_dir(target.parent)
        except OSError as exc:
            source.unlink(missing_ok=True)
            raise CacheError(_os_message("cannot store render", exc)) from exc
        kept = dict(meta or {})
        entry = {"digest": digest, "ext": extension, "size": size, "meta": kept, "stored": time.time()}
        self._set(f"node:{key}", entry)
        return Artifact(digest=digest, path=str(target), size=size, meta=kept)

    # -- build records (for `explain`) -------------------------------------------------------
    def record_build(self, episode: str, node_id: str, key: str, manifest: Mapping[str, Any]) -> None:
        """Remember the manifest a node id was last built from."""
        self._set(f"last:{episode}:{node_id}", {"key": key, "manifest": dict(manifest)})

    def previous(self, episode: str, node_id: str) -> dict[str, Any] | None:
        """The manifest recorded the last time ``node_id`` was built, or None."""
        entry = self.index.get(f"last:{episode}:{node_id}")
        return None if entry is None else entry["manifest"]

    def entries(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every ``(key, entry)`` of stored artifacts."""
        for raw in self.index.iterkeys():
            if isinstance(raw, str) and raw.startswith("node:"):
                entry = self.index.get(raw)
                if entry is not None:
                    yield raw[5:], entry

    def _set(self, name: str, value: Any) -> None:
        try:
            self.index.set(name, value)
        except OSError as exc:
            raise CacheError(_os_message("cannot write the cache index", exc)) from exc

    # -- outputs ------------------------------------------------------------------------------
    def materialize(self, artifact: Artifact, dest: Path) -> None:
        """Place an artifact at ``dest`` (a hard link when possible), atomically."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            if os.path.samefile(dest, artifact.path):
                return
        staging = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}")
        try:
            try:
                os.link(artifact.path, staging)
            except OSError:
                shutil.copyfile(artifact.path, staging)
            os.replace(staging, dest)
        except OSError as exc:
            staging.unlink(missing_ok=True)
            raise CacheError(_os_message(f"cannot write {dest}", exc)) from exc

    # -- maintenance ---------------------------------------------------------------------------
    def gc(self, dry_run: bool = False) -> tuple[int, int]:
        """Delete objects no index entry references and leftover temp files.

        Returns ``(files removed, bytes freed)``.
        """
        referenced = {entry["digest"] for _, entry in self.entries()}
        removed = freed = 0
        candidates = list(self.tmp.iterdir()) + [p for d in self.objects.iterdir() if d.is_dir() for p in d.iterdir()]
        for path in candidates:
            if path.parent != self.tmp and path.name.split(".", 1)[0] in referenced:
                continue
            size = path.stat().st_size
            if not dry_run:
                path.unlink(missing_ok=True)
            removed += 1
            freed += size
        return removed, freed

    @contextlib.contextmanager
    def build_lock(self, wait: bool = True) -> Iterator[None]:
        """Hold the cache's build lock (one build per cache at a time, like a Make jobserver)."""
        path = self.root / "lock"
        with open(path, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES) or not wait:
                    raise CacheError(f"another shotmake build holds {path}") from exc
                handle.seek(0)
                holder = handle.read().strip() or "?"
                print(f"shotmake: waiting for another build (pid {holder}) to release {path}", file=sys.stderr)
                fcntl.flock(handle, fcntl.LOCK_EX)
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            try:
                yield
            finally:
                handle.seek(0)
                handle.truncate()
                fcntl.flock(handle, fcntl.LOCK_UN)

    def close(self) -> None:
        self.index.close()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _os_message(what: str, exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return f"{what}: no space left on device (free some space and run the build again; nothing was lost)"
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"{what}: the cache is not writable ({exc.strerror})"
    return f"{what}: {exc.strerror or exc}"
