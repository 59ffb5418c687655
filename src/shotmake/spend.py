"""The daily spend ledger: what paid renders cost per UTC day, kept in the cache, and the cap on it.

A nightly job that is re-run (by hand, by a retry policy, by two schedulers) must not pass
``[budget] daily`` in ``shotmake.toml``. ``--budget`` bounds one build; this ledger bounds a
day across every build on the cache: each actual charge is added to ``<cache>/spend.json``
as it is booked, and a build refuses before submitting when its estimate plus today's spend
would pass the cap (``DailyCap``), and stops submitting paid jobs when the cap is reached.

The file is JSON (never pickle: a cache may be shared, so its files are input written by
others), replaced atomically (``atomic.py``) under an exclusive ``flock`` on ``spend.lock``,
so two processes adding at once never lose an addition. A ledger that is not JSON of the
expected shape is an error, not a zero: an unreadable ledger must not let a job spend twice.

    {"format": 1, "days": {"2026-11-29": {"usd": 12.4, "renders": 9}}}
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import atomic
from .costs import SpendLimit
from .errors import CacheError

FILE = "spend.json"
LOCK = "spend.lock"
FORMAT = 1
#: Days kept in the ledger (older ones are dropped when it is written).
KEEP_DAYS = 90


def utc_today() -> datetime.date:
    """The UTC date: the cap is per UTC day, wherever the runner's clock zone is."""
    return datetime.datetime.now(datetime.UTC).date()


@dataclass(frozen=True)
class Day:
    """What paid renders cost on one UTC day."""

    date: str
    usd: float
    renders: int


class Ledger:
    """``<cache_dir>/spend.json``: read and add spend per UTC day (``today`` is injected for tests)."""

    def __init__(self, cache_dir: Path, today: Callable[[], datetime.date] = utc_today) -> None:
        self.folder = Path(cache_dir)
        self.path = self.folder / FILE
        self.today = today

    def spent_today(self) -> Day:
        """Today's spend so far (zero on a day with none, or with no ledger yet)."""
        return self.day(self.today().isoformat())

    def day(self, date: str) -> Day:
        found = self._read().get(date, {"usd": 0.0, "renders": 0})
        return Day(date, float(found["usd"]), int(found["renders"]))

    def add(self, usd: float, renders: int = 1) -> Day:
        """Book ``usd`` on today's date, atomically with respect to other writers; return the new total."""
        date = self.today().isoformat()
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._locked():
            days = self._read()
            old = days.get(date, {"usd": 0.0, "renders": 0})
            days[date] = {"usd": round(float(old["usd"]) + usd, 6), "renders": int(old["renders"]) + renders}
            keep = sorted(days)[-KEEP_DAYS:]
            text = json.dumps({"format": FORMAT, "days": {d: days[d] for d in keep}}, sort_keys=True, indent=1)
            atomic.write_text(self.path, text + "\n", mode=0o600)
        return Day(date, days[date]["usd"], days[date]["renders"])

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            fd = os.open(self.folder / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise CacheError(f"cannot lock the spend ledger {self.folder / LOCK}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            with open(self.path, "rb") as handle:
                raw = handle.read(1 << 20)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return {}
            raise CacheError(f"cannot read the spend ledger {self.path}: {exc.strerror}") from exc
        try:
            data = json.loads(raw)
            days = data["days"]
            if data.get("format") != FORMAT or not isinstance(days, dict):
                raise ValueError("unexpected shape")
            for entry in days.values():
                if not isinstance(entry.get("usd"), (int, float)) or not isinstance(entry.get("renders"), int):
                    raise ValueError("unexpected entry")
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise CacheError(f"the spend ledger {self.path} is damaged ({exc}); the daily cap cannot be checked. "
                             "Check `shotmake cost --by day`, then delete the file to start the day's count "
                             "again") from exc
        return {str(k): v for k, v in days.items()}


class DailyCap(SpendLimit):
    """``SpendLimit`` (the ``--budget`` ledger) that also keeps today's spend under ``cap`` USD.

    A reservation must fit both what is left of ``--budget`` and what is left of the day; every
    charge is booked in the ``Ledger`` as it settles, so a build stopped half-way has recorded
    what it spent, and the next run (the same day) starts from there.
    """

    def __init__(self, limit_usd: float | None, ledger: Ledger, cap: float | None) -> None:
        super().__init__(limit_usd)
        self.ledger = ledger
        self.cap = cap

    def _fits(self, amount: float) -> bool:
        return super()._fits(amount) and not self._over_cap(amount)

    def _over_cap(self, amount: float) -> bool:
        if self.cap is None or amount <= 0:
            return False
        return self.ledger.spent_today().usd + self.reserved + amount > self.cap + 1e-9

    def refusal(self, amount: float, what: str) -> str:
        if not super()._fits(amount) or not self._over_cap(amount):
            return super().refusal(amount, what)
        today = self.ledger.spent_today()
        return (f"not submitted: ${today.usd:.2f} spent today (UTC {today.date}) + ${self.reserved:.2f} in flight + "
                f"${amount:.2f} for this {what} would pass the daily cap ${self.cap:.2f} ([budget] daily in "
                "shotmake.toml); finished renders are kept, the build continues tomorrow or with a higher cap")

    def settle(self, reserved: float, actual: float) -> None:
        super().settle(reserved, actual)
        if actual > 0:
            self.ledger.add(actual)

    def charge(self, amount: float) -> None:
        super().charge(amount)
        if amount > 0:
            self.ledger.add(amount)


def spend_limit(budget: float | None, cache_dir: Path, daily: float | None) -> SpendLimit:
    """The build's spend ledger: ``--budget`` only, or with the daily cap when the project sets one.

    Spend is booked in the daily ledger whenever it exists, so ``shotmake cost`` can show
    today's total even before a cap is set.
    """
    return DailyCap(budget, Ledger(cache_dir), daily)


def refuse_over_daily_cap(estimate_usd: float, ledger: Ledger, cap: float | None) -> str | None:
    """The refusal message when ``estimate_usd`` plus today's spend passes the cap, else None (pure read)."""
    if cap is None or estimate_usd <= 0:
        return None
    today = ledger.spent_today()
    if today.usd + estimate_usd <= cap + 1e-9:
        return None
    return (f"the estimate of what would render is ${estimate_usd:.2f}, and ${today.usd:.2f} was spent today "
            f"(UTC {today.date}): together over the daily cap ${cap:.2f} ([budget] daily in shotmake.toml); "
            "nothing was submitted (`shotmake cost` shows today's spend; build fewer episodes, or raise the cap)")


def today_against_cap(ledger: Ledger, cap: float | None) -> dict[str, Any]:
    """``shotmake cost``'s view of today: the UTC date, what was spent, the cap and what is left."""
    today = ledger.spent_today()
    return {"date": today.date, "cost_usd": round(today.usd, 4), "renders": today.renders, "cap_usd": cap,
            "left_usd": None if cap is None else round(max(0.0, cap - today.usd), 4)}
