"""The ``shotmake`` command line: thin commands over spec, plan, cache and executor.

Exit codes: 0 success, 1 the build failed, 2 a bad spec or bad usage.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from .errors import RunError, ShotmakeError, SpecError, UsageError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@dataclass
class Settings:
    """Where the cache and the outputs live (options or environment)."""

    cache_dir: Path
    out_dir: Path


def _settings(ctx: click.Context) -> Settings:
    return ctx.ensure_object(Settings)


class LintFailed(UsageError):
    """Lint found errors: the spec asks for something a provider would reject (exit 2)."""


class ShotmakeGroup(click.Group):
    """A click group that turns ``ShotmakeError`` into its message and exit code (2 spec, 1 run)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ShotmakeError as exc:
            from .redaction import redact

            text = exc.render() if isinstance(exc, SpecError) else f"shotmake: error: {exc}"
            click.echo(redact(text), err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("shotmake: interrupted: finished renders are kept; run the build again to continue",
                       err=True)
            ctx.exit(130)


@click.group(cls=ShotmakeGroup, context_settings=CONTEXT)
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), envvar="SHOTMAKE_CACHE",
              default=".shotmake", show_default=True, help="Cache directory (env SHOTMAKE_CACHE).")
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), envvar="SHOTMAKE_OUT",
              default="build", show_default=True, help="Where finished episodes are written (env SHOTMAKE_OUT).")
@click.version_option(package_name="shotmake")
@click.pass_context
def cli(ctx: click.Context, cache_dir: Path, out_dir: Path) -> None:
    """make for AI-generated video.

    Declare characters, style, shots and sequences in an episode YAML; shotmake renders
    only what changed since the last build and stitches the clips with ffmpeg.

    \b
    Typical loop:
      shotmake validate episodes/pilot.yaml   # check the spec
      shotmake plan episodes/pilot.yaml       # what would render, why, and the cost
      shotmake build episodes/pilot.yaml      # render what is dirty, assemble build/pilot.mp4
      shotmake explain episodes/pilot.yaml s3 # why does shot s3 rebuild?
    """
    ctx.obj = Settings(cache_dir=cache_dir, out_dir=out_dir)


EPISODE = click.argument("episode", type=click.Path(dir_okay=False, path_type=Path))


def _load(path: Path, *, check: bool = False, snapshot: bool = False) -> Any:
    """Load a spec; with ``check``, lint it too: warnings go to stderr, errors stop (exit 2).

    With ``snapshot``, through the cache's spec snapshots (``snapshot.py``): a spec, includes
    and assets unchanged since the last load are not parsed, validated or planned again.
    """
    if snapshot:
        episode = _specs().load(path)
    else:
        from .spec import load_episode

        episode = load_episode(path)
    if check:
        _lint_or_stop(episode)
    return episode


def _lint_or_stop(episode: Any) -> list[Any]:
    import datetime

    findings: list[Any] = _specs().lint(episode, os.environ, datetime.date.today())  # remembered with a snapshot
    lines = click.get_current_context().meta.setdefault("shotmake.lint_lines", [])
    for finding in findings:
        lines.append(finding.render())
        click.echo(lines[-1], err=True)
    errors = sum(1 for f in findings if f.severity == "error")  # lint.has_errors, without importing lint
    if errors:
        raise LintFailed(f"{episode.source}: {errors} lint error(s); nothing was rendered or spent")
    return findings


def _config(episode: Any) -> Any:
    """The project's ``shotmake.toml`` (next to the project root), or the defaults."""
    from .config import load_config

    return load_config(Path(episode.root))


def _registry(config: Any, state_dir: Path | None = None) -> Any:
    from .providers.registry import EnvironmentRegistry

    return EnvironmentRegistry(prices=config.prices, backends=config.backends(), state_dir=state_dir)


