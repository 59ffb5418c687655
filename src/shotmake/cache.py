"""The cache: a content-addressed object store plus an index from node key to artifact.

Layout under the cache root (``.shotmake/`` by default)::

    objects/ab/abcdef...0123.mp4   immutable, read-only files named by their SHA-256
    tmp/                           renders in progress; never served, swept by ``gc``
    index/index.sqlite             node key -> entry (SQLite, JSON values - never pickle; index.py)
    lock                           one build at a time per cache

A render is written to ``tmp/``, hashed, made read-only, fsynced and renamed into
``objects/`` before the index learns its key, so a crash at any point leaves either nothing
or a complete object: the cache never holds a partial file. Lookups are by key, not by
"last build", so reverting an edit hits the cache again.

Integrity is checked where it matters and nowhere else: a lookup only stats the object (a
null build stays cheap), but an object is digest-checked before it is *used* - read as the
input of a node being built, or copied into the output directory (``verify``). One whose
bytes no longer match its name is evicted with a warning, and the node is built again.
Outputs are copies, never hard links, so editing one cannot reach the cache; the stat of
each copy is recorded (``out:`` rows) so a null build reads neither the output nor its object.

``crashpoint`` is a test seam: ``SHOTMAKE_CRASH_AT=store.renamed:3`` SIGKILLs the process the
third time it passes that point, so tests/reliability/test_crash.py can kill a build between
any two steps of a write; ``SHOTMAKE_FAULT_AT=store.hashed:ENOSPC`` makes every pass fail with
that errno instead (tests/reliability/test_disk.py: a full disk or a read-only cache, as root).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import sqlite3
import stat
import sys
import threading
import time
from collections.abc import Collection, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from . import atomic
from .errors import CacheError
from .hashing import sha256_hex
from .index import Index, IndexDamaged
from .model import Artifact, Episode

CHUNK = 1 << 20
_UNKNOWN: Any = object()
_DIGEST = re.compile(r"[0-9a-f]{64}\Z")
_EXTENSION = re.compile(r"(\.[A-Za-z0-9]{1,16})?\Z")

_CRASH_AT = os.environ.get("SHOTMAKE_CRASH_AT", "")
_FAULT_AT = os.environ.get("SHOTMAKE_FAULT_AT", "")
_crash_passes: dict[str, int] = {}
_crash_lock = threading.Lock()


def crashpoint(name: str) -> None:
    """Die here, as a SIGKILL would, when ``SHOTMAKE_CRASH_AT`` is ``name:N`` and this is the N-th pass;
    fail with an ``OSError`` when ``SHOTMAKE_FAULT_AT`` is ``name:ERRNO`` (``ENOSPC``, ``EROFS``...)."""
    if _FAULT_AT:
        point, _, code = _FAULT_AT.partition(":")
        if point == name:
            number = getattr(errno, code, errno.EIO)
            raise OSError(number, os.strerror(number))
    if not _CRASH_AT:
        return
    point, _, nth = _CRASH_AT.partition(":")
    if point != name:
        return
    with _crash_lock:
        _crash_passes[name] = _crash_passes.get(name, 0) + 1
        if _crash_passes[name] == int(nth or 1):
            import signal  # a test's crash point only

            os.kill(os.getpid(), signal.SIGKILL)


def build_scope(episode: Episode) -> str:
    """The name an episode's build records go under in a cache that several projects may share.

    Two projects can both have an episode called ``pilot``: the absolute path of the spec tells
    them apart, so ``explain`` compares a node with *this* project's last build of it.
    """
    where = sha256_hex(str(Path(episode.source).resolve()).encode())[:12]
    return f"{episode.name}@{where}"


def file_digest(path: str | Path) -> str:
    """Return the hex SHA-256 of a file, read in 1 MiB chunks (constant memory)."""
    import hashlib  # OpenSSL's: renders are large

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
        self._objects_dir = os.path.join(self.objects, "")  # ends with the separator
        self.tmp = self.root / "tmp"
        self._warned: set[str] = set()
        try:
            # Owner-only: the cache holds paid renders and job metadata.
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.objects.mkdir(mode=0o700, exist_ok=True)
            self.tmp.mkdir(mode=0o700, exist_ok=True)
            (self.root / "index").mkdir(mode=0o700, exist_ok=True)
            self.index = Index(self.root / "index", check=valid_row, warn=lambda text: self._warn(text, text))
        except IndexDamaged as exc:
            raise CacheError(f"the cache index {self.root / 'index'} is damaged ({exc}); run `shotmake reindex` to "
                             "rebuild it from the stored renders and the job journal (nothing paid for is lost)") from exc
        except (OSError, sqlite3.Error) as exc:
            raise CacheError(_os_message(f"cannot open the cache at {self.root}", exc, self.root)) from exc
        #: Index entries read by ``prefetch`` (None: absent) or handed to ``remember``, kept current by ``_set``.
        self._known: dict[str, Any] = {}
        #: Node key -> artifact found by ``lookup`` in this process (or its ``_hit``, found by ``contains``).
        self._found: dict[str, Artifact | tuple[str, int, Any]] = {}
        #: Names whose entry came from ``remember``: re-read from the index if their object does not match.
        self._trusted: set[str] = set()
        #: Digests checked (or written) by this process: an object is immutable, hash it once.
        self._verified: set[str] = set()
        #: Keys ``contains`` takes as cached (``assume``).
        self._assumed: frozenset[str] = frozenset()

    # -- objects ----------------------------------------------------------------------------
    def object_path(self, digest: str, extension: str) -> Path:
        return self.objects / digest[:2] / f"{digest}{extension}"

    def temp_path(self, extension: str) -> Path:
        """A fresh path under ``tmp/`` for a render in progress."""
        return self.tmp / f"{os.urandom(16).hex()}{extension}"  # as uuid4().hex, without importing uuid

    def lookup(self, key: str) -> Artifact | None:
        """Return the artifact stored for ``key``, or None (also when its object vanished).

        A hit is remembered for this process (planning and the executor both ask about every
        node): the build lock keeps other builds and ``gc`` out, and this instance forgets
        a key when it stores under it and everything when it evicts a corrupt object.
        """
        hit = self._hit(key)
        if hit is None or isinstance(hit, Artifact):
            return hit
        path, size, entry = hit
        found = self._found[key] = Artifact(digest=entry["digest"], path=path, size=size, meta=entry.get("meta", {}))
        return found

    def contains(self, key: str) -> bool:
        """Whether ``key`` has an artifact (the same checks as ``lookup``, without making the record;
        a key handed to ``assume`` is taken as cached)."""
        return key in self._assumed or self._hit(key) is not None

    def assume(self, keys: Collection[str]) -> None:
        """Take ``keys`` as cached in ``contains`` (``freshness.cached_keys``: a plan's decision, with the
        trust of a null build); ``lookup``, which a build's executor asks, still checks them."""
        self._assumed = frozenset(keys)

    def assumes(self, key: str) -> bool:
        return key in self._assumed

    def _hit(self, key: str) -> Artifact | tuple[str, int, Any] | None:
        """``lookup``'s checks: an index entry whose object has the size it records. A hit is kept as
        ``(path, size, entry)`` until an ``Artifact`` is asked for (a plan only asks whether)."""
        found = self._found.get(key)
        if found is not None:
            return found
        name = f"node:{key}"
        entry = self._known.get(name, _UNKNOWN)
        remembered = False
        if entry is _UNKNOWN:
            entry = self.index.get(name)
        elif name in self._trusted:
            self._trusted.discard(name)
            remembered = True
        if entry is None:
            return None
        path, size = self._object_size(entry)
        if remembered and size != entry.get("size"):  # from an earlier run: the index may have moved on since
            entry = self._known[name] = self.index.get(name)
            if entry is None:
                return None
            path, size = self._object_size(entry)
        if size != entry["size"]:
            what = "missing" if size < 0 else f"{size} bytes instead of {entry['size']}"
            self._warn(key, f"{entry.get('meta', {}).get('node') or key[:16]}: its cached object is {what} "
                            f"({path}); it will be built again")
            return None
        hit = self._found[key] = (path, size, entry)
        return hit

    def _object_size(self, entry: Any) -> tuple[str, int]:
        """An index entry's object path and its size on disk (-1 when it is missing or the entry is malformed)."""
        try:
            digest = entry["digest"]  # a string path and os.stat: pathlib costs more than the stat itself
            # (as os.path.join(self.objects, digest[:2], digest + ext) makes it, at a third of the cost)
            path = f"{self._objects_dir}{digest[:2]}/{digest}{entry.get('ext', '')}"
        except (KeyError, TypeError):
            return "", -1
        try:
            return path, os.stat(path).st_size
        except OSError:
            return path, -1

    def prefetch(self, keys: Iterable[str]) -> None:
        """Read the index entries of many node keys at once, for the lookups that follow.

        A null build looks up every node: one SQL query per ``index.BATCH`` keys instead of
        a get each. Objects are still stat'ed at each lookup.
        """
        self._prefetch(f"node:{key}" for key in keys)

    def remember(self, entries: Mapping[str, Any]) -> None:
        """Take index entries (node key -> entry) read earlier, e.g. from a spec snapshot, as known.

        They spare ``prefetch`` its query; a lookup whose object does not match one re-reads the index.
        """
        for key, entry in entries.items():
            name = f"node:{key}"
            if name not in self._known and valid_row(name, entry):
                self._known[name] = entry
                self._trusted.add(name)

    def known_entries(self, keys: Iterable[str]) -> dict[str, Any]:
        """The index entries of ``keys`` read so far (by ``prefetch``, ``remember`` or lookups), absent ones left out."""
        known = self._known
        return {key: entry for key in keys if (entry := known.get(f"node:{key}")) is not None}

    def prefetch_previous(self, scope: str, node_ids: Iterable[str]) -> None:
        """Like ``prefetch``, for the build records ``previous`` reads."""
        self._prefetch(f"last:{scope}:{nid}" for nid in node_ids)

    def _prefetch(self, names: Iterable[str]) -> None:
        wanted = [name for name in dict.fromkeys(names) if name not in self._known]
        try:
            found = self.index.get_many(wanted)
        except sqlite3.Error as exc:
            raise CacheError(_os_message("cannot read the cache index", exc, self.root)) from exc
        for name in wanted:
            self._known[name] = found.get(name)

    def verify(self, artifact: Artifact, what: str = "") -> bool:
        """Digest-check an object before it is used; evict it, with a warning, if its bytes changed.

        Returns False when the object is corrupt or gone: the caller builds the node again.
        """
        if artifact.digest in self._verified:
            return True
        try:
            intact = file_digest(artifact.path) == artifact.digest
        except CacheError:  # vanished or unreadable since the lookup
            intact = False
        if intact:
            self._verified.add(artifact.digest)
            return True
        self._found.clear()  # every key naming this digest must miss from now on
        try:
            os.unlink(artifact.path)  # evict: every key naming this digest now misses
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise CacheError(_os_message(f"cannot evict the corrupt object {artifact.path}", exc)) from exc
        self._warn(artifact.digest, f"{what or artifact.digest[:16]}: its cached object {artifact.path} is corrupt "
                                    "(its bytes no longer match its digest); evicted, it will be rebuilt")
        return False

    def _warn(self, what: str, message: str) -> None:
        if what not in self._warned:
            self._warned.add(what)
            print(f"shotmake: warning: {message}", file=sys.stderr)

    def store(self, key: str, source: Path, meta: Mapping[str, Any] | None = None,
              digest: str | None = None) -> Artifact:
        """Move a finished file into the store under its digest and index it under ``key``.

        ``digest``: the SHA-256 of ``source`` when the caller hashed it while writing it (``remote.py``
        streams a download through the hash), so it is not read a second time.
        """
        extension = "".join(source.suffixes[-1:])
        try:
            digest = digest or file_digest(source)
            size = source.stat().st_size
            target = self.object_path(digest, extension)
            target.parent.mkdir(mode=0o700, exist_ok=True)
            crashpoint("store.hashed")
            # Same content already stored (under another key): keep it, unless it has rotted.
            if target.exists() and target.stat().st_size == size and file_digest(target) == digest:
                source.unlink()
            else:
                with open(source, "rb") as handle:
                    os.fsync(handle.fileno())
                os.chmod(source, 0o444)
                os.replace(source, target)
                _fsync_dir(target.parent)
            crashpoint("store.renamed")
        except OSError as exc:
            source.unlink(missing_ok=True)
            raise CacheError(_os_message("cannot store render", exc, self.root)) from exc
        kept = dict(meta or {})
        entry = {"digest": digest, "ext": extension, "size": size, "meta": kept, "stored": time.time()}
        self._set(f"node:{key}", entry)
        crashpoint("store.indexed")
        self._verified.add(digest)
        return Artifact(digest=digest, path=str(target), size=size, meta=kept)

    @staticmethod
    def entry_of(artifact: Artifact) -> dict[str, Any]:
        """The index entry of a stored artifact (the job journal keeps a copy for ``adopt``)."""
        return {"digest": artifact.digest, "ext": Path(artifact.path).suffix, "size": artifact.size,
                "meta": dict(artifact.meta), "stored": time.time()}

    def adopt(self, key: str, entry: Mapping[str, Any], what: str = "") -> Artifact | None:
        """Index ``key`` as ``entry`` again if its object is still here and intact; else None.

        How a lost or emptied index is repaired from the job journal: the object is found by
        the digest recorded at download and digest-checked before it is trusted.
        """
        entry = dict(entry)
        if not valid_row(f"node:{key}", entry):
            return None
        path, size = self._object_size(entry)
        if size != entry["size"]:
            return None
        artifact = Artifact(digest=entry["digest"], path=path, size=size, meta=entry.get("meta", {}))
        if not self.verify(artifact, what):
            return None
        self._set(f"node:{key}", entry)
        self._found[key] = artifact
        return artifact

    # -- build records (for `explain`) -------------------------------------------------------
    def record_build(self, episode: str, node_id: str, key: str, manifest: Mapping[str, Any]) -> None:
        """Remember the manifest a node id was last built from."""
        self._set(f"last:{episode}:{node_id}", {"key": key, "manifest": dict(manifest)})

    def previous(self, episode: str, node_id: str) -> dict[str, Any] | None:
        """The manifest recorded the last time ``node_id`` was built, or None."""
        entry = self._known.get(f"last:{episode}:{node_id}", _UNKNOWN)
        if entry is _UNKNOWN:
            entry = self.index.get(f"last:{episode}:{node_id}")
        return None if entry is None else entry["manifest"]

    def record_manifest(self, scope: str, node_id: str, key: str, manifest: Mapping[str, Any], keep: int = 8) -> None:
        """Add a manifest ``node_id`` was built from to its history (newest first, ``keep`` of them).

        ``plan`` explains a dirty node against the closest of these whose render is still
        cached, so a revert is not explained by an edit that was undone.
        """
        name = f"hist:{scope}:{node_id}"
        entry = self._known.get(name, _UNKNOWN)
        if entry is _UNKNOWN:
            entry = self.index.get(name)
        older = [r for r in (entry if isinstance(entry, list) else [])
                 if isinstance(r, dict) and isinstance(r.get("manifest"), dict) and r.get("key") != key]
        self._set(name, [{"key": key, "manifest": dict(manifest)}, *older][:keep])

    def manifests(self, scope: str, node_id: str) -> list[dict[str, Any]]:
        """The ``{"key", "manifest"}`` records ``node_id`` was built from, newest first (the last build's
        record alone for a cache written before histories were kept)."""
        name = f"hist:{scope}:{node_id}"
        entry = self._known.get(name, _UNKNOWN)
        if entry is _UNKNOWN:
            entry = self.index.get(name)
        records = [r for r in (entry if isinstance(entry, list) else [])
                   if isinstance(r, dict) and isinstance(r.get("key"), str) and isinstance(r.get("manifest"), dict)]
        if records:
            return records
        last = self._known.get(f"last:{scope}:{node_id}", _UNKNOWN)
        if last is _UNKNOWN:
            last = self.index.get(f"last:{scope}:{node_id}")
        return [last] if isinstance(last, dict) and isinstance(last.get("manifest"), dict) else []

    def prefetch_manifests(self, scope: str, node_ids: Iterable[str]) -> None:
        """Like ``prefetch``, for the histories ``manifests`` reads (and the last-build records behind them)."""
        ids = list(node_ids)
        self._prefetch(f"hist:{scope}:{nid}" for nid in ids)
        self._prefetch(f"last:{scope}:{nid}" for nid in ids if not self._known.get(f"hist:{scope}:{nid}"))

    def entries(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every ``(key, entry)`` of stored artifacts (rows of the wrong shape skipped, with a warning)."""
        for name, entry in self.index.items("node:"):
            yield name[5:], entry

    def _set(self, name: str, value: Any) -> None:
        if name.startswith("node:"):
            self._found.pop(name[5:], None)
        self._known.pop(name, None)
        self._trusted.discard(name)
        try:
            crashpoint("index.write")
            self.index.set(name, value)
        except (OSError, sqlite3.Error) as exc:  # SQLite says "database or disk is full", "disk I/O error"
            raise CacheError(_os_message("cannot write the cache index", exc, self.root)) from exc

    # -- outputs ------------------------------------------------------------------------------
    def materialize(self, artifact: Artifact, dest: Path, what: str = "") -> None:
        """Place a copy of an artifact at ``dest``, atomically; an identical file there is kept.

        A copy, never a hard link: editing an output must not change the cache (or every other
        output folder). The object is digest-checked first: a corrupt one is evicted and never
        reaches the output directory.
        """
        if self.output_current(dest, artifact):
            return
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not self.verify(artifact, what or str(dest)):
            raise CacheError(f"cannot write {dest}: its cached object was corrupt and has been evicted; "
                             "run the build again to render it again")
        if not output_matches(dest, artifact):
            atomic.sweep(dest)  # from a build killed between copy and rename
            try:
                crashpoint("materialize.staged")
                atomic.copy_file(artifact.path, dest)
            except OSError as exc:
                raise CacheError(_os_message(f"cannot write {dest}", exc)) from exc
        placed = _regular_stat(dest)
        if placed is not None:
            self._set(f"out:{os.path.abspath(dest)}", {"digest": artifact.digest, "stat": placed})

    def output_current(self, dest: Path, artifact: Artifact) -> bool:
        """Whether ``dest`` is the copy of ``artifact`` this cache placed, untouched since (by stat).

        Like git's index: a file whose size, mtime, inode and device are as recorded after the
        copy is not read again, so a null build hashes no output and no object.
        """
        placed = _regular_stat(dest)
        if placed is None:
            return False
        recorded = self._known.get(f"out:{os.path.abspath(dest)}", _UNKNOWN)
        if recorded is _UNKNOWN:
            recorded = self.index.get(f"out:{os.path.abspath(dest)}")
        return isinstance(recorded, dict) and recorded.get("digest") == artifact.digest and recorded["stat"] == placed

    # -- maintenance ---------------------------------------------------------------------------
    def gc(self, dry_run: bool = False, wait: bool = True) -> tuple[int, int]:
        """Delete objects no index entry references and leftover temp files (``collect.py`` has the
        policies that also drop superseded renders). Returns ``(files removed, bytes freed)``."""
        from .collect import Policy, collect

        done = collect(self, Policy(), dry_run=dry_run, wait=wait)
        return len(done.files), done.freed

    def forget(self, keys: Iterable[str]) -> None:
        """Drop the index entries of ``keys`` (``gc``; their objects are the caller's business)."""
        names = [f"node:{key}" for key in keys]
        try:
            self.index.delete(names)
        except sqlite3.Error as exc:
            raise CacheError(_os_message("cannot write the cache index", exc, self.root)) from exc
        for name in names:
            self._known.pop(name, None)
            self._found.pop(name[5:], None)

    def record_use(self, scope: str, keys: Iterable[str]) -> None:
        """Remember the cut a build of ``scope`` just used (``gc --keep-days`` keeps it); written
        only when the keys or the day changed, so a null build rewrites nothing."""
        name = f"used:{scope}"
        wanted = sorted(set(keys))
        today = time.strftime("%Y-%m-%d")
        old = self.index.get(name)
        if isinstance(old, dict) and old.get("keys") == wanted and old.get("day") == today:
            return
        self._set(name, {"keys": wanted, "day": today, "time": time.time()})

    def used_since(self, cutoff: float) -> set[str]:
        """Keys of every cut recorded by ``record_use`` at or after ``cutoff``."""
        return {key for _, row in self.index.items("used:") if row["time"] >= cutoff for key in row["keys"]}

    def forget_uses_before(self, cutoff: float) -> None:
        self.index.delete(name for name, row in list(self.index.items("used:")) if row["time"] < cutoff)

    @contextlib.contextmanager
    def build_lock(self, wait: bool = True) -> Iterator[None]:
        """Hold the cache's build lock (one build per cache at a time, like a Make jobserver)."""
        path = self.root / "lock"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)  # never through a planted link
        except OSError as exc:
            raise CacheError(_os_message("cannot take the build lock", exc, self.root)) from exc
        with os.fdopen(fd, "r+") as handle:
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


def _regular_stat(path: Path) -> list[int] | None:
    """``[size, mtime_ns, inode, device]`` of a regular file (None for a symlink, a folder, nothing)."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev] if stat.S_ISREG(st.st_mode) else None


def output_matches(dest: Path, artifact: Artifact) -> bool:
    """Whether the regular file at ``dest`` holds exactly the artifact's bytes (a symlink never does)."""
    try:
        st = os.lstat(dest)
    except OSError:
        return False
    if not stat.S_ISREG(st.st_mode) or st.st_size != artifact.size:
        return False
    try:
        return file_digest(dest) == artifact.digest
    except CacheError:
        return False


def valid_row(name: str, value: Any) -> bool:
    """Whether an index row has the shape shotmake writes (anything else is someone else's row)."""
    if name.startswith("node:"):  # first: a plan reads one per node
        if not isinstance(value, dict):
            return False
        digest, ext, size = value.get("digest"), value.get("ext", ""), value.get("size")
        return (isinstance(digest, str) and _DIGEST.match(digest) is not None and isinstance(ext, str)
                and _EXTENSION.match(ext) is not None and isinstance(size, int) and size >= 0
                and isinstance(value.get("meta", {}), dict))
    if name.startswith("hist:"):  # a node id's recent manifests, newest first (plan's reasons)
        return isinstance(value, list) and all(
            isinstance(r, dict) and isinstance(r.get("key"), str) and isinstance(r.get("manifest"), dict)
            for r in value)
    if not isinstance(value, dict):
        return False
    if name.startswith("last:"):
        return isinstance(value.get("key"), str) and isinstance(value.get("manifest"), dict)
    if name.startswith("used:"):
        return (isinstance(value.get("keys"), list) and all(isinstance(k, str) for k in value["keys"])
                and isinstance(value.get("time"), (int, float)))
    if name.startswith("out:"):
        return isinstance(value.get("digest"), str) and isinstance(value.get("stat"), list)
    return True


def _os_message(what: str, exc: OSError | sqlite3.Error, root: Path | None = None) -> str:
    """Say what failed and how to fix it, for the errors a full disk or a read-only cache causes."""
    elsewhere = "point --cache-dir or SHOTMAKE_CACHE at a writable directory"
    if isinstance(exc, sqlite3.Error):  # SQLite hides the errno: "database or disk is full", "disk I/O error"
        return (f"{what}: {exc} (is the disk full, or the cache not writable? free some space or "
                f"{elsewhere}, and run the build again; nothing was lost)")
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return f"{what}: no space left on device (free some space and run the build again; nothing was lost)"
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return (f"{what}: the cache is not writable ({exc.strerror}); make {root or 'it'} writable, "
                f"or {elsewhere}")
    if exc.errno == errno.ELOOP:
        return f"{what}: {exc.filename or 'it'} is a symbolic link (shotmake never writes through one; remove it)"
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        return f"{what}: not a directory (a file is in the way; move it, or {elsewhere})"
    return f"{what}: {exc.strerror or exc}"
