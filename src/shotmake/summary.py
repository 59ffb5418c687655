"""``build --summary FILE``: a short Markdown account of a build, for a CI job summary or a chat message.

What rendered and why, what it cost, what failed: per episode and in total. Pure: it takes
``EpisodeOutcome`` records (``batch.py`` makes them from the plan and the build result) and
returns text; GitHub renders it when the file is ``$GITHUB_STEP_SUMMARY``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

#: Rendered nodes listed per episode; the rest are counted (a summary is read, not searched).
MAX_ROWS = 30


@dataclass(frozen=True)
class Rendered:
    """One node this build rendered: on which route, for how much, and why it was dirty."""

    node: str
    provider: str
    cost_usd: float
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class EpisodeOutcome:
    """How one episode of a build ended. ``state``: built, up to date, failed, not started, or refused
    (a bad spec, or a lint or lifecycle refusal, left out of the run by ``-k``)."""

    episode: str
    spec: str
    state: str
    rendered: tuple[Rendered, ...] = ()
    #: Nodes ffmpeg assembled (conform, sequences, the master...): free, counted not listed.
    assembled: int = 0
    cached: int = 0
    failed: tuple[tuple[str, str], ...] = ()
    shared: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0
    output: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


ICONS = {"built": "✅", "up to date": "✅", "failed": "❌", "not started": "⏸️", "refused": "⛔"}


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell (one line, no column breaks)."""
    return " ".join(text.split()).replace("|", "\\|")


def markdown(outcomes: Sequence[EpisodeOutcome], *, exit_code: int, stopped: str | None = None) -> str:
    """The summary of a build that ran (``outcomes``), or of one that stopped before running (``stopped``)."""
    lines = ["## shotmake build", ""]
    if stopped is not None:
        verdict = "refused before spending" if exit_code == 3 else "stopped before rendering"
        lines += [f"**{verdict}** (exit {exit_code}): {_cell(stopped)}", ""]
        return "\n".join(lines) + "\n"
    rendered = sum(len(o.rendered) for o in outcomes)
    failed = sum(len(o.failed) for o in outcomes)
    cost = sum(o.cost_usd for o in outcomes)
    ok = sum(1 for o in outcomes if o.state in ("built", "up to date"))
    verdict = "ok" if exit_code == 0 else f"failed (exit {exit_code})"
    assembled, cached = sum(o.assembled for o in outcomes), sum(o.cached for o in outcomes)
    lines += [f"**{verdict}**: {ok} of {len(outcomes)} episode(s) built; {rendered} rendered, {assembled} assembled, "
              f"{cached} cached, {failed} failed; spent ${cost:.2f}", ""]
    lines += ["| episode | state | rendered | assembled | cached | failed | cost |",
              "|---|---|---:|---:|---:|---:|---:|"]
    for o in outcomes:
        lines.append(f"| {_cell(o.episode)} | {ICONS.get(o.state, '')} {o.state} | {len(o.rendered)} | "
                     f"{o.assembled} | {o.cached} | {len(o.failed)} | ${o.cost_usd:.2f} |")
    lines.append(f"| **total** | | {rendered} | {assembled} | {cached} | {failed} | ${cost:.2f} |")
    for o in outcomes:
        if not (o.rendered or o.failed or o.notes):
            continue
        lines += ["", f"### {_cell(o.episode)}", ""]
        lines += [f"- {_cell(note)}" for note in o.notes]
        for r in o.rendered[:MAX_ROWS]:
            why = "; ".join(r.reasons) or "dirty"
            lines.append(f"- rendered `{r.node}` on {r.provider} (${r.cost_usd:.2f}): {_cell(why)}")
        if len(o.rendered) > MAX_ROWS:
            lines.append(f"- … and {len(o.rendered) - MAX_ROWS} more rendered")
        for node, error in o.failed[:MAX_ROWS]:
            lines.append(f"- **failed** `{node}`: {_cell(error)}")
        if len(o.failed) > MAX_ROWS:
            lines.append(f"- … and {len(o.failed) - MAX_ROWS} more failed")
    return "\n".join(lines) + "\n"
