"""``build``, ``plan`` and ``status`` over one episode or a whole series: one combined plan, one run.

Given one spec file, each command behaves as it always has. Given several specs or a folder
(every episode under it: a YAML file whose top level names ``episode:``; series files and
other included fragments name none), the episodes are loaded and planned together first:

* a node with the same key in two episodes (a sheet from the series bible) is built once: the
  plan counts it for the first episode that needs it, and at run time one episode builds it
  while any other that reaches it waits and takes it from the cache (``capacity.py``);
* ``--budget`` and the daily cap (``spend.py``) are checked against the combined estimate
  before anything is submitted, and bound the whole run's spend; one provider registry,
  journal, retry budget and set of circuit breakers serve every episode;
* the episodes run at once, one executor each, sharing ``-j`` and the per-provider limits
  (``capacity.py``), so no limit is exceeded across episodes; without ``-k`` the first failure
  stops every episode (finished renders are kept), with ``-k`` the others still build, and a
  bad spec or a lifecycle refusal leaves only its own episode out;
* outputs, lock files and up-to-date stamps stay per episode; ``--json`` reports each episode
  and the total; ``--summary FILE`` writes Markdown (``summary.py``).

The click commands live here (``cli.py`` attaches them); they use ``cli``'s helpers through
the module, at call time, since ``cli`` imports this module.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click

from .errors import FrozenMismatch, InternalError, ShotmakeError, SpendRefused, UsageError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
#: An episode spec names its episode at the top level; a series file (an include) never does.
EPISODE_LINE = re.compile(rb"^['\"]?episode['\"]?[ \t]*:", re.MULTILINE)
F = TypeVar("F", bound=Callable[..., Any])
#: Where ``build``'s remote flags are kept for ``remote_cli.remote_for`` (``ctx.meta``).
MODE = "shotmake.remote_mode"
SPECS = click.argument("episodes", metavar="EPISODE...", nargs=-1, required=True,
                       type=click.Path(path_type=Path))


def _app() -> Any:
    from . import cli

    return cli


# -- which episodes ---------------------------------------------------------------------------------
def names_an_episode(path: Path) -> bool:
    """Whether a YAML file is an episode (``episode:`` at its top level) rather than a series file."""
    try:
        with open(path, "rb") as handle:
            return EPISODE_LINE.search(handle.read(1 << 20)) is not None
    except OSError:
        return False


def episode_files(paths: Sequence[Path]) -> list[Path]:
    """The spec files the arguments name: files as given, folders searched (sorted) for episodes.

    Hidden folders (the cache) and files that are not episodes are skipped; a file named twice
    is built once. A folder holding no episode is a usage error.
    """
    found: list[Path] = []
    seen: set[Path] = set()
    for path in paths:
        if path.is_dir():
            candidates = sorted(p for p in path.rglob("*.y*ml") if p.suffix in (".yaml", ".yml") and p.is_file()
                                and not any(part.startswith(".") for part in p.relative_to(path).parts))
            candidates = [p for p in candidates if names_an_episode(p)]
            if not candidates:
                raise UsageError(f"no episode specs in {path}/ (an episode names 'episode:' at its top level; "
                                 "series files are only included)")
        else:
            candidates = [path]
        for spec in candidates:
            if spec.resolve() not in seen:
                seen.add(spec.resolve())
                found.append(spec)
    return found


def _single(paths: Sequence[Path]) -> bool:
    return len(paths) == 1 and not paths[0].is_dir()


# -- the combined plan ------------------------------------------------------------------------------
@dataclass
class Work:
    """One episode of a batch: its spec, snapshot cache, lint lines, plan and what is stale."""

    path: Path
    spec: Any
    specs: Any
    lint_lines: list[str]
    plan: Any = None
    stale: dict[str, Any] = field(default_factory=dict)
    #: Stale node id -> the episode (earlier in the batch) that builds the same key.
    shared: dict[str, str] = field(default_factory=dict)
    result: Any = None
    output: str | None = None
    #: With ``-k``: why this episode was left out (a bad spec, a lint or lifecycle refusal), as ``--json`` words it.
    refused: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return str(self.spec.name) if self.spec is not None else self.path.stem

    def own(self) -> dict[str, Any]:
        """The stale nodes this episode builds itself (not shared with an earlier one)."""
        return {nid: s for nid, s in self.stale.items() if nid not in self.shared}


def share(works: Sequence[Work]) -> None:
    """Mark each stale node whose key an earlier episode also builds: it is built once, by that one."""
    first: dict[str, str] = {}
    for work in works:
        work.shared = {}
        if work.refused is not None:
            continue
        for nid, stale in work.stale.items():
            if stale.node.key in first:
                work.shared[nid] = first[stale.node.key]
            else:
                first[stale.node.key] = work.spec.name


def _use(ctx: click.Context, work: Work) -> None:
    """Make ``work``'s snapshot cache and lint lines the ones ``cli``'s helpers see."""
    ctx.meta["shotmake.specs"] = work.specs
    ctx.meta["shotmake.lint_lines"] = work.lint_lines


def _refuse(work: Work, error: ShotmakeError) -> None:
    """``-k``: leave a bad episode out of the run, saying why as the command would have (exit 2 at the end)."""
    from .errors import SpecError
    from .redaction import redact
    from .report import error_json

    click.echo(redact(error.render() if isinstance(error, SpecError) else f"shotmake: error: {error}"), err=True)
    work.refused = error_json(error, exit_code=error.exit_code)["error"]
    work.stale, work.shared = {}, {}


def _load_all(ctx: click.Context, files: Sequence[Path], keep_going: bool = False) -> list[Work]:
    """Load (and lint) every episode before anything is planned or spent: a bad one stops all (exit 2),
    or with ``keep_going`` is left out of the run while the others build."""
    from .errors import SpecError

    app = _app()
    works = []
    for path in files:
        ctx.meta.pop("shotmake.specs", None)
        lines: list[str] = []
        ctx.meta["shotmake.lint_lines"] = lines
        try:
            spec = app._load(path, check=True, snapshot=True)
        except (SpecError, UsageError) as exc:
            if not keep_going:
                raise
            work = Work(path, None, None, lines)
            _refuse(work, exc)
            works.append(work)
            continue
        works.append(Work(path, spec, ctx.meta["shotmake.specs"], lines))
    names: dict[str, Path] = {}
    works_ok = [work for work in works if work.refused is None]
    if not works_ok:
        raise UsageError(f"no episode of the {len(works)} given could be loaded; nothing was rendered")
    for work in works_ok:
        if work.spec.name in names:
            raise UsageError(f"{names[work.spec.name]} and {work.path} both name episode '{work.spec.name}': "
                             "their outputs would overwrite each other; rename one")
        names[work.spec.name] = work.path
    roots = {str(work.spec.root) for work in works_ok}
    if len(roots) > 1:
        raise UsageError(f"the episodes belong to different projects ({', '.join(sorted(roots))}); "
                         "build each project on its own")
    return works


def _plan_all(ctx: click.Context, works: Sequence[Work], cache: Any, config: Any, keep_going: bool = False) -> None:
    app = _app()
    for work in works:
        if work.refused is not None:
            continue
        _use(ctx, work)
        work.plan, work.stale = app._plan(work.spec, cache, config)
        try:
            app._lifecycle_or_stop(work.spec, work.plan, work.stale, config)
        except UsageError as exc:  # SM120: a dirty node would render on a retired route
            if not keep_going:
                raise
            _refuse(work, exc)
    share(works)


def first_loaded(works: Sequence[Work]) -> Work:
    """The first episode that loaded (``_load_all`` made sure there is one)."""
    return next(work for work in works if work.refused is None)


def _batch_context(ctx: click.Context, paths: Sequence[Path], as_json: bool) -> tuple[list[Path], Any]:
    ctx.meta["shotmake.json"] = as_json
    files = episode_files(paths)
    ctx.meta["shotmake.root_spec"] = files[0]
    return files, _app()._settings(ctx)


# -- plan -------------------------------------------------------------------------------------------
@click.command(context_settings=CONTEXT)
@SPECS
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.pass_context
def plan(ctx: click.Context, episodes: tuple[Path, ...], as_json: bool) -> None:
    """Show what a build would render, why, and what it would cost (renders nothing).

    Like `ninja -n` and `dvc status`: every dirty node is listed with its reasons
    ("prompt changed", "input clip:s2 changed", "never built"); cached nodes cost nothing.
    EPISODE... is one spec, several, or a folder of them (a series): one combined plan, where
    a node shared by episodes is built (and counted) once.
    """
    if _single(episodes):
        from .session import plan_one

        plan_one(ctx, episodes[0], as_json)  # also run without click by quick.py
        return
    app = _app()
    files, settings = _batch_context(ctx, episodes, as_json)
    works = _load_all(ctx, files)
    config = app._config(works[0].spec)
    cache = app._cache(settings)
    try:
        _plan_all(ctx, works, cache, config)
    finally:
        cache.close()
    _print_plans(works, config, as_json)


def _print_plans(works: Sequence[Work], config: Any, as_json: bool) -> None:
    from .costs import estimate
    from .report import format_plan, plan_json

    app = _app()
    works = [w for w in works if w.refused is None]  # with -k, a bad episode has said why already
    total = sum(estimate(s.node, config.prices, config.catalog) for w in works for s in w.own().values())
    dirty = sum(len(w.own()) for w in works)
    if as_json:
        entries = []
        for w in works:
            entry = plan_json(w.plan, w.own(), config.prices, config.catalog)
            entry["spec"] = str(w.path)
            entry["shared"] = [{"id": nid, "key": w.stale[nid].node.key, "built_by": by} for nid, by in w.shared.items()]
            entries.append(entry)
        app._emit_json({"episodes": entries, "total": {"episodes": len(works), "rendered": dirty,
                                                       "cost_usd": round(total, 4)}, "error": None})
        return
    for w in works:
        text = format_plan(w.plan, w.own(), config.prices, config.catalog)
        if w.shared:  # the header counts shared nodes as what they are, not as cached
            own, nodes = w.own(), len(w.plan.order)
            cost = sum(estimate(s.node, config.prices, config.catalog) for s in own.values())
            header = (f"{w.plan.episode.name}: {len(own)} of {nodes} nodes to build, {len(w.shared)} built by an "
                      f"earlier episode, {nodes - len(w.stale)} cached, est. ${cost:.2f}")
            text = "\n".join([header, *(text.splitlines()[1:] if own else [])])
        click.echo(text)
        by: dict[str, int] = {}
        for owner in w.shared.values():
            by[owner] = by.get(owner, 0) + 1
        for owner, count in by.items():
            click.echo(f"  + {count} node(s) shared with {owner}: built once, there")
    click.echo(f"total: {len(works)} episodes, {dirty} nodes to build, est. ${total:.2f}")


# -- status -----------------------------------------------------------------------------------------
@click.command(context_settings=CONTEXT)
@SPECS
@click.pass_context
def status(ctx: click.Context, episodes: tuple[Path, ...]) -> None:
    """Summarise each episode: cached vs dirty nodes, and whether the output is current.

    EPISODE... is one spec, several, or a folder of them (a series).
    """
    app = _app()
    if _single(episodes):
        ctx.meta["shotmake.root_spec"] = episodes[0]  # its project root holds the cache and outputs
        spec = app._load(episodes[0], snapshot=True)
        _status_of(ctx, spec)
        return
    files, _ = _batch_context(ctx, episodes, False)
    dirty = cached = 0
    for path in files:
        ctx.meta.pop("shotmake.specs", None)
        counts = _status_of(ctx, app._load(path, snapshot=True))
        cached, dirty = cached + counts[0], dirty + counts[1]
    click.echo(f"total: {len(files)} episodes, {cached} cached, {dirty} dirty")


def _status_of(ctx: click.Context, spec: Any) -> tuple[int, int]:
    from .cache import output_matches

    app = _app()
    settings = app._settings(ctx)
    cache = app._cache(settings)
    try:
        the_plan, stale = app._plan(spec, cache)
        output = settings.out_dir / the_plan.episode.output
        final = cache.lookup(the_plan.final.key)
        current = final is not None and (cache.output_current(output, final) or output_matches(output, final))
    finally:
        cache.close()
    by_kind: dict[str, list[int]] = {}
    for nid in the_plan.order:
        counts = by_kind.setdefault(the_plan.node(nid).kind, [0, 0])
        counts[0 if nid not in stale else 1] += 1
    click.echo(f"{the_plan.episode.name}: {len(the_plan.order) - len(stale)} cached, {len(stale)} dirty")
    for kind, (cached, dirty) in by_kind.items():
        click.echo(f"  {kind:<9} {cached:>4} cached {dirty:>4} dirty")
    click.echo(f"  output    {output} ({'up to date' if current else 'out of date or missing'})")
    return len(the_plan.order) - len(stale), len(stale)


# -- build ------------------------------------------------------------------------------------------
def _set_mode(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value:
        return
    other = ctx.meta.get(MODE)
    if other is not None and other != param.name:
        raise click.UsageError("--remote-only and --no-remote cannot be used together")
    ctx.meta[MODE] = param.name


def remote_options(command: F) -> F:
    """``--remote-only`` and ``--no-remote`` for ``build`` (kept in ``ctx.meta``; read by ``remote_cli.remote_for``).

    Defined here, not in ``remote_cli.py``, so that ``plan`` does not import the remote cache's commands.
    """
    command = click.option(
        "--no-remote", is_flag=True, expose_value=False, callback=_set_mode,
        help="Do not use the remote cache ([cache] remote) in this build: offline work.")(command)
    command = click.option(
        "--remote-only", is_flag=True, expose_value=False, callback=_set_mode,
        help="Render nothing: take every node missing here from the remote cache, or fail (exit 1).")(command)
    return command


@click.command(context_settings=CONTEXT)
@SPECS
@click.option("-n", "--dry-run", is_flag=True, help="Print the plan and stop (same as `shotmake plan`).")
@click.option("-k", "--keep-going", is_flag=True,
              help="Keep building what does not depend on a failed node (and the other episodes).")
@click.option("-j", "--jobs", type=click.IntRange(1, 512), default=lambda: max(2, os.cpu_count() or 2),
              show_default="CPU count", help="Nodes to run at once.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout (progress stays on stderr).")
@click.option("--resubmit-uncertain", is_flag=True,
              help="Create remote jobs again whose earlier create call may have reached the server unrecorded.")
@click.option("--resubmit-rejected", is_flag=True,
              help="Send again requests a provider refused for good in an earlier build (moderation, expired...).")
@click.option("--resubmit-lost", is_flag=True,
              help="Create remote jobs again whose paid render is gone from both the cache and the provider.")
@click.option("--frozen", is_flag=True,
              help="Render nothing: reproduce the cut in EPISODE.lock from the cache, or fail.")
@click.option("--budget", type=click.FloatRange(min=0), metavar="USD",
              help="Refuse to start if the estimate exceeds USD; stop submitting paid jobs before spend passes it.")
@click.option("--summary", "summary_file", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Append a Markdown summary (rendered and why, cost, failures) to FILE, e.g. $GITHUB_STEP_SUMMARY.")
@click.option("--report", "html_report", is_flag=True,
              help="Also write the HTML report (build/NAME-report/index.html): what this build rendered and why.")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines.")
@remote_options
@click.pass_context
def build(ctx: click.Context, episodes: tuple[Path, ...], dry_run: bool, keep_going: bool, jobs: int,
          as_json: bool, resubmit_uncertain: bool, resubmit_rejected: bool, resubmit_lost: bool, frozen: bool,
          budget: float | None, summary_file: Path | None, html_report: bool, quiet: bool) -> None:
    """Render what changed and assemble each episode into the output directory.

    Cached nodes are reused (a paid render is never paid for twice); dirty nodes run in
    dependency order, up to -j at once. A failed or interrupted build keeps everything it
    finished; run it again to continue. Exit 1 if any node failed.

    A successful build writes EPISODE.lock (each node's key and artifact digest);
    --frozen builds exactly that cut from the cache and fails rather than render.
    --budget USD refuses a build whose estimate (see `plan`) exceeds USD (exit 3), and stops
    submitting paid jobs once actual spend plus the next job's estimate would pass it.
    [budget] daily in shotmake.toml caps the spend of every build on this cache per UTC day.

    EPISODE... is one spec, several, or a folder (every episode in it, series files skipped):
    one combined plan and run; a node shared by episodes is built once, --budget covers
    them all, -k keeps going across episodes.
    """
    from .buildrun import Options

    options = Options(dry_run=dry_run, keep_going=keep_going, jobs=jobs, as_json=as_json,
                      resubmit_uncertain=resubmit_uncertain, resubmit_rejected=resubmit_rejected,
                      resubmit_lost=resubmit_lost, frozen=frozen, budget=budget, quiet=quiet,
                      summary_file=summary_file, html_report=html_report)
    ctx.meta["shotmake.json"] = as_json
    try:
        if _single(episodes):
            from .buildrun import build_one

            ctx.meta["shotmake.root_spec"] = episodes[0]  # its project root holds the cache and outputs
            build_one(ctx, episodes[0], options)
        else:
            from .buildrun import build_many

            build_many(ctx, episodes, options)
    except ShotmakeError as exc:
        if summary_file is not None and not ctx.meta.get("shotmake.summary_done"):
            from .redaction import redact
            from .summary import markdown

            write_summary(summary_file, markdown([], exit_code=exc.exit_code, stopped=redact(str(exc))))
        raise


def write_summary(path: Path, text: str) -> None:
    """Append the summary to FILE (``$GITHUB_STEP_SUMMARY`` is appended to by each step), creating it."""
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise UsageError(f"cannot write --summary {path}: {exc.strerror}") from exc


def refuse_before_spending(nodes: Iterable[Any], config: Any, budget: float | None, cache_dir: Path) -> None:
    """Stop (exit 3) before anything is submitted when the estimate passes ``--budget`` or the daily cap."""
    from .costs import estimate
    from .spend import Ledger, refuse_over_daily_cap

    prices = [estimate(node, config.prices, config.catalog) for node in nodes]
    total = sum(prices)
    if budget is not None and total > budget + 1e-9:
        paid = sum(1 for price in prices if price > 0)
        raise SpendRefused(f"the estimate of what would render is ${total:.2f} ({paid} paid renders), over "
                           f"--budget ${budget:.2f}; nothing was submitted (`shotmake plan` lists the cost of "
                           "each node; raise --budget, or build fewer shots)")
    refusal = refuse_over_daily_cap(total, Ledger(cache_dir), config.budget.daily)
    if refusal is not None:
        raise SpendRefused(refusal)


def frozen_check(episode: Path, the_plan: Any, cache: Any, out_dir: Path) -> None:
    """``--frozen``: the lock file's cut must come from the cache as it is, else stop before rendering."""
    from .lock import frozen_problems, lock_path, read_lock

    lock = read_lock(lock_path(episode))
    if lock is None:
        raise UsageError(f"--frozen needs {lock_path(episode)}; build once without --frozen to write it")
    problems = frozen_problems(the_plan, lock, cache.lookup)
    for node in the_plan.deliverables:  # an output to copy is read: it must be intact
        art = cache.lookup(node.key)
        if art is not None and not cache.output_current(out_dir / node.labels["output"], art) \
                and not cache.verify(art, node.id):
            problems.append(f"{node.id}: its cached object is corrupt (evicted); it would have to be "
                            "rendered again")
    if problems:
        raise FrozenMismatch("--frozen: the locked cut cannot be reproduced without rendering:\n  "
                             + "\n  ".join(problems))


def exit_code_of(errors: Iterable[dict[str, Any]]) -> int:
    """One exit status for a run of many episodes: a bug (70) outranks a failure (1); none: 0."""
    codes = {int(e["exit_code"]) for e in errors}
    from .errors import EXIT_INTERNAL

    if EXIT_INTERNAL in codes:
        return EXIT_INTERNAL
    return max(codes) if codes else 0


def print_internal(ctx: click.Context, results: Iterable[Any]) -> None:
    """With ``--debug``, the tracebacks of nodes that hit a bug."""
    app = _app()
    if app._debugging(ctx):
        for result in results:
            for _, error in result.failed:
                if isinstance(error, InternalError):
                    app._print_traceback(error)
