"""Reporters: turn plans and build events into words (stderr) or one JSON object (stdout).

Decisions elsewhere return data (``Stale`` reasons, ``BuildResult``); only this module
formats them, so ``plan``, ``build``, ``explain`` and ``--json`` stay consistent.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TextIO

from .costs import PriceOverrides, estimate
from .errors import EXIT_INTERNAL, InternalError, ShotmakeError, SpecError
from .model import Node
from .plan import Plan, Stale
from .providers.catalog import ROUTES, Route
from .redaction import redact

if TYPE_CHECKING:  # `plan` and `status` print reports without importing the executor
    from .execute import BuildResult


def node_entry(node: Node) -> dict[str, Any]:
    """The JSON shape of a node in ``--json`` output."""
    return {"id": node.id, "kind": node.kind, "key": node.key}


def plan_json(plan: Plan, stale: Mapping[str, Stale], prices: PriceOverrides | None = None,
              routes: Mapping[str, Route] = ROUTES) -> dict[str, Any]:
    """``plan --json``: ``rendered`` lists what *would* render, with reasons and estimates."""
    rendered = []
    for s in stale.values():
        entry = node_entry(s.node)
        entry["reasons"] = list(s.reasons)
        entry["provider"] = s.node.provider
        entry["cost_usd"] = round(estimate(s.node, prices, routes), 4)
        rendered.append(entry)
    cached = [node_entry(plan.node(nid)) for nid in plan.order if nid not in stale]
    return {
        "episode": plan.episode.name,
        "rendered": rendered,
        "cached": cached,
        "failed": [],
        "cost_usd": round(sum(e["cost_usd"] for e in rendered), 4),
        "seconds": 0.0,
        "error": None,
    }


def build_json(plan: Plan, result: BuildResult, output: str | None) -> dict[str, Any]:
    """``build --json``: what rendered, what came from the cache, what failed, and the spend."""
    failed = []
    for node, error in result.failed:
        entry = node_entry(node)
        entry["error"] = redact(str(error))  # a second line of defence: adapters redact keys already
        failed.append(entry)
    for node in result.skipped:
        entry = node_entry(node)
        entry["error"] = "skipped: an input failed" if result.failed else "skipped: build stopped"
        failed.append(entry)
    return {
        "episode": plan.episode.name,
        "rendered": [node_entry(n) for n in result.rendered],
        "cached": [node_entry(n) for n in result.cached],
        "failed": failed,
        "cost_usd": round(result.cost_usd, 4),
        "seconds": round(result.seconds, 3),
        "output": output,
        "error": None if result.ok else build_error(result),
    }


def build_error(result: BuildResult) -> dict[str, Any]:
    """The ``error`` of a build that ran and failed: ``internal`` when a node hit a bug, else ``build``."""
    bugs = [node.id for node, error in result.failed if isinstance(error, InternalError)]
    if bugs:
        return {"kind": "internal", "exit_code": EXIT_INTERNAL,
                "message": f"a bug in shotmake failed {', '.join(bugs)}; run again with --debug for the traceback"}
    count = len(result.failed)
    message = f"{count} node(s) failed" if count else "the build stopped before the episode was assembled"
    return {"kind": "build", "exit_code": 1, "message": message}


def error_json(error: BaseException, *, exit_code: int, kind: str = "", message: str = "") -> dict[str, Any]:
    """The one JSON object a ``--json`` command prints when it stops with an error.

    ``kind`` is the error class's (``spec``, ``lint``, ``usage``, ``budget``, ``frozen``, ``cache``,
    ``provider``, ``internal``...); a spec error lists each problem with its place.
    """
    found: dict[str, Any] = {
        "kind": kind or (error.kind if isinstance(error, ShotmakeError) else "internal"),
        "exit_code": exit_code,
        "message": redact(message or str(error)),
    }
    if isinstance(error, SpecError):
        found["problems"] = [
            {"file": e.location.file if e.location else None, "line": e.location.line if e.location else None,
             "column": e.location.column if e.location else None, "field": e.field, "message": e.message,
             "hint": e.hint}
            for e in getattr(error, "errors", [error])
        ]
    return {"error": found}


def format_plan(plan: Plan, stale: Mapping[str, Stale], prices: PriceOverrides | None = None,
                routes: Mapping[str, Route] = ROUTES) -> str:
    """Human ``plan`` output: what would run and why (like ``ninja -n`` + ``dvc status``)."""
    total = len(plan.order)
    if not stale:
        return f"{plan.episode.name}: nothing to do ({total} nodes, all cached)"
    width = max(len(nid) for nid in stale)
    lines = []
    cost = 0.0
    for s in stale.values():
        price = estimate(s.node, prices, routes)
        cost += price
        lines.append(f"  {s.node.id:<{width}}  {s.node.provider:<13} ${price:>6.2f}  {'; '.join(s.reasons)}")
    header = f"{plan.episode.name}: {len(stale)} of {total} nodes to build, {total - len(stale)} cached, est. ${cost:.2f}"
    return "\n".join([header, *lines])


def nothing_to_do_line(episode: str, cached: int) -> str:
    """The line a build prints when every node is cached."""
    return f"shotmake: {episode}: nothing to do ({cached} nodes cached)"


def finished_line(rendered: int, cached: int, seconds: float, *, failed: int = 0, skipped: int = 0,
                  spent: float = 0.0) -> str:
    """The summary line at the end of a build."""
    parts = [f"{rendered} rendered", f"{cached} cached"]
    if failed:
        parts.append(f"{failed} failed")
    if skipped:
        parts.append(f"{skipped} not started")
    spend = f", spent ${spent:.2f}" if spent else ""
    return f"shotmake: {', '.join(parts)} in {seconds:.1f}s{spend}"


class ConsoleReporter:
    """Line-oriented progress on stderr: one line per node state change, then a summary.

    Lines (not a redrawn status bar) so logs from cron and CI read the same as a terminal.
    """

    def __init__(self, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.total = 0
        self.done = 0
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._last_fraction: dict[str, float] = {}

    def _say(self, text: str, *, always: bool = False) -> None:
        if self.quiet and not always:  # -q silences progress, never the reason a node failed
            return
        text = redact(text)  # notes and errors may quote a server; never echo a key
        with self._lock:
            print(text, file=self.stream, flush=True)

    def _elapsed(self) -> str:
        return f"{time.monotonic() - self.started:6.1f}s"

    def build_started(self, plan: Plan, stale: Mapping[str, Stale], estimate_usd: float) -> None:
        self.total = len(stale)
        self.started = time.monotonic()
        cached = len(plan.order) - len(stale)
        if not stale:
            self._say(nothing_to_do_line(plan.episode.name, cached))
        else:
            self._say(f"shotmake: {plan.episode.name}: {len(stale)} to build, {cached} cached, est. ${estimate_usd:.2f}")

    def node_started(self, node: Node) -> None:
        self._say(f"{self._elapsed()} [{self.done:>3}/{self.total}] start  {node.id} ({node.provider})")

    def node_progress(self, node: Node, fraction: float | None, note: str = "") -> None:
        if note:
            self._say(f"{self._elapsed()} [{self.done:>3}/{self.total}] note   {node.id}: {note}")
            return
        if fraction is None:
            return
        last = self._last_fraction.get(node.id, -1.0)
        if fraction - last >= 0.1 or fraction >= 1.0 > last:
            self._last_fraction[node.id] = fraction
            self._say(f"{self._elapsed()} [{self.done:>3}/{self.total}] ...    {node.id} {fraction:.0%}")

    def node_finished(self, node: Node, seconds: float, cost_usd: float) -> None:
        with self._lock:
            self.done += 1
        spent = f", ${cost_usd:.2f}" if cost_usd else ""
        self._say(f"{self._elapsed()} [{self.done:>3}/{self.total}] done   {node.id} ({seconds:.1f}s{spent})")

    def node_failed(self, node: Node, error: ShotmakeError) -> None:
        with self._lock:
            self.done += 1
        where = f" [{node.location}]" if node.location else ""
        self._say(f"{self._elapsed()} [{self.done:>3}/{self.total}] FAILED {node.id}{where}: {error}", always=True)

    def build_finished(self, result: BuildResult) -> None:
        self._say(finished_line(len(result.rendered), len(result.cached), result.seconds, failed=len(result.failed),
                                skipped=len(result.skipped), spent=result.cost_usd))


def build_reporter(*, quiet: bool, as_json: bool, entries: Callable[[], Iterable[Mapping[str, Any]]],
                   stream: TextIO | None = None, env: Mapping[str, str] | None = None) -> Any:
    """The reporter ``build`` shows progress with: the live panel (``progress.py``) for a person at a
    terminal, else ``ConsoleReporter``'s plain lines. ``entries`` yields cache index entries, whose
    render times the panel's ETAs start from; it is called only when the panel is drawn."""
    stream = stream or sys.stderr
    from .progress import live_reporter, observed_seconds, use_live  # rich itself only if drawn

    if use_live(stream, os.environ if env is None else env, quiet=quiet, as_json=as_json):
        return live_reporter(stream, observed_seconds(entries()))
    return ConsoleReporter(stream=stream, quiet=quiet)


