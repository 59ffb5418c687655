"""Provider health for one build: backoff, a shared retry budget, circuit breakers, request windows.

Every worker thread of a build shares one ``Health``. Clock, sleep and randomness are injected
so tests run in zero wall time::

    health = Health(breaker_failures=3, requests_per_minute={"veo-3.1": 10}, clock=fake.now, sleep=fake.sleep)
    health.admit("veo-3.1")          # before a create: raises CircuitOpen, or waits for the window
    health.failure("veo-3.1")        # a transient failure (429, 5xx, reset)
    health.delay(attempt=2, retry_after=None)   # seconds to wait before the next attempt

* **Backoff** is exponential with *full jitter* (a uniform draw in ``[0, min(cap, base·2^(n-1))]``,
  AWS architecture blog "Exponential Backoff and Jitter"), so many workers that failed together
  do not retry together; a server's ``Retry-After`` is a floor, honoured up to ``RETRY_AFTER_MAX``.
* **Retry budget**: retries per build, shared by every node; when it is spent, transient errors
  fail their node instead of retrying (a provider in trouble cannot burn the night).
* **Circuit breaker** per provider: ``failures`` consecutive transient failures open it; while
  open, creates fail fast (``CircuitOpen``, a ``ProviderUnavailable``: the executor tries the
  fallback routes); after ``cooldown`` one probe is let through (half-open): success closes it,
  failure opens it again. Polls of jobs that already exist are not gated: their result is paid for.
* **Request window** per provider: at most ``requests_per_minute`` create calls in any 60 s
  (a sliding window shared by threads); a caller over the quota sleeps until a slot frees.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from .errors import ProviderUnavailable

#: A server asking for more than this many seconds is still waited for, but no longer.
RETRY_AFTER_MAX = 600.0
WINDOW = 60.0

Clock = Callable[[], float]
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter; ``retry_after`` from the server is a floor."""

    base: float = 2.0
    cap: float = 120.0

    def ceiling(self, attempt: int) -> float:
        """The upper bound of the jittered delay before retry number ``attempt`` (1-based)."""
        return min(self.cap, self.base * 2.0 ** max(0, attempt - 1))

    def delay(self, attempt: int, retry_after: float | None, draw: float) -> float:
        """Seconds to wait before retry ``attempt``; ``draw`` is uniform in [0, 1)."""
        jittered = self.ceiling(attempt) * draw
        if retry_after is None:
            return jittered
        return max(min(max(0.0, retry_after), RETRY_AFTER_MAX), jittered)


class CircuitOpen(ProviderUnavailable):
    """A provider's circuit is open: it failed too often just now, so no new work goes to it."""


class RetryBudget:
    """A count of retries shared by every node of a build."""

    def __init__(self, retries: int) -> None:
        self.total = max(0, retries)
        self._left = self.total
        self._lock = threading.Lock()

    @property
    def left(self) -> int:
        return self._left

    def take(self) -> bool:
        """Spend one retry; False when none is left."""
        with self._lock:
            if self._left <= 0:
                return False
            self._left -= 1
            return True


State = Literal["closed", "open", "half-open"]


