"""The job journal: a durable record of every remote job, so a paid job is never created twice.

Protocol, per node key:

1. ``intent``    written (and fsynced by SQLite) *before* the create call;
2. ``submitted`` written the moment the provider returns a job id;
3. ``running`` / ``downloaded`` / ``failed`` as the job moves on; ``rejected`` when the
   provider refused the request for good (moderation, RAI filter, invalid argument, output
   expired): the same request would be refused (or paid for) again, so the next build does
   not resubmit it unless the user says ``--resubmit-rejected``.

After a crash, a key with a job id is resumed (poll, download); a key stuck at ``intent``
has an *uncertain* create: the request may have reached the server. The executor then asks
the provider to reconcile (Sora lists recent jobs) and otherwise refuses to resubmit unless
the user says ``--resubmit-uncertain``. A create that failed before a byte left the machine
is ``forget``-ten: nothing exists remotely. API keys never reach this file: only ids and states.

``downloaded`` keeps the render's cache index entry (digest, size, metadata), so a lost or
damaged cache index never means paying again: the executor finds the object by its digest
(or downloads the job again), and ``shotmake reindex`` rebuilds the index from these rows.

Job ids come from servers: only ids matching ``JOB_ID`` (no control characters, spaces or
``..`` segments, at most 512 characters) are stored or resumed.

Rollback journal with ``synchronous=FULL``, no WAL: every recorded state is in
``journal.sqlite`` itself, so a copy of that one file (without a ``-wal`` beside it) still
knows every job in flight.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .errors import CacheError
from .redaction import redact

JobPhase = Literal["intent", "submitted", "running", "downloaded", "failed", "rejected"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    key        TEXT PRIMARY KEY,
    node       TEXT NOT NULL,
    episode    TEXT NOT NULL,
    provider   TEXT NOT NULL,
    phase      TEXT NOT NULL,
    job_id     TEXT,
    progress   REAL,
    error      TEXT,
    cost_usd   REAL NOT NULL DEFAULT 0,
    created    REAL NOT NULL,
    updated    REAL NOT NULL,
    entry      TEXT
)
"""
_COLUMNS = "key, node, episode, provider, phase, job_id, progress, error, cost_usd, created, updated, entry"
#: A job id shotmake stores and sends back: printable, no spaces, no ``..`` path segment.
JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~:/@+=-]{0,511}\Z")


def valid_job_id(job_id: object) -> bool:
    """Whether a server's job id is safe to store, print and put in a URL path."""
    return isinstance(job_id, str) and bool(JOB_ID.match(job_id)) and ".." not in job_id.split("/")


@dataclass(frozen=True)
class JobRecord:
    """One remote job as last recorded."""

    key: str
    node: str
    episode: str
    provider: str
    phase: JobPhase
    job_id: str | None
    progress: float | None
    error: str | None
    cost_usd: float
    created: float
    updated: float
    #: The cache index entry of the downloaded render (JSON), for ``downloaded`` jobs.
    entry: str | None = None

    @property
    def uncertain(self) -> bool:
        """True when a create call may have happened but no usable job id was recorded."""
        return self.phase == "intent" or (self.phase in ("submitted", "running") and not valid_job_id(self.job_id))

    @property
    def downloaded(self) -> bool:
        """True when an earlier build downloaded this job's render (paid for: never created again)."""
        return self.phase == "downloaded"

    def index_entry(self) -> dict[str, Any] | None:
        """The cache index entry recorded at download, or None."""
        try:
            value = json.loads(self.entry) if self.entry else None
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    @property
    def rejected(self) -> bool:
        """True when the provider refused this exact request for good in an earlier build."""
        return self.phase == "rejected"

    @property
    def resumable(self) -> bool:
        """True when the job exists remotely and has not been downloaded or failed."""
        return valid_job_id(self.job_id) and self.phase in ("submitted", "running")