# -- the route catalog (`shotmake routes`) -----------------------------------------------------


def route_rows(routes: Mapping[str, Route], registry: Any, today: Any,
               prices: PriceOverrides | None = None) -> list[dict[str, Any]]:
    """One JSON object per route: what ``shotmake routes --json`` prints (stable keys for scripts).

    ``registry`` answers ``unavailable(name)`` (missing key, retired); ``prices`` are the
    project's overrides, applied as ``plan`` applies them.
    """
    from .costs import route_prices
    from .redaction import scrub_url

    rows = []
    for name, route in routes.items():
        protocol_keys = route.key_env or _protocol_keys(route.protocol)
        why = registry.unavailable(name)
        rows.append({
            "name": name, "kind": route.kind, "protocol": route.protocol, "vendor": route.vendor,
            "model": route.model, "status": route.status_on(today), "deprecated_on": route.deprecated_on,
            "retired_on": route.retired_on, "successor": route.successor,
            "key_env": list(protocol_keys), "key_set": not protocol_keys or any(registry.env.get(k, "").strip() for k in protocol_keys),
            "available": why is None, "unavailable_because": why,
            "durations": list(route.durations) or None,
            "duration_range": [route.min_duration, route.max_duration] if route.max_duration else None,
            "resolutions": list(route.resolutions), "aspects": list(route.aspects),
            "max_references": route.max_references, "max_reference_videos": route.max_reference_videos,
            "max_reference_audios": route.max_reference_audios,
            "first_frame": route.first_frame, "last_frame": route.last_frame, "extension": route.extension,
            "seed": route.seed, "negative_prompt": route.negative_prompt, "audio_off": route.audio_off,
            "native_audio": route.native_audio,
            "voice_samples": list(route.voice_samples), "max_voice_seconds": route.max_voice_seconds,
            "dialogue": route.dialogue,
            "price_usd": route_prices(name, prices, routes), "price_unit": "second" if route.kind == "video" else "image",
            "base_url": scrub_url(route.base_url) if route.base_url else None,  # no user:password@ in output
            "origin": route.origin, "source": route.source,
            "checked_on": route.checked_on,
        })
    return rows


