"""What the executors of one batch build share: ``-j`` node slots, per-route slots, one builder per key.

A batch (``batch.py``) runs one ``Executor`` per episode, all at once, so a provider's
``[limits] concurrency`` and ``-j`` must hold across them: an executor starts a node only when
``Capacity.try_acquire`` grants a slot, and gives it back with ``release`` (which wakes the
executors waiting for one). Two episodes that need the same node (a sheet of the series bible)
must not render it twice: ``building(key)`` lets one of them build it while the other waits,
then finds it in the cache.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping


class Capacity:
    """``jobs`` nodes at once over every executor of a run, ``limits[route]`` per route."""

    def __init__(self, jobs: int, limits: Mapping[str, int] | None = None) -> None:
        self.jobs = max(1, jobs)
        self.limits = dict(limits or {})
        self._changed = threading.Condition()
        self._running = 0
        self._by_route: dict[str, int] = {}
        self._keys: dict[str, threading.Lock] = {}
        #: The most nodes and per-route jobs ever in flight at once (tests assert the limits held).
        self.peak = 0
        self.peak_by_route: dict[str, int] = {}

    def try_acquire(self, route: str) -> bool:
        """Take a slot for a node on ``route`` if one is free (never blocks)."""
        with self._changed:
            if self._running >= self.jobs or self._by_route.get(route, 0) >= self.limits.get(route, self.jobs):
                return False
            self._running += 1
            self._by_route[route] = self._by_route.get(route, 0) + 1
            self.peak = max(self.peak, self._running)
            self.peak_by_route[route] = max(self.peak_by_route.get(route, 0), self._by_route[route])
            return True

    def release(self, route: str) -> None:
        """Give a slot back and wake the executors waiting for one."""
        with self._changed:
            self._running -= 1
            self._by_route[route] -= 1
            self._changed.notify_all()

    def wait(self, timeout: float) -> None:
        """Sleep until a slot is released (or ``timeout`` seconds: a node of this executor may finish)."""
        with self._changed:
            self._changed.wait(timeout)

    @contextlib.contextmanager
    def building(self, key: str) -> Iterator[None]:
        """Hold the right to build ``key``: a second builder of the same key waits for the first."""
        with self._changed:
            lock = self._keys.setdefault(key, threading.Lock())
        with lock:
            yield