def _plan(episode: Any, cache: Any, config: Any = None) -> tuple[Any, Any]:
    """Plan the episode, send nodes whose route has no key to their fallback, and find what is stale."""
    from .cache import build_scope, file_digest
    from .plan import Stale, stale_nodes
    from .routing import route_plan

    config = _config(episode) if config is None else config
    plan = _specs().plan(episode, file_digest)  # a snapshot's, or build_plan's
    plan, moves = route_plan(plan, _registry(config).unavailable, config.fallbacks())
    scope = build_scope(episode)
    _specs().prefetch(cache, plan)  # index entries remembered from the last run, one query for the rest
    stale = stale_nodes(plan, cache.contains, lambda nid: cache.previous(scope, nid),
                        lambda ids: cache.prefetch_previous(scope, ids))
    _specs().remember(cache, plan)
    for move in moves:
        if move.node in stale:
            stale[move.node] = Stale(stale[move.node].node, (move.describe(), *stale[move.node].reasons))
    return plan, stale


def _specs() -> Any:
    """This invocation's ``snapshot.SpecCache`` (under the cache directory), shared by load and plan."""
    ctx = click.get_current_context()
    if "shotmake.specs" not in ctx.meta:
        from .snapshot import SpecCache

        # Only build writes snapshots; plan, status, explain and graph read them.
        ctx.meta["shotmake.specs"] = SpecCache(_settings(ctx).cache_dir, save=ctx.command.name == "build")
    return ctx.meta["shotmake.specs"]


def _cache(settings: Settings) -> Any:
    from .cache import Cache

    return Cache(settings.cache_dir)