class CircuitBreaker:
    """One provider's breaker (see the module docstring for the states)."""

    def __init__(self, name: str, failures: int = 5, cooldown: float = 300.0, clock: Clock = time.monotonic) -> None:
        self.name = name
        self.threshold = max(1, failures)
        self.cooldown = cooldown
        self.clock = clock
        self.state: State = "closed"
        self.consecutive = 0
        self.opened_at = 0.0
        self.reason = ""
        #: The vendor said the route's model is gone: open for the rest of the build, no probes.
        self.gone = False
        self._probing = False
        self._lock = threading.Lock()

    def admit(self) -> None:
        """Let a create through, or raise ``CircuitOpen``. After the cool-down, one probe passes."""
        with self._lock:
            if self.gone:
                raise CircuitOpen(f"{self.reason}; no new jobs go to {self.name} in this build", provider=self.name)
            if self.state == "closed":
                return
            if self.state == "open":
                left = self.opened_at + self.cooldown - self.clock()
                if left > 0:
                    raise CircuitOpen(
                        f"circuit open: {self.reason}; no new jobs go to {self.name} for {left:.0f}s more",
                        provider=self.name)
                self.state = "half-open"
            if self._probing:
                raise CircuitOpen(f"circuit half-open: a probe job is testing {self.name}; not sending more "
                                  "until it answers", provider=self.name)
            self._probing = True

    def success(self) -> None:
        """A call reached a healthy provider (it answered, even with a refusal)."""
        with self._lock:
            if self.gone:  # a poll of an older job still answers; the model stays gone
                return
            self.consecutive = 0
            self._probing = False
            self.state = "closed"

    def failure(self, why: str = "") -> None:
        """A transient failure (429, 5xx, overload, connection reset)."""
        with self._lock:
            self.consecutive += 1
            if self.state == "half-open" or self.consecutive >= self.threshold:
                self._open(f"{self.consecutive} failures in a row" + (f", last: {why[:200]}" if why else ""))

    def trip(self, why: str, *, for_build: bool = False) -> None:
        """Open at once (the provider is unavailable); ``for_build``: its model is gone, never probe again."""
        with self._lock:
            self._open(why[:300])
            self.gone = self.gone or for_build

    def release(self) -> None:
        """A probe ended without a verdict (e.g. a bug): let the next caller probe."""
        with self._lock:
            self._probing = False

    def _open(self, reason: str) -> None:
        self.state = "open"
        self.opened_at = self.clock()
        self.reason = reason
        self._probing = False


class RequestWindow:
    """At most ``per_minute`` calls in any sliding 60 s, shared by threads."""

    def __init__(self, per_minute: float, clock: Clock = time.monotonic, sleep: Sleep = time.sleep) -> None:
        self.limit = max(1, int(per_minute))
        self.clock = clock
        self.sleep = sleep
        self._calls: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take a slot, sleeping while the window is full; return the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self.clock()
                while self._calls and now - self._calls[0] >= WINDOW:
                    self._calls.popleft()
                if len(self._calls) < self.limit:
                    self._calls.append(now)
                    return waited
                wait = self._calls[0] + WINDOW - now
            # Sleep outside the lock so other threads can still see the window.
            self.sleep(wait)
            waited += wait


class Health:
    """The build-wide health state shared by every worker (see the module docstring)."""

    def __init__(
        self,
        *,
        max_attempts: int = 6,
        retry_budget: int = 50,
        backoff: Backoff = Backoff(),
        breaker_failures: int = 5,
        breaker_cooldown: float = 300.0,
        requests_per_minute: Mapping[str, float] | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.max_attempts = max(1, max_attempts)
        self.retries = RetryBudget(retry_budget)
        self.backoff = backoff
        self.clock = clock
        self.sleep = sleep
        self.draw = draw
        self._failures = breaker_failures
        self._cooldown = breaker_cooldown
        self._breakers: dict[str, CircuitBreaker] = {}
        self._windows = {name: RequestWindow(rpm, clock, sleep) for name, rpm in (requests_per_minute or {}).items()}
        self._lock = threading.Lock()

    def breaker(self, provider: str) -> CircuitBreaker:
        with self._lock:
            if provider not in self._breakers:
                self._breakers[provider] = CircuitBreaker(provider, self._failures, self._cooldown, self.clock)
            return self._breakers[provider]

    def admit(self, provider: str) -> float:
        """Before a create call: raise ``CircuitOpen``, else wait for the request window; return the wait."""
        self.breaker(provider).admit()
        window = self._windows.get(provider)
        return window.acquire() if window is not None else 0.0

    def success(self, provider: str) -> None:
        self.breaker(provider).success()

    def failure(self, provider: str, why: str = "") -> None:
        self.breaker(provider).failure(why)

    def trip(self, provider: str, why: str, *, for_build: bool = False) -> None:
        self.breaker(provider).trip(why, for_build=for_build)

    def release(self, provider: str) -> None:
        self.breaker(provider).release()

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry ``attempt`` (jittered; the server's hint is a floor)."""
        return self.backoff.delay(attempt, retry_after, self.draw())
