"""The live build display: one line per running node, with percent, elapsed and an ETA.

Renders take minutes, and a scroll of ``start``/``done`` lines does not say what is still
running or for how long. On a terminal, ``build`` redraws a small panel below the log:

    ep1: 12/40 done, 25 cached, 3 running, spent $1.20 of est. $4.80, 2m03s
      clip:s07   veo-3.1-fast   43%   1m12s   ~1m35s left
      clip:s08   sora-2         running   41s   ~2m10s left

Lines that are history (a node done, failed, a note) print above the panel with the same
words ``ConsoleReporter`` uses, so scrollback reads like the plain log. The ETA comes from
the route's observed render times: the ``elapsed`` that earlier renders left in their cache
index entries (read with the plan's lookups, no extra query), then this build's own; where
the vendor reports a percent (Sora's ``progress``), from the rate it rises at instead.

rich draws the panel (a well-kept, widely used terminal library: cursor control, width,
colour and ``NO_COLOR`` handled for us); it costs ~40 ms to import, so only this module
imports it, and only ``use_live`` decides to load this module. Everything else (``-q``,
``--json``, a pipe or file, ``CI``, ``TERM=dumb``, ``SHOTMAKE_PROGRESS=plain``) keeps the
plain lines of ``report.ConsoleReporter``, byte for byte.
"""

from __future__ import annotations

import atexit
import io
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO, cast

from .model import Node
from .plan import Plan, Stale
from .redaction import redact
from .report import ConsoleReporter

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live

    from .errors import ShotmakeError
    from .execute import BuildResult

#: Progress below this is too early to extrapolate from (a vendor's first ticks are noise).
MIN_FRACTION = 0.05
#: Past render times kept per route (the newest).
KEEP = 50


def observed_seconds(entries: Iterable[Mapping[str, Any]]) -> dict[str, list[float]]:
    """Route -> seconds its renders took, from cache index entries (``meta.provider``, ``meta.elapsed``).

    Entries without a time (seeded, recovered, made before times were kept) are left out.
    """
    seen: dict[str, list[float]] = {}
    for entry in entries:
        meta = entry.get("meta") if isinstance(entry, Mapping) else None
        if not isinstance(meta, Mapping):
            continue
        route, elapsed = meta.get("provider"), meta.get("elapsed")
        if isinstance(route, str) and isinstance(elapsed, int | float) and elapsed > 0:
            seen.setdefault(route, []).append(float(elapsed))
    return {route: times[-KEEP:] for route, times in seen.items()}


def eta(elapsed: float, fraction: float | None, history: list[float]) -> float | None:
    """Seconds left for a node ``elapsed`` seconds in: from the vendor's percent when it has one, else
    from the route's median past time; None when neither says anything (or it is overdue)."""
    if fraction is not None and MIN_FRACTION <= fraction < 1.0:
        return elapsed * (1.0 - fraction) / fraction
    if history:
        left = statistics.median(history) - elapsed
        return left if left > 0 else None
    return None


def clock_text(seconds: float) -> str:
    """``42s``, ``3m07s``, ``1h02m``: short enough for a status line."""
    seconds = max(0, int(seconds + 0.5))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


@dataclass
class _Running:
    node: Node
    started: float
    fraction: float | None = None
    note: str = ""


@dataclass
class _State:
    episode: str = ""
    total: int = 0
    cached: int = 0
    done: int = 0
    failed: int = 0
    spent: float = 0.0
    estimate: float = 0.0
    started: float = 0.0
    running: dict[str, _Running] = field(default_factory=dict)


