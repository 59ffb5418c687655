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
the user says ``--resubmit-uncertain``. API keys never reach this file: only ids and states.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

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
    updated    REAL NOT NULL
)
"""


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

    @property
    def uncertain(self) -> bool:
        """True when a create call may have happened but its job id was never recorded."""
        return self.phase == "intent"

    @property
    def rejected(self) -> bool:
        """True when the provider refused this exact request for good in an earlier build."""
        return self.phase == "rejected"

    @property
    def resumable(self) -> bool:
        """True when the job exists remotely and has not been downloaded or failed."""
        return self.job_id is not None and self.phase in ("submitted", "running")


class Journal:
    """SQLite-backed journal at ``path`` (synchronous=FULL: a record survives a crash)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(_SCHEMA)
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
        """Record the remote job id the moment it is known."""
        self._write(
            "UPDATE jobs SET phase='submitted', job_id=?, cost_usd=?, updated=? WHERE key=?",
            (job_id, cost_usd, time.time(), key),
        )

    def progress(self, key: str, fraction: float | None) -> None:
        self._write("UPDATE jobs SET phase='running', progress=?, updated=? WHERE key=?", (fraction, time.time(), key))

    def downloaded(self, key: str) -> None:
        self._write("UPDATE jobs SET phase='downloaded', progress=1, updated=? WHERE key=?", (time.time(), key))

    def failed(self, key: str, error: str) -> None:
        self._write("UPDATE jobs SET phase='failed', error=?, updated=? WHERE key=?",
                    (redact(error)[:2000], time.time(), key))

    def rejected(self, key: str, error: str) -> None:
        """Record a terminal refusal: the next build does not send the same request again."""
        self._write("UPDATE jobs SET phase='rejected', error=?, updated=? WHERE key=?",
                    (redact(error)[:2000], time.time(), key))

    def get(self, key: str) -> JobRecord | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE key=?", (key,)).fetchone()
        return None if row is None else JobRecord(*row)

    def recent(self, limit: int = 50, active_only: bool = False) -> list[JobRecord]:
        """Jobs by most recent update; ``active_only`` keeps intent/submitted/running ones."""
        where = "WHERE phase IN ('intent','submitted','running')" if active_only else ""
        with self._lock:
            rows = self._db.execute(f"SELECT * FROM jobs {where} ORDER BY updated DESC LIMIT ?", (limit,)).fetchall()
        return [JobRecord(*row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
