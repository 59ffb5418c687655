"""The HTML report: what a build made, why, and what it cost, next to the pictures.

``collect`` turns a plan, the cache and (after ``build --report``) the build's result into a
``Report`` record; ``report_page.render`` turns that into one HTML page; ``write_report``
puts the page and the media it shows into a folder that opens offline (``build/<name>-report``):
clips, sheets and thumbnails are copies of cache objects (never hard links: the report is an
output), named by digest, so writing the report again copies no unchanged file and re-extracts no
thumbnail (``thumbnails.py`` caches them like renders).
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .model import Artifact, Episode, Node, Shot, sequence_seconds
from .plan import Plan, Stale

#: Node kinds that call a provider (their cost is real money on a remote route).
RENDERED = ("clip", "sheet", "plate")


@dataclass(frozen=True)
class Media:
    """A file the page shows: its href inside the report folder, and the cache object behind it."""

    href: str
    source: str


@dataclass(frozen=True)
class TakeView:
    """One take of a shot as the page shows it."""

    node: str
    take: int
    picked: bool
    status: str  # rendered | cached | failed | skipped | missing
    why: tuple[str, ...]
    cost_usd: float
    estimated: bool
    seed: int | None = None
    video: Media | None = None
    strip: Media | None = None
    note: str = ""


@dataclass(frozen=True)
class CharacterView:
    id: str
    name: str
    description: str
    sheet: Media | None = None
    thumb: Media | None = None
    status: str = ""


@dataclass(frozen=True)
class ShotView:
    id: str
    number: int
    title: str
    sequence: str
    duration: float
    route: str
    model: str
    prompt: str
    negative: str
    subtitle: str
    dialogue: tuple[str, ...]
    characters: tuple[str, ...]
    takes: tuple[TakeView, ...]
    lint: tuple[str, ...]
    source: str
    estimate_usd: float


@dataclass(frozen=True)
class Failure:
    node: str
    reason: str
    when: str  # "this build" | "an earlier build"


@dataclass
class Report:
    """Everything the page shows, in the order it shows it."""

    name: str
    title: str
    spec: str
    output: str
    duration: float
    format: str
    chapters: list[tuple[float, str]]
    master: Media | None
    master_current: bool
    poster: Media | None
    shots: list[ShotView]
    characters: list[CharacterView]
    plates: list[CharacterView]
    counts: dict[str, int]
    spend_build: float | None
    spend_build_by_route: dict[str, float]
    spend_cache_by_route: list[dict[str, Any]]
    full_rerender_usd: float
    to_build_usd: float
    failures: list[Failure]
    warnings: list[str]
    built: bool  # made by `build --report` (statuses say what that build did)
    media: dict[str, str] = field(default_factory=dict)  # href -> cache object path


_IMAGE_STATUS = {"cached": "from the cache", "rendered": "drawn by this build", "missing": "not drawn yet"}


def story_order(episode: Episode) -> list[tuple[str, str]]:
    """``(shot id, sequence title)`` in the order the cut shows them; shots outside every sequence last."""
    seen: dict[str, str] = {}
    for seq in episode.sequences:
        for sid in seq.shots:
            seen.setdefault(sid, seq.title or seq.id)
    return [*seen.items(), *((sid, "") for sid in episode.shots if sid not in seen)]


def dialogue_lines(shot: Shot) -> tuple[str, ...]:
    """The shot's dialogue as ``speaker (delivery): line`` texts, in spoken order."""
    return tuple(f"{line.speaker} ({line.delivery}): {line.line}" if line.delivery else f"{line.speaker}: {line.line}"
                 for line in shot.dialogue)