def _protocol_keys(protocol: str) -> tuple[str, ...]:
    from .providers.catalog import PROTOCOLS

    return PROTOCOLS[protocol].key_env if protocol in PROTOCOLS else ()


def _route_status(r: Mapping[str, Any]) -> str:
    """``retired 2026-10-22 -> gemini-omni``, ``deprecated since 2026-10-06, shuts down ...``, ``live``."""
    status = str(r["status"])
    if status == "retired":
        status = f"retired {r['retired_on']}"
    elif status == "deprecated":
        status = ("deprecated" + (f" since {r['deprecated_on']}" if r["deprecated_on"] else "")
                  + (f", shuts down {r['retired_on']}" if r["retired_on"] else ""))
    if r["successor"]:
        status += f" -> {r['successor']}"
    return status


def format_routes(rows: list[dict[str, Any]], *, show_all: bool, reviewed: str) -> str:
    """The human table: video routes, then image routes, then (without ``show_all``) one line per retired route.

    Every route is listed: a retired one renders nothing new, but a spec may still name it and
    its cached renders stay in use, so its date and successor are shown; ``show_all`` gives it a
    full row (limits, price, key) instead.
    """
    out = []
    retired = [r for r in rows if r["status"] == "retired" and not show_all]
    for kind in ("video", "image"):
        shown = [r for r in rows if r["kind"] == kind and (show_all or r["status"] != "retired")]
        if not shown:
            continue
        out.append(f"{kind} routes:")
        table = []
        for r in shown:
            if r["kind"] == "video":
                lengths = (", ".join(f"{d:g}" for d in r["durations"]) + " s" if r["durations"] else
                           f"{r['duration_range'][0]:g}-{r['duration_range'][1]:g} s" if r["duration_range"]
                           else "any length")
            else:
                lengths = "/".join(r["resolutions"])
            prices = r["price_usd"]
            low, high = (min(prices.values()), max(prices.values())) if prices else (0.0, 0.0)
            price = "free" if high == 0 else (f"${low:g}" if low == high else f"${low:g}-{high:g}")
            price += "" if high == 0 else f"/{'s' if r['kind'] == 'video' else 'image'}"
            key = ("no key needed" if not r["key_env"] else
                   f"{r['key_env'][0]} {'set' if r['key_set'] else 'not set'}")
            status = _route_status(r)
            refs = f"{r['max_references']} refs" if r["max_references"] else "no refs"
            origin = "" if r["origin"] == "built-in" else f"[{os.path.basename(r['origin'])}]"
            table.append([r["name"], r["model"], status, lengths, refs, price, key, origin])
        widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
        for row in table:
            out.append("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        out.append("")
    if retired:
        out.append("retired routes (nothing new renders on them; their cached renders stay in use; --all shows "
                   "their limits):")
        widths = [max(len(str(r[k])) for r in retired) for k in ("name", "model")]
        for r in retired:
            out.append(f"  {r['name'].ljust(widths[0])}  {r['model'].ljust(widths[1])}  {_route_status(r)}")
        out.append("")
    out.append(f"Catalog reviewed {reviewed}; shotmake.toml can add routes or change them (docs/providers.md).")
    return "\n".join(out)
