"""The daily spend ledger and cap: durable JSON in the cache, no lost additions, a mid-run stop."""

from __future__ import annotations

import datetime
import threading
from pathlib import Path

import pytest

from shotmake.cache import Cache
from shotmake.config import parse_config
from shotmake.errors import BudgetExceeded, CacheError, SpecError
from shotmake.spend import DailyCap, Ledger, refuse_over_daily_cap, today_against_cap
from tests.test_execute import Clock, Registry, Scripted, executor, hand_plan, stale_of

DAY = datetime.date(2026, 11, 29)


def test_concurrent_additions_are_never_lost(tmp_path: Path) -> None:
    def add() -> None:
        ledger = Ledger(tmp_path, today=lambda: DAY)  # each writer with its own file handle, as processes are
        for _ in range(20):
            ledger.add(0.25)

    threads = [threading.Thread(target=add) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    day = Ledger(tmp_path, today=lambda: DAY).spent_today()
    assert (day.usd, day.renders) == (20.0, 80)


def test_spend_is_per_utc_day_and_a_new_day_starts_at_zero(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path, today=lambda: DAY)
    ledger.add(3.0)
    tomorrow = Ledger(tmp_path, today=lambda: DAY + datetime.timedelta(days=1))
    assert tomorrow.spent_today().usd == 0.0 and tomorrow.day("2026-11-29").usd == 3.0
    assert today_against_cap(tomorrow, 5.0) == {"date": "2026-11-30", "cost_usd": 0.0, "renders": 0, "cap_usd": 5.0,
                                                "left_usd": 5.0}


def test_a_damaged_ledger_stops_rather_than_counting_zero(tmp_path: Path) -> None:
    (tmp_path / "spend.json").write_text('{"format": 1, "days": {"2026-11-29": {"usd": "lots"}}}')
    with pytest.raises(CacheError, match="is damaged"):
        Ledger(tmp_path, today=lambda: DAY).spent_today()


def test_the_refusal_before_spending_counts_what_was_spent_today(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path, today=lambda: DAY)
    assert refuse_over_daily_cap(4.0, ledger, 5.0) is None
    ledger.add(2.0)
    refusal = refuse_over_daily_cap(4.0, ledger, 5.0)
    assert refusal is not None and "$4.00, and $2.00 was spent today (UTC 2026-11-29)" in refusal
    assert refuse_over_daily_cap(4.0, ledger, None) is None  # no cap set


def test_the_cap_stops_new_paid_jobs_mid_run_and_books_what_was_spent(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger", today=lambda: DAY)
    ledger.add(0.4)  # an earlier run today
    fast = Scripted("veo-3.1-fast")  # $0.40 per 4 s clip
    plan = hand_plan(tmp_path, {"a": "veo-3.1-fast", "b": "veo-3.1-fast", "c": "veo-3.1-fast"})
    cache = Cache(tmp_path / "cache")
    try:
        spend = DailyCap(None, ledger, 1.2)
        result = executor(plan, cache, Registry(fast, Scripted("local")), Clock(), spend=spend).run(stale_of(plan))
    finally:
        cache.close()
    assert fast.calls == ["clip:a", "clip:b"]  # finished renders kept; the third is not submitted
    ((node, error),) = result.failed
    assert node.id == "clip:c" and isinstance(error, BudgetExceeded)
    assert "$1.20 spent today (UTC 2026-11-29) + $0.00 in flight + $0.40 for this clip would pass the daily cap " \
           "$1.20" in str(error)
    assert ledger.spent_today().usd == pytest.approx(1.2) and ledger.spent_today().renders == 3


def test_budget_daily_is_read_from_shotmake_toml() -> None:
    assert parse_config("[budget]\ndaily = 50\n").budget.daily == 50.0
    assert parse_config("").budget.daily is None
    with pytest.raises(SpecError):
        parse_config("[budget]\ndaily = -1\n")
    with pytest.raises(SpecError):
        parse_config("[budget]\nweekly = 1\n")