class Journal:
    """SQLite-backed journal at ``path`` (synchronous=FULL: a record survives a crash)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        if self.path.is_symlink():
            raise CacheError(f"the job journal {self.path} is a symbolic link (shotmake never writes through one; "
                             "remove it)")
        try:
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
            # DELETE, not WAL: a journal written by an older shotmake is checkpointed into the file here.
            self._db.execute("PRAGMA journal_mode=DELETE")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
            if "entry" not in columns:
                self._db.execute("ALTER TABLE jobs ADD COLUMN entry TEXT")
        except sqlite3.Error as exc:
            raise CacheError(f"cannot open the job journal {self.path}: {exc}") from exc

    def _write(self, sql: str, args: tuple[object, ...]) -> None:
        with self._lock:
            try:
                self._db.execute(sql, args)
            except sqlite3.Error as exc:
                raise CacheError(f"cannot write the job journal {self.path}: {exc}") from exc

    def intent(self, key: str, node: str, episode: str, provider: str) -> None:
        """Record that a create call is about to be made for ``key``."""
        now = time.time()
        self._write(
            "INSERT INTO jobs(key,node,episode,provider,phase,job_id,progress,error,cost_usd,created,updated) "
            "VALUES(?,?,?,?, 'intent', NULL, NULL, NULL, 0, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET node=excluded.node, episode=excluded.episode, "
            "provider=excluded.provider, phase='intent', job_id=NULL, progress=NULL, error=NULL, "
            "created=excluded.created, updated=excluded.updated",
            (key, node, episode, provider, now, now),
        )

    def submitted(self, key: str, job_id: str, cost_usd: float = 0.0) -> None:
        """Record the remote job id the moment it is known (the caller checked ``valid_job_id``)."""
        if not valid_job_id(job_id):
            raise ValueError(f"not a job id shotmake stores: {job_id[:80]!r}")
        self._write(
            "UPDATE jobs SET phase='submitted', job_id=?, cost_usd=?, updated=? WHERE key=?",
            (job_id, cost_usd, time.time(), key),
        )

    def progress(self, key: str, fraction: float | None) -> None:
        self._write("UPDATE jobs SET phase='running', progress=?, updated=? WHERE key=?", (fraction, time.time(), key))

    def downloaded(self, key: str, entry: Mapping[str, Any] | None = None) -> None:
        """Record that the job's render is in the cache, with its index ``entry`` (digest, size, meta)."""
        text = json.dumps(dict(entry), sort_keys=True, separators=(",", ":")) if entry is not None else None
        self._write("UPDATE jobs SET phase='downloaded', progress=1, entry=COALESCE(?, entry), updated=? WHERE key=?",
                    (text, time.time(), key))

    def forget(self, key: str) -> None:
        """Drop a key's record: its create never left the machine, or ``gc`` removed its render."""
        self._write("DELETE FROM jobs WHERE key=?", (key,))

    def failed(self, key: str, error: str) -> None:
        self._write("UPDATE jobs SET phase='failed', error=?, updated=? WHERE key=?",
                    (redact(error)[:2000], time.time(), key))

    def rejected(self, key: str, error: str) -> None:
        """Record a terminal refusal: the next build does not send the same request again."""
        self._write("UPDATE jobs SET phase='rejected', error=?, updated=? WHERE key=?",
                    (redact(error)[:2000], time.time(), key))

    def get(self, key: str) -> JobRecord | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE key=?", (key,)).fetchone()
        return None if row is None else JobRecord(*row)

    def downloads(self) -> list[JobRecord]:
        """Every downloaded job (``reindex`` rebuilds the cache index from their entries)."""
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE phase='downloaded'").fetchall()
        return [JobRecord(*row) for row in rows]

    def recent(self, limit: int = 50, active_only: bool = False) -> list[JobRecord]:
        """Jobs by most recent update; ``active_only`` keeps intent/submitted/running ones."""
        where = "WHERE phase IN ('intent','submitted','running')" if active_only else ""
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM jobs {where} ORDER BY updated DESC LIMIT ?", (limit,)).fetchall()
        return [JobRecord(*row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
