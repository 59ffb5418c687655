"""The cache index: one SQLite table from a name (``node:<key>``, ``last:<scope>:<node>``...) to JSON.

Plain ``sqlite3`` and ``json``, nothing that can unpickle: a cache directory may be shared,
so its index is input written by other people. A row whose value is not JSON of the expected
shape (``check`` decides) is skipped with a warning that names it, never interpreted.

Rollback journal (``journal_mode=DELETE``) with ``synchronous=FULL``: every committed entry
is in ``index.sqlite`` itself, so a copy of that one file holds the whole index (a WAL file
left behind would silently take the newest entries with it).

Caches written before this module (diskcache's ``cache.db`` with zlib-compressed JSON values)
are imported once, by raw SQL, when ``index.sqlite`` does not exist yet.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

FILE = "index.sqlite"
#: diskcache's database (before this module): imported once, read as JSON only.
LEGACY_FILE = "cache.db"
#: Names per SQL query in ``get_many`` (SQLite's oldest variable limit is 999).
BATCH = 500

#: ``json.loads`` without its layers of Python around the C scanner (a plan decodes a row per node):
#: ``(value, end)`` for the JSON value at an index, StopIteration when there is none.
_SCAN: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_SCHEMA = "CREATE TABLE IF NOT EXISTS entries (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID"


class IndexDamaged(Exception):
    """The index file is not a readable SQLite database (the caller words the way out)."""


def _connect(path: Path) -> sqlite3.Connection:
    if path.is_symlink():  # SQLite follows links: a planted one would write elsewhere
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), str(path))
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
    try:
        db.execute("PRAGMA journal_mode=DELETE")
        db.execute("PRAGMA synchronous=FULL")
        db.execute(_SCHEMA)
    except sqlite3.DatabaseError:
        db.close()
        raise
    return db


class Index:
    """Name -> JSON value. ``check(name, value)`` says whether a decoded row has the expected shape;
    ``warn(message)`` is told about every row that is skipped."""

    def __init__(self, folder: Path, check: Callable[[str, Any], bool], warn: Callable[[str], None]) -> None:
        self.folder = folder
        self.path = folder / FILE
        self._check = check
        self._warn = warn
        self._lock = threading.RLock()
        self._depth = 0
        fresh = not self.path.exists()
        if fresh and (folder / LEGACY_FILE).exists():
            self._import_legacy()
        try:
            self._db = _connect(self.path)
            self._db.execute("SELECT COUNT(*) FROM entries").fetchone()
        except sqlite3.OperationalError:
            raise  # locked, unwritable, full: the caller words it
        except sqlite3.DatabaseError as exc:  # "file is not a database", "disk image is malformed"
            raise IndexDamaged(str(exc)) from exc

    # -- reading ---------------------------------------------------------------------------------
    def _decode(self, name: Any, raw: Any) -> Any:
        """A row's value, or None (with a warning) when it is not JSON of the expected shape."""
        value: Any
        try:
            value, end = _SCAN(raw, 0)  # the rows ``set`` writes: one JSON value, no space around it
            if end != len(raw):
                raise ValueError("extra data")
        except (StopIteration, ValueError, TypeError, RecursionError):
            try:  # anything else as json.loads reads it (bytes, spaces around the value, errors)
                value = json.loads(raw) if isinstance(raw, (str, bytes)) else None
            except (ValueError, RecursionError):
                value = None
        if value is None or not isinstance(name, str) or not self._check(name, value):
            self._warn(f"cache index row {str(name)[:80]!r} in {self.path} is not an entry shotmake wrote "
                       "(ignored; a shared cache may hold rows written by others)")
            return None
        return value

    def get(self, name: str) -> Any | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM entries WHERE name=?", (name,)).fetchone()
        return None if row is None else self._decode(name, row[0])

    def get_many(self, names: Iterable[str]) -> dict[str, Any]:
        """The entries of ``names`` that exist (one query per ``BATCH`` names)."""
        wanted = list(dict.fromkeys(names))
        found: dict[str, Any] = {}
        with self._lock:
            for start in range(0, len(wanted), BATCH):
                batch = wanted[start:start + BATCH]
                rows = self._db.execute(f"SELECT name, value FROM entries WHERE name IN ({','.join('?' * len(batch))})",
                                        batch).fetchall()
                for name, raw in rows:
                    value = self._decode(name, raw)
                    if value is not None:
                        found[name] = value
        return found

    def items(self, prefix: str = "") -> Iterator[tuple[str, Any]]:
        """Every ``(name, value)`` whose name starts with ``prefix``, rows of the wrong shape skipped."""
        with self._lock:
            rows = self._db.execute("SELECT name, value FROM entries WHERE substr(name, 1, ?) = ? ORDER BY name",
                                    (len(prefix), prefix)).fetchall()
        for name, raw in rows:
            value = self._decode(name, raw)
            if value is not None:
                yield name, value

    def names(self, prefix: str = "") -> list[str]:
        """Every row name starting with ``prefix``, whatever its value."""
        with self._lock:
            rows = self._db.execute("SELECT name FROM entries WHERE substr(name, 1, ?) = ?",
                                    (len(prefix), prefix)).fetchall()
        return [name for (name,) in rows if isinstance(name, str)]

    # -- writing ---------------------------------------------------------------------------------
    def set(self, name: str, value: Any) -> None:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"))
        with self._lock:
            self._db.execute("INSERT INTO entries(name, value) VALUES(?, ?) "
                             "ON CONFLICT(name) DO UPDATE SET value=excluded.value", (name, text))

    def delete(self, names: Iterable[str]) -> None:
        with self._lock, self.transaction():
            for name in names:
                self._db.execute("DELETE FROM entries WHERE name=?", (name,))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes into one commit (nested uses join the outer one)."""
        with self._lock:
            self._depth += 1
            if self._depth == 1:
                self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._depth -= 1
                if self._depth == 0:
                    self._db.execute("ROLLBACK")
                raise
            self._depth -= 1
            if self._depth == 0:
                self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- diskcache's index, once ------------------------------------------------------------------
    def _import_legacy(self) -> None:
        """Copy the JSON rows of diskcache's ``cache.db`` into a new ``index.sqlite`` (atomically).

        Only rows diskcache's JSONDisk wrote are read: raw keys and raw or file values of
        zlib-compressed JSON. Anything else (a pickled row) is skipped with a warning.
        """
        temp = self.folder / f".{FILE}.import-{os.getpid()}"
        temp.unlink(missing_ok=True)
        rows: list[tuple[str, str]] = []
        try:
            with contextlib.closing(sqlite3.connect(f"file:{self.folder / LEGACY_FILE}?mode=ro", uri=True)) as old:
                found = old.execute("SELECT key, raw, mode, filename, value FROM Cache").fetchall()
        except sqlite3.Error as exc:
            self._warn(f"cannot read the old cache index {self.folder / LEGACY_FILE} ({exc}); starting a new one "
                       "(`shotmake reindex` recovers paid renders from the job journal)")
            return
        for key, raw, mode, filename, value in found:
            name = _legacy_json(key) if raw else None
            data: Any = None
            if mode == 1:  # MODE_RAW: the value inline
                data = value
            elif mode == 2 and isinstance(filename, str) and _inside(filename):
                with contextlib.suppress(OSError):
                    data = (self.folder / filename).read_bytes()
            decoded = _legacy_json(data) if data is not None else None
            if not isinstance(name, str) or decoded is None or not self._check(name, decoded):
                self._warn(f"cache index row {str(name if name is not None else key)[:80]!r} in "
                           f"{self.folder / LEGACY_FILE} is not an entry shotmake wrote (not imported)")
                continue
            rows.append((name, json.dumps(decoded, sort_keys=True, separators=(",", ":"))))
        db = _connect(temp)
        try:
            with db:
                db.execute("BEGIN")
                db.executemany("INSERT OR REPLACE INTO entries(name, value) VALUES(?, ?)", rows)
        finally:
            db.close()
        os.replace(temp, self.path)


def _legacy_json(data: Any) -> Any:
    """A diskcache JSONDisk key or value: zlib-compressed JSON bytes (None if it is not that)."""
    if not isinstance(data, bytes):
        return None
    try:
        return json.loads(zlib.decompress(data))
    except (zlib.error, ValueError, RecursionError):
        return None


def _inside(filename: str) -> bool:
    """A diskcache value file name that stays inside the index folder."""
    parts = Path(filename).parts
    return bool(parts) and not Path(filename).is_absolute() and ".." not in parts
