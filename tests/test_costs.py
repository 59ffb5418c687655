"""Money: estimates with overrides, the --budget ledger, and `shotmake cost` over the cache."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from shotmake.cache import Cache
from shotmake.costs import SpendLimit, estimate, route_prices, summarise_spend, unit_price
from shotmake.model import Node

Run = Callable[..., Result]


def clip(provider: str, resolution: str = "720p", duration: float = 8.0) -> Node:
    return Node(id="clip:a", kind="clip", key="k", provider=provider,
                manifest={"resolution": resolution, "duration": duration})


def test_estimates_use_overrides_by_resolution_then_star() -> None:
    assert estimate(clip("veo-3.1")) == pytest.approx(3.2)
    assert estimate(clip("veo-3.1"), {"veo-3.1": {"720p": 0.25}}) == pytest.approx(2.0)
    assert estimate(clip("veo-3.1", "4k"), {"veo-3.1": {"720p": 0.25}}) == pytest.approx(4.8)  # not overridden
    assert estimate(clip("veo-3.1", "4k"), {"veo-3.1": {"*": 0.5}}) == pytest.approx(4.0)
    assert estimate(clip("local")) == 0.0
    sheet = Node(id="sheet:m", kind="sheet", key="k", provider="gemini-3-pro-image", manifest={"size": "4K"})
    plate = Node(id="plate:p", kind="plate", key="k", provider="gpt-image-1", manifest={"size": "1K"})
    assert estimate(sheet) == pytest.approx(0.24) and estimate(plate) == pytest.approx(0.167)
    assert unit_price("sora-2", "720p", {"sora-2": {"*": 0.2}}) == 0.2


def test_route_prices_give_adapters_a_full_table() -> None:
    table = route_prices("veo-3.1-fast", {"veo-3.1-fast": {"*": 0.2, "4k": 0.5}})
    assert table == {"720p": 0.2, "1080p": 0.2, "4k": 0.5, "*": 0.2}
    assert route_prices("veo-3.1-fast") == {"720p": 0.10, "1080p": 0.12, "4k": 0.30}


def test_spend_limit_reserves_settles_and_refuses_under_threads() -> None:
    spend = SpendLimit(1.0)
    granted: list[bool] = []
    lock = threading.Lock()

    def try_one() -> None:
        ok = spend.reserve(0.3)
        with lock:
            granted.append(ok)

    threads = [threading.Thread(target=try_one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert granted.count(True) == 3 and spend.reserved == pytest.approx(0.9)
    spend.settle(0.3, 0.0)  # a filtered job: not charged, its reservation comes back
    assert spend.reserve(0.3)
    spend.settle(0.3, 0.3)
    assert spend.spent == pytest.approx(0.3) and not spend.reserve(0.5)
    assert SpendLimit(None).reserve(1e9)


def store(cache: Cache, tmp: Path, name: str, meta: dict[str, object]) -> None:
    source = tmp / f"{name}.bin"
    source.write_bytes(name.encode())
    cache.store(name * 8, source, meta)


def test_summarise_spend_groups_by_provider_day_and_episode(tmp_path: Path) -> None:
    day = time.mktime((2026, 9, 1, 12, 0, 0, 0, 0, -1))
    entries = [
        {"meta": {"kind": "clip", "provider": "veo-3.1", "episode": "pilot", "cost_usd": 3.2}, "stored": day},
        {"meta": {"kind": "clip", "provider": "veo-3.1", "episode": "storm", "cost_usd": 1.6}, "stored": day},
        {"meta": {"kind": "sheet", "provider": "gemini-3-pro-image", "episode": "pilot", "cost_usd": 0.134},
         "stored": day + 86400},
        {"meta": {"kind": "clip", "provider": "local", "episode": "pilot", "cost_usd": 0.0}, "stored": day},
        {"meta": {"kind": "sequence", "provider": "ffmpeg", "episode": "pilot", "cost_usd": 0.0}, "stored": day},
        {"meta": {"kind": "clip", "provider": "sora-2", "cost_usd": 0.4}, "stored": day},  # before `episode`
    ]
    by_provider = summarise_spend(entries)
    assert [(g["name"], g["cost_usd"], g["renders"]) for g in by_provider["groups"]] == [
        ("veo-3.1", 4.8, 2), ("sora-2", 0.4, 1), ("gemini-3-pro-image", 0.134, 1), ("local", 0.0, 1)]
    assert by_provider["cost_usd"] == 5.334 and by_provider["renders"] == 5
    by_day = summarise_spend(entries, by="day", episode="pilot")
    assert [(g["name"], g["cost_usd"]) for g in by_day["groups"]] == [("2026-09-01", 3.2), ("2026-09-02", 0.134)]
    by_episode = summarise_spend(entries, by="episode")
    assert {g["name"]: g["cost_usd"] for g in by_episode["groups"]} == {"pilot": 3.334, "storm": 1.6, "?": 0.4}


def test_cost_command_reads_the_cache(project: Path, run: Run) -> None:
    cache = Cache(project / ".shotmake")
    try:
        store(cache, project, "a", {"kind": "clip", "provider": "veo-3.1", "episode": "tiny", "cost_usd": 3.2})
        store(cache, project, "b", {"kind": "clip", "provider": "sora-2", "episode": "tiny", "cost_usd": 0.4})
        store(cache, project, "c", {"kind": "clip", "provider": "veo-3.1", "episode": "other", "cost_usd": 1.6})
    finally:
        cache.close()
    text = run("cost").stdout.splitlines()
    assert text[0] == "spend by provider (all episodes): $5.20 over 3 renders"
    assert text[1].split() == ["veo-3.1", "$4.80", "2", "renders"]
    mine = json.loads(run("cost", "episodes/tiny.yaml", "--json").stdout)  # a spec names its episode
    assert mine["episode"] == "tiny" and mine["cost_usd"] == 3.6
    by_episode = json.loads(run("cost", "--by", "episode", "--json").stdout)
    assert {g["name"]: g["cost_usd"] for g in by_episode["groups"]} == {"tiny": 3.6, "other": 1.6}
    assert json.loads(run("cost", "other", "--json").stdout)["renders"] == 1  # or an episode name