class Collector:
    """Gathers a ``Report``; ``place`` names the media the page shows (``write_report`` makes them real)."""

    def __init__(self, plan: Plan, stale: Mapping[str, Stale], lookup: Callable[[str], Artifact | None],
                 thumb: Callable[[Artifact], Artifact | None], *, result: Any = None,
                 stored: Mapping[str, float] | None = None) -> None:
        self.plan, self.stale, self.lookup, self.thumb, self.result = plan, stale, lookup, thumb, result
        self.stored = stored or {}
        self.media: dict[str, str] = {}
        self.rendered = {n.id for n in result.rendered} if result is not None else set()
        self.failed = {n.id: e for n, e in result.failed} if result is not None else {}
        self.skipped = {n.id for n in result.skipped} if result is not None else set()

    def place(self, artifact: Artifact | None) -> Media | None:
        if artifact is None:
            return None
        href = f"media/{artifact.digest[:32]}{Path(artifact.path).suffix}"
        self.media[href] = artifact.path
        return Media(href, artifact.path)

    def artifact(self, nid: str) -> Artifact | None:
        if self.result is not None and nid in self.result.artifacts:
            found: Artifact = self.result.artifacts[nid]
            return found
        return self.lookup(self.plan.node(nid).key)

    def status(self, nid: str) -> tuple[str, tuple[str, ...]]:
        """What happened to a node, and why, in words."""
        why = tuple(self.stale[nid].reasons) if nid in self.stale else ()
        if nid in self.failed:
            return "failed", (str(getattr(self.failed[nid], "message", self.failed[nid])),)
        if nid in self.rendered:
            return "rendered", why
        if nid in self.skipped:
            return "skipped", ("not built: an input failed",)
        found = self.artifact(nid)
        if found is not None:
            return "cached", self.made(self.plan.node(nid).key, found)
        return "missing", why or ("not rendered yet",)

    def made(self, key: str, artifact: Artifact) -> tuple[str, ...]:
        """``rendered 2026-11-29 02:07 in 1.2 s``: when a cached render was made (from its index entry)."""
        when = self.stored.get(key)
        if when is None:
            return ()
        took = artifact.meta.get("elapsed")
        stamp = datetime.datetime.fromtimestamp(when).strftime("%Y-%m-%d %H:%M")
        return (f"rendered {stamp}" + (f" in {float(took):.1f} s" if isinstance(took, (int, float)) else ""),)


def collect(plan: Plan, stale: Mapping[str, Stale], lookup: Callable[[str], Artifact | None],
            thumb: Callable[[Artifact], Artifact | None], *, estimate: Callable[[Node], float],
            spend_by_route: list[dict[str, Any]], findings: Sequence[Any] = (), journal_errors: Mapping[str, str]
            | None = None, result: Any = None, previous_master: Artifact | None = None,
            delivery: str = "", stored: Mapping[str, float] | None = None) -> Report:
    """Gather the report of ``plan``: pure apart from the injected lookups (cache, thumbnails)."""
    episode = plan.episode
    c = Collector(plan, stale, lookup, thumb, result=result, stored=stored)
    by_path: dict[str, list[str]] = {}
    warnings: list[str] = []
    for finding in findings:
        head = str(getattr(finding, "field", "")).split(".")[0]
        by_path.setdefault(head, []).append(finding.render())
        warnings.append(finding.render())
    clips: dict[str, list[str]] = {}
    for nid in plan.order:
        node = plan.node(nid)
        if node.kind == "clip":
            clips.setdefault(str(node.labels.get("shot", nid.split(":", 1)[1].split("@")[0])), []).append(nid)

    shots: list[ShotView] = []
    for number, (sid, sequence) in enumerate(story_order(episode), start=1):
        shot = episode.shots[sid]
        takes = []
        for i, nid in enumerate(clips.get(sid, []), start=1):
            node = plan.node(nid)
            art = c.artifact(nid)
            status, why = c.status(nid)
            cost = float(art.meta.get("cost_usd", 0.0)) if art is not None and status != "missing" else estimate(node)
            takes.append(TakeView(
                node=nid, take=i, picked=i == shot.pick, status=status, why=why, cost_usd=cost,
                estimated=art is None, seed=node.manifest.get("seed"), video=c.place(art),
                strip=c.place(thumb(art)) if art is not None else None))
        first = plan.node(clips[sid][0]) if clips.get(sid) else None
        manifest = first.manifest if first is not None else {}
        shots.append(ShotView(
            id=sid, number=number, title=shot.title, sequence=sequence, duration=shot.duration,
            route=first.provider if first is not None else shot.provider, model=str(manifest.get("model", "")),
            prompt=str(manifest.get("prompt", shot.prompt)), negative=str(manifest.get("negative_prompt", "")),
            subtitle=shot.subtitle, dialogue=dialogue_lines(shot), characters=shot.characters,
            takes=tuple(takes), lint=tuple(by_path.get(shot.path, ())),
            source=str(shot.location) if shot.location else episode.source,
            estimate_usd=sum(estimate(plan.node(n)) for n in clips.get(sid, []))))

    def image_view(kind: str, ident: str, name: str, description: str) -> CharacterView:
        nid = f"{kind}:{ident}"
        if nid not in plan.nodes:
            return CharacterView(ident, name, description, status="no sheet (described in words only)"
                                 if kind == "sheet" else "a file in the project")
        art = c.artifact(nid)
        status, why = c.status(nid)
        return CharacterView(ident, name, description, sheet=c.place(art),
                             thumb=c.place(thumb(art)) if art is not None else None,
                             status="; ".join([_IMAGE_STATUS.get(status, status), *why]))

    characters = [image_view("sheet", ch.id, ch.name, ch.description) for ch in episode.characters.values()]
    plates = [image_view("plate", p.id, p.id, p.prompt or (p.file or "")) for p in episode.plates.values()]

    final = plan.final
    master_art = c.artifact(final.id)
    master = c.place(master_art if master_art is not None else previous_master)
    posters = [nid for nid in plan.order if plan.node(nid).kind == "poster"]
    poster = c.place(c.artifact(posters[0])) if posters and master_art is not None else None
    failures = [Failure(n, str(getattr(e, "message", e)), "this build") for n, e in c.failed.items()]
    for nid, text in (journal_errors or {}).items():
        if nid not in c.failed:
            failures.append(Failure(nid, text, "an earlier build"))
    rendered_cost: dict[str, float] = {}
    if result is not None:
        for node in result.rendered:
            art = result.artifacts.get(node.id)
            rendered_cost[node.provider] = rendered_cost.get(node.provider, 0.0) + float(
                art.meta.get("cost_usd", 0.0) if art is not None else 0.0)
    chapters, start = [], 0.0
    for seq in episode.sequences:
        chapters.append((start, seq.title or seq.id))
        start += sequence_seconds(episode.shots, seq)
    # After `build --report`, what is still to build is what the build did not make (failed or skipped).
    pending = [s for nid, s in stale.items() if c.artifact(nid) is None] if result is not None else list(stale.values())
    counts = {"nodes": len(plan.order), "dirty": len(pending), "shots": len(episode.shots),
              "takes": sum(len(v) for v in clips.values()),
              "rendered": len(c.rendered), "failed": len(c.failed)}
    return Report(
        name=episode.name, title=episode.title or episode.name, spec=episode.source, output=episode.output,
        duration=start, format=delivery, chapters=chapters, master=master, master_current=master_art is not None,
        poster=poster,
        shots=shots, characters=characters, plates=plates, counts=counts,
        spend_build=result.cost_usd if result is not None else None, spend_build_by_route=rendered_cost,
        spend_cache_by_route=spend_by_route, full_rerender_usd=sum(estimate(plan.node(n)) for n in plan.order),
        to_build_usd=sum(estimate(s.node) for s in pending), failures=failures, warnings=warnings,
        built=result is not None, media=c.media)


