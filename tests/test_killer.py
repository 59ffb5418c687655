"""The chaos tests' Killer must never drop the requests of a build it was not armed for."""

from __future__ import annotations

import subprocess
import sys
import time
from types import SimpleNamespace
from typing import Any, cast

from .fakes.harness import Killer
from .fakes.server import Request


def _request() -> Request:
    return Request(method="GET", path="/v1/ping", query={}, headers={}, body=b"")


def test_a_timer_kill_that_finds_the_build_already_ended_does_not_poison_the_next_build() -> None:
    # The build ended by itself while a timer kill was settling: the kill must give up, and the next
    # (unarmed, or armed later) build's requests must pass through, not be dropped as "client killed".
    fakes = SimpleNamespace(servers=(), staged_create=lambda server, request: None)
    killer = Killer(cast(Any, fakes), settle=0.3)
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    killer.arm(cast(Any, ended), None, after=0.0)
    deadline = time.monotonic() + 5
    while killer._state != "freezing" and time.monotonic() < deadline:
        time.sleep(0.001)
    assert killer._state == "freezing"
    killer.disarm()
    assert not killer.fired
    nxt = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        killer.arm(cast(Any, nxt), 1000)
        time.sleep(0.4)  # past the stale kill's settle
        assert killer._hook(cast(Any, None), _request()) is None
        assert nxt.poll() is None
    finally:
        nxt.kill()
        nxt.wait()