class _Above(io.TextIOBase):
    """A text stream that prints each line above the live panel (the plain reporter writes to it)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def write(self, text: str) -> int:
        if text.strip():
            self.console.print(text.rstrip("\n"), markup=False, highlight=False, emoji=False, soft_wrap=True)
        return len(text)


class LiveReporter:
    """A ``Reporter`` (``execute.Reporter``) that keeps a redrawn panel of the running nodes.

    ``console`` is rich's (tests pass ``Console(file=StringIO(), force_terminal=True)``);
    ``history`` is ``observed_seconds`` of the cache; ``clock`` is injectable for tests.
    """

    def __init__(self, console: Console, history: Mapping[str, list[float]] | None = None, *,
                 clock: Callable[[], float] = time.monotonic, refresh_per_second: float = 4.0,
                 auto_refresh: bool = True) -> None:
        self.console = console
        self.history = {route: list(times) for route, times in (history or {}).items()}
        self.clock = clock
        self.state = _State(started=clock())
        self._lock = threading.Lock()
        self._log = ConsoleReporter(stream=cast(TextIO, _Above(console)))  # history lines: the plain wording
        self._refresh = refresh_per_second
        self._auto = auto_refresh
        self._live: Live | None = None

    # -- the Reporter interface --------------------------------------------------------------
    def build_started(self, plan: Plan, stale: Mapping[str, Stale], estimate_usd: float) -> None:
        with self._lock:
            self.state = _State(episode=plan.episode.name, total=len(stale), cached=len(plan.order) - len(stale),
                                estimate=estimate_usd, started=self.clock())
        self._log.build_started(plan, stale, estimate_usd)
        if stale:
            from rich.live import Live

            self._live = Live(self, console=self.console, refresh_per_second=self._refresh,
                              auto_refresh=self._auto, transient=True, redirect_stdout=False, redirect_stderr=True)
            self._live.start()
            atexit.register(self.stop)  # an interrupt or crash must not leave the cursor hidden

    def node_started(self, node: Node) -> None:
        with self._lock:
            self.state.running[node.id] = _Running(node, self.clock())
        self.refresh()

    def node_progress(self, node: Node, fraction: float | None, note: str = "") -> None:
        with self._lock:
            running = self.state.running.get(node.id)
            if running is not None:
                if fraction is not None:
                    running.fraction = fraction
                if note:
                    running.note = note
        if note:
            self._log.node_progress(node, None, note)
        self.refresh()

    def node_finished(self, node: Node, seconds: float, cost_usd: float) -> None:
        with self._lock:
            self.state.running.pop(node.id, None)
            self.state.done += 1
            self.state.spent += cost_usd
            if seconds > 0:
                self.history.setdefault(node.provider, []).append(seconds)
        self._log.node_finished(node, seconds, cost_usd)
        self.refresh()

    def node_failed(self, node: Node, error: ShotmakeError) -> None:
        with self._lock:
            self.state.running.pop(node.id, None)
            self.state.done += 1
            self.state.failed += 1
        self._log.node_failed(node, error)
        self.refresh()

    def build_finished(self, result: BuildResult) -> None:
        self.stop()
        self._log.build_finished(result)

    # -- drawing -------------------------------------------------------------------------------
    def refresh(self) -> None:
        if self._live is not None:
            self._live.refresh()

    def stop(self) -> None:
        """Take the panel down (the log above it stays); safe to call twice."""
        live, self._live = self._live, None
        if live is not None:
            live.stop()
            atexit.unregister(self.stop)

    def lines(self) -> list[str]:
        """The panel as plain text lines: a summary, then one line per running node (oldest first)."""
        now = self.clock()
        with self._lock:
            s = self.state
            running = sorted(s.running.values(), key=lambda r: r.started)
            history = {route: list(times) for route, times in self.history.items()}
        failed = f", {s.failed} failed" if s.failed else ""
        head = (f"{s.episode}: {s.done}/{s.total} done{failed}, {s.cached} cached, {len(running)} running, "
                f"spent ${s.spent:.2f} of est. ${s.estimate:.2f}, {clock_text(now - s.started)}")
        if not running:
            return [head]
        width = max(len(r.node.id) for r in running)
        routes = max(len(r.node.provider) for r in running)
        out = [head]
        for r in running:
            elapsed = now - r.started
            state = f"{r.fraction:4.0%}" if r.fraction is not None else (r.note or "running")
            left = eta(elapsed, r.fraction, history.get(r.node.provider, []))
            guess = f"   ~{clock_text(left)} left" if left is not None else ""
            out.append(redact(f"  {r.node.id:<{width}}  {r.node.provider:<{routes}}  {state}   "
                              f"{clock_text(elapsed)}{guess}"))
        return out

    def __rich__(self) -> RenderableType:
        from rich.text import Text

        lines = self.lines()
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(lines[0], style="bold")
        for line in lines[1:]:
            text.append("\n")
            text.append(line)
        return text


def use_live(stream: TextIO, env: Mapping[str, str], *, quiet: bool, as_json: bool) -> bool:
    """Whether ``build`` draws the live panel: only for a person at a terminal.

    Plain lines when ``-q`` or ``--json``, when ``stream`` is not a terminal, under CI
    (``CI`` set, other than ``false``/``0``), with ``TERM=dumb``, or ``SHOTMAKE_PROGRESS=plain``.
    ``NO_COLOR`` keeps the panel, without colour (rich honours it).
    """
    if quiet or as_json:
        return False
    choice = env.get("SHOTMAKE_PROGRESS", "").strip().lower()
    if choice == "plain":
        return False
    if env.get("CI", "").strip().lower() not in ("", "0", "false", "no") and choice != "live":
        return False
    if env.get("TERM", "") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def live_reporter(stream: TextIO, history: Mapping[str, list[float]] | None = None) -> LiveReporter:
    """A ``LiveReporter`` drawing on ``stream`` (a terminal)."""
    from rich.console import Console

    return LiveReporter(Console(file=stream, stderr=True), history)
