"""Episodes of a batch run at once: -j and per-route limits hold over all of them, a shared key is built once."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from shotmake.cache import Cache
from shotmake.capacity import Capacity
from shotmake.providers.base import RenderRequest
from tests.test_execute import Clock, Registry, Scripted, executor, hand_plan, stale_of


class Counting(Scripted):
    """A provider that takes a little real time per render and records the most renders at once."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.now = 0
        self.most = 0
        self.lock = threading.Lock()

    def render(self, request: RenderRequest, dest: Path, progress: Any = None) -> dict[str, Any]:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(0.02)
        try:
            return super().render(request, dest, progress)
        finally:
            with self.lock:
                self.now -= 1


def run_together(plans: list[Any], cache: Cache, registry: Registry, capacity: Capacity,
                 **options: Any) -> list[Any]:
    results: list[Any] = [None] * len(plans)
    stop = threading.Event()

    def one(i: int) -> None:
        results[i] = executor(plans[i], cache, registry, Clock(), jobs=4, capacity=capacity, stop=stop,
                              **options).run(stale_of(plans[i]))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(plans))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_a_route_limit_holds_across_episodes_and_a_shared_key_renders_once(tmp_path: Path) -> None:
    veo = Counting("veo-3.1-fast")
    local = Counting("local")
    # Two episodes: clip:a is the same request (the same key) in both; b, c and d differ.
    one = hand_plan(tmp_path / "one", {"a": "veo-3.1-fast", "b": "veo-3.1-fast", "c": "veo-3.1-fast"})
    two = hand_plan(tmp_path / "two", {"a": "veo-3.1-fast", "d": "veo-3.1-fast"})
    assert one.node("clip:a").key == two.node("clip:a").key
    capacity = Capacity(4, {"veo-3.1-fast": 2})
    cache = Cache(tmp_path / "cache")
    try:
        first, second = run_together([one, two], cache, Registry(veo, local), capacity)
    finally:
        cache.close()
    assert first.ok and second.ok
    assert sorted(veo.calls) == ["clip:a", "clip:b", "clip:c", "clip:d"]  # clip:a once, for both episodes
    assert veo.most <= 2 and capacity.peak_by_route["veo-3.1-fast"] == 2  # the limit held, and was used
    assert capacity.peak <= 4
    built_a = [r for r in (first, second) if "clip:a" in [n.id for n in r.rendered]]
    taken_a = [r for r in (first, second) if "clip:a" in [n.id for n in r.cached]]
    assert len(built_a) == 1 and len(taken_a) == 1


def test_without_keep_going_a_failure_in_one_episode_stops_the_others(tmp_path: Path) -> None:
    from shotmake.errors import TerminalError

    bad = Scripted("veo-3.1-fast", always=TerminalError("refused", provider="veo-3.1-fast"))
    slow = Counting("sora-2")
    one = hand_plan(tmp_path / "one", {"x": "veo-3.1-fast"})
    two = hand_plan(tmp_path / "two", {f"s{i}": "sora-2" for i in range(12)})
    capacity = Capacity(2, {})
    cache = Cache(tmp_path / "cache")
    try:
        failed, stopped = run_together([one, two], cache, Registry(bad, slow, Scripted("local")), capacity,
                                       keep_going=False)
    finally:
        cache.close()
    assert [n.id for n, _ in failed.failed] == ["clip:x"]
    assert not stopped.ok and stopped.skipped and len(slow.calls) < 12  # stopped part-way, renders kept