@cli.command(context_settings=CONTEXT)
@click.argument("episodes", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def validate(episodes: tuple[Path, ...]) -> None:
    """Check episode specs without rendering anything.

    Prints one line per valid file; errors name file:line:col, the field and a fix.
    """
    for path in episodes:
        episode = _load(path)
        seconds = sum(s.duration for s in episode.shots.values())
        click.echo(f"{path}: ok: {len(episode.characters)} characters, {len(episode.shots)} shots, "
                   f"{len(episode.sequences)} sequences, {seconds:.1f}s")


@cli.command(context_settings=CONTEXT)
@click.argument("episodes", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def lint(episodes: tuple[Path, ...]) -> None:
    """Check specs against each provider's rules before a cent is spent.

    Errors (exit 2) are requests a provider would reject: a character reference sent to
    Sora, Veo 4k at 4 s, five reference images... Warnings flag weak choices. Each finding
    has a rule id (docs/lint.md); silence one with `ignore: [SM106]` on the shot or
    `lint: {ignore: [...]}` in the episode. `plan` and `build` run the same checks.
    """
    failed = False
    for path in episodes:
        try:
            findings = _lint_or_stop(_load(path))
        except LintFailed:
            failed = True
            continue
        if not findings:
            click.echo(f"{path}: lint ok")
    if failed:
        raise LintFailed("lint found errors")


@cli.command(context_settings=CONTEXT)
@EPISODE
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.pass_context
def plan(ctx: click.Context, episode: Path, as_json: bool) -> None:
    """Show what a build would render, why, and what it would cost (renders nothing).

    Like `ninja -n` and `dvc status`: every dirty node is listed with its reasons
    ("prompt changed", "input clip:s2 changed", "never built"); cached nodes cost nothing.
    """
    from .report import format_plan, plan_json

    spec = _load(episode, check=True, snapshot=True)
    config = _config(spec)
    cache = _cache(_settings(ctx))
    try:
        the_plan, stale = _plan(spec, cache, config)
    finally:
        cache.close()
    if as_json:
        click.echo(json.dumps(plan_json(the_plan, stale, config.prices)))
    else:
        click.echo(format_plan(the_plan, stale, config.prices))


@cli.command(context_settings=CONTEXT)
@EPISODE
@click.option("-n", "--dry-run", is_flag=True, help="Print the plan and stop (same as `shotmake plan`).")
@click.option("-k", "--keep-going", is_flag=True, help="Keep building what does not depend on a failed node.")
@click.option("-j", "--jobs", type=click.IntRange(1, 512), default=lambda: max(2, os.cpu_count() or 2),
              show_default="CPU count", help="Nodes to run at once.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout (progress stays on stderr).")
@click.option("--resubmit-uncertain", is_flag=True,
              help="Create remote jobs again whose earlier create call may have reached the server unrecorded.")
@click.option("--resubmit-rejected", is_flag=True,
              help="Send again requests a provider refused for good in an earlier build (moderation, expired...).")
@click.option("--frozen", is_flag=True,
              help="Render nothing: reproduce the cut in EPISODE.lock from the cache, or fail.")
@click.option("--budget", type=click.FloatRange(min=0), metavar="USD",
              help="Refuse to start if the estimate exceeds USD; stop submitting paid jobs before spend passes it.")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines.")
@click.pass_context
def build(ctx: click.Context, episode: Path, dry_run: bool, keep_going: bool, jobs: int, as_json: bool,
          resubmit_uncertain: bool, resubmit_rejected: bool, frozen: bool, budget: float | None,
          quiet: bool) -> None:
    """Render what changed and assemble the episode into the output directory.

    Cached nodes are reused (a paid render is never paid for twice); dirty nodes run in
    dependency order, up to -j at once. A failed or interrupted build keeps everything it
    finished; run it again to continue. Exit 1 if any node failed.

    A successful build writes EPISODE.lock (each node's key and artifact digest);
    --frozen builds exactly that cut from the cache and fails rather than render.
    --budget USD refuses a build whose estimate (see `plan`) exceeds USD, and stops
    submitting paid jobs once actual spend plus the next job's estimate would pass it.
    """
    import datetime

    from . import freshness

    settings = _settings(ctx)
    today = datetime.date.today()
    plain = not (dry_run or frozen or as_json or resubmit_uncertain or resubmit_rejected)
    if plain:
        # The null build people run most: answered from the up-to-date stamp, with a few stats.
        lines = freshness.up_to_date(episode, settings.cache_dir, settings.out_dir, env=os.environ, today=today)
        if lines is not None:
            for text, always in lines:
                if always or not quiet:
                    click.echo(text, err=True)
            return
    if not dry_run:
        freshness.forget_stamp(episode, settings.cache_dir)  # only a build that succeeds vouches again

    from .lock import frozen_problems, lock_data, lock_path, read_lock, write_lock
    from .report import ConsoleReporter, build_json, finished_line, format_plan, nothing_to_do_line, plan_json
    from .routing import with_nodes

    spec = _load(episode, check=True, snapshot=True)
    config = _config(spec)
    cache = _cache(settings)
    try:
        if dry_run:
            the_plan, stale = _plan(spec, cache, config)
            click.echo(json.dumps(plan_json(the_plan, stale, config.prices)) if as_json
                       else format_plan(the_plan, stale, config.prices))
            return
        with cache.build_lock():
            the_plan, stale = _plan(spec, cache, config)
            if budget is not None:
                _refuse_over_budget(stale, config, budget)
            if frozen:
                lock = read_lock(lock_path(episode))
                if lock is None:
                    raise UsageError(f"--frozen needs {lock_path(episode)}; build once without --frozen to write it")
                problems = frozen_problems(the_plan, lock, cache.lookup)
                if problems:
                    raise RunError("--frozen: the locked cut cannot be reproduced without rendering:\n  "
                                   + "\n  ".join(problems))
            result, output = _execute(the_plan, stale, cache, settings, jobs=jobs, keep_going=keep_going,
                                      reporter=ConsoleReporter(quiet=quiet),
                                      resubmit_uncertain=resubmit_uncertain, config=config, budget=budget,
                                      resubmit_rejected=resubmit_rejected)
            if result.ok and not frozen:
                built = with_nodes(the_plan, result.routed)  # the keys and routes that really rendered
                write_lock(lock_path(episode), lock_data(built, result.artifacts), episode.name)
    finally:
        cache.close()
    wrote = f"shotmake: wrote {output}" if output else ""
    if as_json:
        click.echo(json.dumps(build_json(the_plan, result, output)))
    elif wrote and not quiet:
        click.echo(wrote, err=True)
    if not result.ok:
        ctx.exit(1)
    inputs = _specs().inputs()
    if not frozen and inputs is not None:  # a snapshot vouches for the spec: record that all is built
        nodes = len(the_plan.order)
        lines = [(text, True) for text in ctx.meta.get("shotmake.lint_lines", [])]
        lines += [(nothing_to_do_line(the_plan.episode.name, nodes), False), (finished_line(0, nodes, 0.0), False)]
        lines += [(wrote, False)] if wrote else []
        outputs = [settings.out_dir / n.labels["output"] for n in the_plan.deliverables if n.id in result.artifacts]
        freshness.write_stamp(settings.cache_dir, settings.out_dir, inputs=inputs,
                              outputs=[*outputs, lock_path(episode)], lines=lines, env=os.environ, today=today)


def _refuse_over_budget(stale: Any, config: Any, budget: float) -> None:
    """``--budget``: stop before anything is submitted when the estimate is over it."""
    from .costs import estimate
    from .errors import BudgetExceeded

    total = sum(estimate(s.node, config.prices) for s in stale.values())
    if total > budget + 1e-9:
        paid = sum(1 for s in stale.values() if estimate(s.node, config.prices) > 0)
        raise BudgetExceeded(f"the estimate of what would render is ${total:.2f} ({paid} paid renders), over "
                             f"--budget ${budget:.2f}; nothing was submitted (`shotmake plan` lists the cost of "
                             "each node; raise --budget, or build fewer shots)")


def _execute(the_plan: Any, stale: Any, cache: Any, settings: Settings, *, jobs: int, keep_going: bool,
             reporter: Any, resubmit_uncertain: bool, config: Any = None,
             budget: float | None = None, resubmit_rejected: bool = False) -> tuple[Any, str | None]:
    from .config import Config
    from .costs import SpendLimit
    from .execute import Executor, RemotePolicy
    from .health import Backoff, Health
    from .journal import Journal
    from .routing import RENDERED

    config = config or Config()
    registry = _registry(config, settings.cache_dir)
    fallbacks = config.fallbacks()
    journal = Journal(settings.cache_dir / "journal.sqlite") if any(
        s.node.kind in RENDERED and any(r not in ("local", "local-image")
                                        for r in (s.node.provider, *fallbacks.get(s.node.provider, ())))
        for s in stale.values()
    ) else None
    retry, remote = config.retry, config.remote
    health = Health(max_attempts=retry.max_attempts, retry_budget=retry.budget,
                    backoff=Backoff(base=retry.base, cap=retry.cap), breaker_failures=config.circuit.failures,
                    breaker_cooldown=config.circuit.cooldown, requests_per_minute=config.requests_per_minute())
    policy = RemotePolicy(poll_interval=remote.poll_interval, deadline=remote.deadline_minutes * 60,
                          stall_timeout=remote.stall_minutes * 60, resubmit_uncertain=resubmit_uncertain,
                          resubmit_rejected=resubmit_rejected)
    try:
        executor = Executor(the_plan, cache, registry, reporter, jobs=jobs, keep_going=keep_going, journal=journal,
                            provider_limits=config.concurrency(), policy=policy, prices=config.prices,
                            health=health, spend=SpendLimit(budget), fallbacks=fallbacks)
        result = executor.run(stale)
    finally:
        registry.close()
        if journal is not None:
            journal.close()
    output = None
    for node in the_plan.deliverables:
        artifact = result.artifacts.get(node.id)
        if artifact is not None:
            cache.materialize(artifact, settings.out_dir / node.labels["output"])
    if result.output is not None:
        output = str(settings.out_dir / the_plan.episode.output)
    return result, output


def _resolve_node(the_plan: Any, name: str) -> str:
    """Turn ``s3`` or ``clip:s3`` into a node id of the plan, or raise a UsageError with a hint."""
    order: list[str] = list(the_plan.order)
    if name in order:
        return name
    matches = [nid for nid in order if nid.split(":", 1)[1] in (name, f"{name}@1")]
    # A bare name means the thing the user declared: the shot's clip before its derived frame.
    for kind in ("clip", "sequence", "sheet", "plate", "episode"):
        declared = [nid for nid in matches if nid.startswith(kind + ":")]
        if len(declared) == 1:
            return declared[0]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise UsageError(f"'{name}' is ambiguous: {', '.join(matches)}")
    from .spec import did_you_mean

    hint = did_you_mean(name, [*order, *(nid.split(':', 1)[1] for nid in order)])
    raise UsageError(f"no node '{name}' in {the_plan.episode.name}" + (f"; {hint}" if hint else ""))


@cli.command(context_settings=CONTEXT)
@EPISODE
@click.argument("node")
@click.pass_context
def explain(ctx: click.Context, episode: Path, node: str) -> None:
    """Say why NODE would rebuild: which of its inputs changed since its cached render.

    NODE is a node id (clip:s3, sequence:opening) or a bare shot/sequence id (s3).
    Like `ninja -d explain`.
    """
    spec = _load(episode, snapshot=True)
    cache = _cache(_settings(ctx))
    try:
        the_plan, stale = _plan(spec, cache)
        nid = _resolve_node(the_plan, node)
        target = the_plan.node(nid)
        click.echo(f"{nid}  key {target.key[:16]}  provider {target.provider}")
        if target.location:
            click.echo(f"  defined at {target.location}")
        if nid not in stale:
            artifact = cache.lookup(target.key)
            click.echo(f"  up to date: cached as {artifact.digest[:16] if artifact else '?'}")
            return
        for reason in stale[nid].reasons:
            click.echo(f"  dirty: {reason}")
        upstream = [d for d in the_plan.node(nid).inputs if d in stale]
        if upstream:
            click.echo(f"  waits for: {', '.join(upstream)}")
    finally:
        cache.close()


@cli.command(context_settings=CONTEXT)
@EPISODE
@click.argument("shot", required=False)
@click.pass_context
def prompts(ctx: click.Context, episode: Path, shot: str | None) -> None:
    """Print each shot's compiled prompt and the images it sends: review what you pay for.

    The character descriptions and the style appear verbatim, exactly as the provider gets them.
    """
    from .cache import file_digest
    from .plan import build_plan

    spec = _load(episode)
    the_plan = build_plan(spec, file_digest)
    ids = [nid for nid in the_plan.order if the_plan.node(nid).kind in ("clip", "sheet", "plate")]
    if shot is not None:
        wanted = _resolve_node(the_plan, shot)
        ids = [nid for nid in ids if nid == wanted or nid.startswith(wanted + "@")] or [wanted]
    owners = {the_plan.node(nid).key: nid for nid in the_plan.order}
    for nid in ids:
        node = the_plan.node(nid)
        m = node.manifest
        click.echo(f"== {nid}  [{node.provider} / {m.get('model', '')}]")
        click.echo(m.get("prompt", ""))
        if m.get("negative_prompt"):
            click.echo(f"-- negative: {m['negative_prompt']}")
        files = {digest: path for path, digest in node.labels.get("reference_files", [])}
        sends = []
        for role in ("first_frame", "last_frame", "extends"):
            if m.get(role):
                sends.append(f"{role.replace('_', ' ')}: {owners.get(m[role]) or files.get(m[role], m[role][:12])}")
        sends += [f"reference: {owners.get(r) or files.get(r, r[:12])}" for r in m.get("references", [])]
        click.echo("-- sends: " + ("; ".join(sends) if sends else "text only"))
        click.echo()


@cli.command(context_settings=CONTEXT)
@EPISODE
@click.option("--format", "fmt", type=click.Choice(["dot", "mermaid"]), default="dot", show_default=True)
@click.pass_context
def graph(ctx: click.Context, episode: Path, fmt: str) -> None:
    """Print the build graph as Graphviz DOT or Mermaid text; dirty nodes are marked.

    \b
    shotmake graph episodes/pilot.yaml | dot -Tsvg > pilot.svg
    """
    spec = _load(episode, snapshot=True)
    cache = _cache(_settings(ctx))
    try:
        the_plan, stale = _plan(spec, cache)
    finally:
        cache.close()
    nodes = the_plan.order
    if fmt == "dot":
        click.echo(f'digraph "{the_plan.episode.name}" {{\n  rankdir=LR;')
        for nid in nodes:
            style = ', style=filled, fillcolor="#ffd27f"' if nid in stale else ""
            click.echo(f'  "{nid}" [shape=box{style}];')
        for a, b in the_plan.graph.edges:
            click.echo(f'  "{a}" -> "{b}";')
        click.echo("}")
    else:
        ids = {nid: f"n{i}" for i, nid in enumerate(nodes)}
        click.echo("graph LR")
        for nid in nodes:
            click.echo(f'  {ids[nid]}["{nid}"]' + (":::dirty" if nid in stale else ""))
        for a, b in the_plan.graph.edges:
            click.echo(f"  {ids[a]} --> {ids[b]}")
        click.echo("  classDef dirty fill:#ffd27f")


@cli.command(context_settings=CONTEXT)
@EPISODE
@click.pass_context
def status(ctx: click.Context, episode: Path) -> None:
    """Summarise the episode: cached vs dirty nodes, and whether the output is current."""
    settings = _settings(ctx)
    spec = _load(episode, snapshot=True)
    cache = _cache(settings)
    try:
        the_plan, stale = _plan(spec, cache)
        output = settings.out_dir / the_plan.episode.output
        final = cache.lookup(the_plan.final.key)
        current = final is not None and output.exists() and os.path.samefile(output, final.path) if final else False
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


@cli.command(context_settings=CONTEXT)
@click.option("-n", "--dry-run", is_flag=True, help="Only report what would be removed.")
@click.pass_context
def gc(ctx: click.Context, dry_run: bool) -> None:
    """Remove cache objects no index entry references, and leftover temp files.

    Paid renders that the index knows are never removed.
    """
    cache = _cache(_settings(ctx))
    try:
        removed, freed = cache.gc(dry_run=dry_run)
    finally:
        cache.close()
    verb = "would remove" if dry_run else "removed"
    click.echo(f"gc: {verb} {removed} files ({freed / 1e6:.1f} MB)")


@cli.command(context_settings=CONTEXT)
@click.pass_context
def clean(ctx: click.Context) -> None:
    """Delete the output directory (build/). The cache is kept: rebuilding costs nothing."""
    import shutil

    out = _settings(ctx).out_dir
    if out.exists():
        shutil.rmtree(out)
        click.echo(f"removed {out}/")
    else:
        click.echo(f"nothing to clean ({out}/ does not exist)")


@cli.command(context_settings=CONTEXT)
@click.option("--all", "show_all", is_flag=True, help="Include finished and failed jobs.")
@click.option("--limit", type=int, default=50, show_default=True)
@click.pass_context
def jobs(ctx: click.Context, show_all: bool, limit: int) -> None:
    """List remote jobs in flight (and recent ones with --all) from the job journal."""
    from .journal import Journal

    path = _settings(ctx).cache_dir / "journal.sqlite"
    if not path.exists():
        click.echo("no remote jobs recorded")
        return
    journal = Journal(path)
    try:
        records = journal.recent(limit, active_only=not show_all)
    finally:
        journal.close()
    if not records:
        click.echo("no jobs in flight" + ("" if show_all else " (--all shows finished ones)"))
    for r in records:
        progress = f"{r.progress:.0%}" if r.progress is not None else "-"  # the journal keeps a 0..1 fraction
        click.echo(f"{r.phase:<10} {r.node:<24} {r.provider:<14} {r.job_id or '(no id yet)':<40} {progress}"
                   + (f"  {r.error}" if r.error else ""))


@cli.command(context_settings=CONTEXT)
@click.argument("episode", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--by", type=click.Choice(["provider", "day", "episode"]), default="provider", show_default=True,
              help="How to group the spend.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.pass_context
def cost(ctx: click.Context, episode: Path | None, by: str, as_json: bool) -> None:
    """Summarise what renders in the cache cost, per provider, day or episode.

    Reads the actual spend recorded with each render (filtered or failed jobs cost nothing);
    EPISODE (a spec file or an episode name) keeps that episode's renders only.
    """
    from .costs import summarise_spend

    name = None
    if episode is not None:
        name = _load(episode).name if episode.exists() else str(episode)
    if not _settings(ctx).cache_dir.exists():
        click.echo(json.dumps({"by": by, "episode": name, "cost_usd": 0.0, "renders": 0, "groups": []}) if as_json
                   else f"no renders yet ({_settings(ctx).cache_dir}/ does not exist)")
        return
    cache = _cache(_settings(ctx))
    try:
        summary = summarise_spend((entry for _, entry in cache.entries()), by=by, episode=name)
    finally:
        cache.close()
    if as_json:
        click.echo(json.dumps(summary))
        return
    scope = f"episode {name}" if name else "all episodes"
    click.echo(f"spend by {by} ({scope}): ${summary['cost_usd']:.2f} over {summary['renders']} renders")
    width = max([len(g["name"]) for g in summary["groups"]] + [8])
    for group in summary["groups"]:
        usd = f"${group['cost_usd']:.2f}"
        click.echo(f"  {group['name']:<{width}}  {usd:>10}  {group['renders']:>4} renders")


def main(argv: list[str] | None = None) -> int:
    """Entry point for the ``shotmake`` console script."""
    try:
        cli.main(args=argv, prog_name="shotmake")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