def report_dir(out_dir: Path, name: str) -> Path:
    """Where the report of episode ``name`` goes: ``build/<name>-report/``."""
    return out_dir / f"{name}-report"


def place_media(folder: Path, media: Mapping[str, str]) -> int:
    """Copy every object the page shows into ``folder``; drop what it no longer shows.

    Copies, not hard links: the report is an output, and a file edited there must not edit
    the cache's object (nor every other output of it). ``copy_file`` lets the kernel copy, or
    share extents where the filesystem can. Returns how many files were copied (0 when nothing
    changed).
    """
    from .atomic import copy_file

    target = folder / "media"
    _real_dir(target)
    placed = 0
    for href, source in media.items():
        dest = folder / href
        try:
            if dest.is_file() and not dest.is_symlink() and dest.stat().st_size == os.stat(source).st_size:
                continue
            copy_file(source, dest)  # renamed over ``dest``: a planted link there is replaced, not followed
            placed += 1
        except OSError:
            continue  # a vanished object: the page shows its place empty, the next build restores it
    wanted = {Path(h).name for h in media}
    for old in target.iterdir():
        if old.name not in wanted and old.is_file():
            old.unlink(missing_ok=True)
    return placed


def _real_dir(path: Path) -> None:
    """Make ``path`` a directory of its own: a symlink planted there is removed, never written through."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink()
    path.mkdir(parents=True, exist_ok=True)


def write_report(folder: Path, report: Report, page: str) -> Path:
    """Write ``page`` as ``folder/index.html`` with its media beside it; return the page's path."""
    from .atomic import write_text

    _real_dir(folder)
    place_media(folder, report.media)
    index = folder / "index.html"
    write_text(index, page, durable=False)
    return index
