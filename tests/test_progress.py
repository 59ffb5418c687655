"""The live build display (progress.py): drawn to a fake terminal from a scripted event sequence."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from shotmake.cache import file_digest
from shotmake.errors import RunError
from shotmake.execute import BuildResult
from shotmake.plan import Plan, Stale, build_plan
from shotmake.progress import LiveReporter, clock_text, eta, observed_seconds, use_live
from shotmake.report import ConsoleReporter, build_reporter
from shotmake.spec import episode_from_text

from .conftest import SMALL_EPISODE


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture()
def plan(tmp_path: Path) -> Plan:
    return build_plan(episode_from_text(SMALL_EPISODE, str(tmp_path / "ep.yaml"), tmp_path), file_digest)


def stale_of(plan: Plan) -> dict[str, Stale]:
    return {nid: Stale(plan.node(nid), ("never built",)) for nid in plan.order}


def script(reporter: object, plan: Plan, clock: Clock) -> BuildResult:
    """A build of two clips: one whose vendor reports a percent, one that fails; the rest never start."""
    a, b = plan.node("clip:a"), plan.node("clip:b")
    stale = stale_of(plan)
    reporter.build_started(plan, stale, 1.5)  # type: ignore[attr-defined]
    reporter.node_started(a)  # type: ignore[attr-defined]
    reporter.node_started(b)  # type: ignore[attr-defined]
    clock.now += 30
    reporter.node_progress(a, 0.25)  # type: ignore[attr-defined]
    reporter.node_progress(b, None, "waited 2.0s for local's requests-per-minute")  # type: ignore[attr-defined]
    clock.now += 10
    reporter.node_finished(a, 40.0, 0.8)  # type: ignore[attr-defined]
    error = RunError("renderer crashed", node="clip:b")
    reporter.node_failed(b, error)  # type: ignore[attr-defined]
    result = BuildResult(rendered=[a], failed=[(b, error)], cost_usd=0.8, seconds=40.0,
                         skipped=[plan.node(n) for n in stale if n not in ("clip:a", "clip:b")])
    reporter.build_finished(result)  # type: ignore[attr-defined]
    return result


def test_panel_shows_each_running_node_with_route_percent_elapsed_and_eta(plan: Plan) -> None:
    clock = Clock()
    live = LiveReporter(Console(file=Tty(), force_terminal=True, width=120), {"local": [50.0, 70.0, 60.0]},
                        clock=clock, auto_refresh=False)
    a, b = plan.node("clip:a"), plan.node("clip:b")
    live.build_started(plan, stale_of(plan), 1.5)
    live.node_started(a)
    clock.now += 5
    live.node_started(b)
    clock.now += 25
    live.node_progress(a, 0.25)
    head, first, second = live.lines()
    total = len(plan.order)
    assert head == f"tiny: 0/{total} done, 0 cached, 2 running, spent $0.00 of est. $1.50, 30s"
    # clip:a: 25% after 30 s -> 90 s left, from the vendor's rate; clip:b: median past time 60 s - 25 s.
    assert first.split() == ["clip:a", "local", "25%", "30s", "~1m30s", "left"]
    assert second.split() == ["clip:b", "local", "running", "25s", "~35s", "left"]
    live.node_finished(a, 30.0, 0.75)
    head, only = live.lines()
    assert head.startswith(f"tiny: 1/{total} done, 0 cached, 1 running, spent $0.75 of est. $1.50")
    assert only.split()[0] == "clip:b"
    live.stop()


def test_live_display_draws_on_a_terminal_and_keeps_the_log_above(plan: Plan) -> None:
    clock = Clock()
    screen = Tty()
    live = LiveReporter(Console(file=screen, force_terminal=True, width=120), {}, clock=clock, auto_refresh=False)
    live.build_started(plan, stale_of(plan), 1.5)
    live.node_started(plan.node("clip:a"))
    live.node_progress(plan.node("clip:a"), 0.5)
    drawn = screen.getvalue()
    assert "clip:a" in drawn and "50%" in drawn and "\x1b[" in drawn  # redrawn with cursor controls
    live.stop()
    out = Tty()
    script(LiveReporter(Console(file=out, force_terminal=True, width=120), {}, clock=Clock(), auto_refresh=False),
           plan, Clock())
    text = out.getvalue()
    for line in ("done   clip:a (40.0s, $0.80)", "FAILED clip:b", "note   clip:b: waited 2.0s",
                 "shotmake: 1 rendered, 0 cached, 1 failed"):
        assert line in text


def test_not_a_terminal_prints_exactly_the_plain_lines(plan: Plan) -> None:
    piped = io.StringIO()
    reporter = build_reporter(quiet=False, as_json=False, entries=lambda: [], stream=piped, env={})
    assert type(reporter) is ConsoleReporter
    plain = io.StringIO()
    script(reporter, plan, Clock())
    script(ConsoleReporter(stream=plain), plan, Clock())
    strip = [line[8:] for line in piped.getvalue().splitlines()]  # past the elapsed-time column
    assert strip == [line[8:] for line in plain.getvalue().splitlines()]
    assert "\x1b[" not in piped.getvalue()


@pytest.mark.parametrize(("env", "quiet", "as_json", "live"), [
    ({}, False, False, True),
    ({"TERM": "xterm-256color", "NO_COLOR": "1"}, False, False, True),
    ({}, True, False, False),
    ({}, False, True, False),
    ({"CI": "true"}, False, False, False),
    ({"CI": "false"}, False, False, True),
    ({"TERM": "dumb"}, False, False, False),
    ({"SHOTMAKE_PROGRESS": "plain"}, False, False, False),
    ({"CI": "1", "SHOTMAKE_PROGRESS": "live"}, False, False, True),
])
def test_live_only_for_a_person_at_a_terminal(env: dict[str, str], quiet: bool, as_json: bool, live: bool) -> None:
    assert use_live(Tty(), env, quiet=quiet, as_json=as_json) is live
    assert use_live(io.StringIO(), env, quiet=quiet, as_json=as_json) is False


def test_build_reporter_on_a_terminal_reads_route_times_from_index_entries() -> None:
    entries = [{"meta": {"provider": "veo-3.1", "elapsed": 80.0}}, {"meta": {"provider": "veo-3.1", "elapsed": 100}},
               {"meta": {"provider": "local", "seeded": True}}, {"meta": "odd"}, {}]
    reporter = build_reporter(quiet=False, as_json=False, entries=lambda: entries, stream=Tty(), env={})
    assert isinstance(reporter, LiveReporter)
    assert reporter.history == {"veo-3.1": [80.0, 100.0]} == observed_seconds(entries)


def test_eta_and_clock_text() -> None:
    assert eta(10.0, 0.5, []) == 10.0
    assert eta(10.0, 0.01, [40.0]) == 30.0  # too early to trust the percent: the route's median
    assert eta(50.0, None, [40.0]) is None  # overdue: no guess rather than a negative one
    assert eta(5.0, None, []) is None
    assert [clock_text(s) for s in (4.4, 59.6, 187, 3725)] == ["4s", "1m00s", "3m07s", "1h02m"]
