"""The ``shotmake`` command line: thin commands over spec, plan, cache and executor.

Exit codes: 0 success, 1 the build failed, 2 a bad spec, lint error or bad usage, 3 refused
before spending (``--budget`` or the daily cap), 70 a bug in shotmake (an internal error), 130
interrupted (``errors.EXIT_*``). ``build``, ``plan`` and ``status`` live in ``batch.py``. A command given ``--json``
prints exactly one JSON object on stdout, whichever way it ends.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from . import session
from .errors import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    InternalError,
    ShotmakeError,
    SpecError,
    UsageError,
)
from .session import LintFailed, Settings

# The session's helpers (session.py, no click) under the names the commands here and in batch.py,
# buildrun.py, review_cli.py and remote_cli.py use.
_cache = session.open_cache
_config = session.project_config
_emit_json = session.emit_json
_lifecycle_of = session.lifecycle_of
_lifecycle_or_stop = session.lifecycle_or_stop
_lint_or_stop = session.lint_or_stop
_load = session.load_spec
_plan = session.plan_episode
_registry = session.registry
_settings = session.places
_specs = session.spec_cache

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


EXIT_CODES = """\b
Exit codes:
  0    success
  1    the build failed (finished renders are kept)
  2    bad spec, lint error or bad usage (nothing was rendered)
  3    refused before spending: the estimate is over --budget or the daily cap
       ([budget] daily in shotmake.toml); nothing was submitted
  70   internal error: a bug in shotmake (--debug or SHOTMAKE_DEBUG=1 shows the traceback)
  130  interrupted
With --json, plan, build and cost print one JSON object on stdout however they end;
on failure its "error" is {"kind": ..., "exit_code": ..., "message": ...}."""


def _json_wanted(ctx: click.Context) -> bool:
    """Whether this command was given ``--json`` (told by the command, or seen on the command line)."""
    return bool(ctx.meta.get("shotmake.json", ctx.meta.get("shotmake.json_argv", False)))


def _fail_json(ctx: click.Context, error: BaseException, exit_code: int, **fields: str) -> None:
    if _json_wanted(ctx) and not ctx.meta.get("shotmake.json_done"):
        from .redaction import redact
        from .report import error_json

        data = error_json(error, exit_code=exit_code, **fields)
        if isinstance(error, LintFailed):  # the findings, as `lint` prints them
            data["error"]["findings"] = [redact(line) for line in ctx.meta.get("shotmake.lint_lines", [])]
        _emit_json(data)


#: Commands defined in other modules, by the module: each is imported when its command runs (or
#: ``--help`` lists it), so the edit loop's ``plan`` never pays for ``pull``'s or ``review``'s imports
#: (click's "Lazily Loading Subcommands"). The other commands are defined below.
LAZY_COMMANDS = {"build": "batch", "plan": "batch", "status": "batch", "pull": "remote_cli", "push": "remote_cli",
                 "report": "review_cli", "review": "review_cli", "pick": "review_cli", "reroll": "review_cli"}


class ShotmakeGroup(click.Group):
    """A click group that turns errors into a message and an exit code, never a traceback.

    ``ShotmakeError``: its message and its exit code (2 spec, 1 run). Anything else is a bug:
    exit 70 with a one-line report, the traceback only with ``--debug`` / ``SHOTMAKE_DEBUG=1``.
    With ``--json`` each way out also prints the command's JSON object (``error.kind``).
    Commands of ``LAZY_COMMANDS`` are attached when first asked for.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in LAZY_COMMANDS:
            import importlib

            module = importlib.import_module(f".{LAZY_COMMANDS[cmd_name]}", __package__)
            self.add_command(getattr(module, cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # Seen before the command parses its options, so even a bad option answers in JSON.
        ctx.meta["shotmake.json_argv"] = "--json" in args[: args.index("--")] if "--" in args else "--json" in args
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        from .redaction import redact

        try:
            return super().invoke(ctx)
        except ShotmakeError as exc:
            text = exc.render() if isinstance(exc, SpecError) else f"shotmake: error: {exc}"
            click.echo(redact(text), err=True)
            _fail_json(ctx, exc, exc.exit_code)
            if isinstance(exc, InternalError) and _debugging(ctx):
                _print_traceback(exc)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt as exc:
            click.echo("shotmake: interrupted: finished renders are kept; run the build again to continue",
                       err=True)
            _fail_json(ctx, exc, EXIT_INTERRUPTED, kind="interrupted", message="interrupted")
            ctx.exit(EXIT_INTERRUPTED)
        except click.ClickException as exc:  # bad options: click prints its usage message
            _fail_json(ctx, exc, exc.exit_code, kind="usage", message=exc.format_message())
            raise
        except (click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:  # a bug: say so in one line, and how to see more
            message = f"{type(exc).__name__}: {exc}"
            click.echo(redact(f"shotmake: internal error: {message}\n  this is a bug in shotmake, not a problem "
                              "with your spec; finished renders are kept. Run again with --debug (or "
                              "SHOTMAKE_DEBUG=1) for the traceback, and report it."), err=True)
            _fail_json(ctx, exc, EXIT_INTERNAL, kind="internal", message=message)
            if _debugging(ctx):
                _print_traceback(exc)
            ctx.exit(EXIT_INTERNAL)


def _debugging(ctx: click.Context) -> bool:
    return bool(ctx.params.get("debug")) or os.environ.get("SHOTMAKE_DEBUG", "") not in ("", "0")


def _print_traceback(exc: BaseException) -> None:
    import traceback

    from .redaction import redact

    cause = exc.__cause__ if isinstance(exc, InternalError) and exc.__cause__ is not None else exc
    click.echo(redact("".join(traceback.format_exception(cause))), err=True)


@click.group(cls=ShotmakeGroup, context_settings=CONTEXT, epilog=EXIT_CODES)
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), envvar="SHOTMAKE_CACHE",
              show_default=".shotmake in the project root",
              help="Cache directory (env SHOTMAKE_CACHE); a relative path is from the working directory.")
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), envvar="SHOTMAKE_OUT",
              show_default="build in the project root",
              help="Where finished episodes are written (env SHOTMAKE_OUT); relative to the working directory.")
@click.option("--debug", is_flag=True, help="On an internal error, print its traceback (env SHOTMAKE_DEBUG=1).")
@click.version_option(package_name="shotmake")
@click.pass_context
def cli(ctx: click.Context, cache_dir: Path | None, out_dir: Path | None, debug: bool) -> None:
    """make for AI-generated video.

    Declare characters, style, shots and sequences in an episode YAML; shotmake renders
    only what changed since the last build and stitches the clips with ffmpeg.

    \b
    Typical loop:
      shotmake validate episodes/pilot.yaml   # check the spec
      shotmake plan episodes/pilot.yaml       # what would render, why, and the cost
      shotmake build episodes/pilot.yaml      # render what is dirty, assemble build/pilot.mp4
      shotmake explain episodes/pilot.yaml s3 # why does shot s3 rebuild?

    The project root is the nearest folder above the spec (or the working directory) holding
    shotmake.toml, else .git, else .shotmake: its shotmake.toml, cache and build/ are used
    from any subfolder.
    """
    ctx.obj = Settings(cache_dir=cache_dir, out_dir=out_dir)


EPISODE = click.argument("episode", type=click.Path(dir_okay=False, path_type=Path))


@cli.command(context_settings=CONTEXT)
@click.argument("episodes", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def validate(episodes: tuple[Path, ...]) -> None:
    """Check episode specs without rendering anything.

    Everything `plan` checks before it plans: the schema, references, timing, the provider
    rules of `lint` (errors fail, warnings print) and shotmake.toml. Prints one line per valid
    file; errors name file:line:col, the field and a fix.
    """
    for path in episodes:
        episode = _load(path, check=True)  # what validate accepts, plan plans
        _lifecycle_of(episode)  # and nothing that would render on a retired route
        seconds = sum(s.duration for s in episode.shots.values())
        click.echo(f"{path}: ok: {len(episode.characters)} characters, {len(episode.shots)} shots, "
                   f"{len(episode.sequences)} sequences, {seconds:.1f}s")


@cli.command(context_settings=CONTEXT)
@click.argument("episodes", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def lint(episodes: tuple[Path, ...]) -> None:
    """Check specs against each provider's rules before a cent is spent.

    Errors (exit 2) are requests a provider would reject: too many reference images, a
    duration the model does not render, a shot that would render on a retired route (cached
    renders of it are fine)... Warnings flag weak choices: a deprecated route, a seed the
    route ignores. Each finding has a rule id (docs/lint.md); silence one with
    `ignore: [SM106]` on the shot or `lint: {ignore: [...]}` in the episode. `validate`,
    `plan` and `build` run the same checks.
    """
    failed = False
    for path in episodes:
        try:
            spec = _load(path)
            findings = _lint_or_stop(spec) + _lifecycle_of(spec)
        except LintFailed:
            failed = True
            continue
        if not findings:
            click.echo(f"{path}: lint ok")
    if failed:
        raise LintFailed("lint found errors")


def _resolve_node(the_plan: Any, name: str) -> str:
    """Turn ``s3`` or ``clip:s3`` into a node id of the plan, or raise a UsageError with a hint."""
    order: list[str] = list(the_plan.order)
    if name in order:
        return name
    shot = the_plan.episode.shots.get(name)
    take = f"{name}@{shot.pick if shot is not None else 1}"  # a shot's clip is the take the cut uses
    matches = [nid for nid in order if nid.split(":", 1)[1] in (name, take)]
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
    """Print each shot's compiled prompt and the files it sends: review what you pay for.

    The character and voice descriptions, the dialogue and the style appear verbatim, exactly as
    the provider gets them; voice samples sent as reference audio/video are listed as `voice of`.
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
        voices = {path: cid for cid, path in node.labels.get("voice_samples", [])}
        sends += [f"voice of {voices[files[r]]}: {files[r]}" if files.get(r) in voices
                  else f"reference: {owners.get(r) or files.get(r, r[:12])}" for r in m.get("references", [])]
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
@click.option("-n", "--dry-run", is_flag=True, help="List what would be removed, and the bytes; remove nothing.")
@click.option("--keep-days", type=click.FloatRange(min=0), metavar="DAYS",
              help="Keep renders used in the last DAYS days (default: [cache] keep_days in shotmake.toml, 30).")
@click.option("--keep-lock", "keep_locks", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Also keep every render this lock file names (repeatable).")
@click.pass_context
def gc(ctx: click.Context, dry_run: bool, keep_days: float | None, keep_locks: tuple[Path, ...]) -> None:
    """Remove superseded renders, unreferenced objects and leftover temp files from the cache.

    Kept: every render a lock file of this project (or --keep-lock) names, and renders used
    in the last --keep-days days. Waits for a running build. Run with -n first.
    """
    from .collect import Policy, collect, lock_keys, project_locks
    from .config import load_config
    from .journal import Journal
    from .project import root_here

    root = root_here()
    if keep_days is None:
        keep_days = load_config(root).cache.keep_days
    policy = Policy(keep_days=keep_days, keep_keys=lock_keys([*project_locks(root), *keep_locks]))
    settings = _settings(ctx)
    cache = _cache(settings)
    path = settings.cache_dir / "journal.sqlite"
    journal = Journal(path) if path.exists() else None
    try:
        done = collect(cache, policy, journal, dry_run=dry_run)
    finally:
        cache.close()
        if journal is not None:
            journal.close()
    if dry_run:
        for file, size, what in done.files:
            click.echo(f"  {file}  {size / 1e6:.1f} MB  ({what})")
    verb = "would remove" if dry_run else "removed"
    click.echo(f"gc: {verb} {len(done.files)} files ({done.freed / 1e6:.1f} MB); {done.dropped} superseded renders, "
               f"{done.kept} kept (locked or used in the last {keep_days:g} days)")


@cli.command(context_settings=CONTEXT)
@click.pass_context
def reindex(ctx: click.Context) -> None:
    """Rebuild the cache index from the stored renders and the job journal.

    For a cache whose index was lost or damaged: every paid render still in the cache is
    indexed again (nothing is paid twice); local renders are rebuilt by the next build, free.
    """
    from .collect import reindex as rebuild

    settings = _settings(ctx)
    done = rebuild(settings.cache_dir)
    if done.moved_aside is not None:
        click.echo(f"reindex: the damaged index was moved to {done.moved_aside}")
    click.echo(f"reindex: {len(done.recovered)} paid renders indexed again, {done.present} already indexed, "
               f"{len(done.missing)} missing from the cache"
               + (" (the next build downloads them again from their jobs)" if done.missing else ""))


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

    ctx.meta["shotmake.json"] = as_json
    name = None
    if episode is not None:
        name = _load(episode).name if episode.exists() else str(episode)
    if not _settings(ctx).cache_dir.exists():
        if as_json:
            _emit_json({"by": by, "episode": name, "cost_usd": 0.0, "renders": 0, "groups": []})
        else:
            click.echo(f"no renders yet ({_settings(ctx).cache_dir}/ does not exist)")
        return
    cache = _cache(_settings(ctx))
    try:
        summary = summarise_spend((entry for _, entry in cache.entries()), by=by, episode=name)
    finally:
        cache.close()
    from .spend import Ledger, today_against_cap

    today = today_against_cap(Ledger(_settings(ctx).cache_dir), _config_here(episode).budget.daily)
    if as_json:
        _emit_json({**summary, "today": today})
        return
    scope = f"episode {name}" if name else "all episodes"
    click.echo(f"spend by {by} ({scope}): ${summary['cost_usd']:.2f} over {summary['renders']} renders")
    width = max([len(g["name"]) for g in summary["groups"]] + [8])
    for group in summary["groups"]:
        usd = f"${group['cost_usd']:.2f}"
        click.echo(f"  {group['name']:<{width}}  {usd:>10}  {group['renders']:>4} renders")
    cap = f" of the ${today['cap_usd']:.2f} daily cap" if today["cap_usd"] is not None else " (no daily cap set)"
    click.echo(f"today (UTC {today['date']}): ${today['cost_usd']:.2f} spent{cap}")


def _config_here(spec: Path | None) -> Any:
    """shotmake.toml of the spec's project, or of the working directory's."""
    from .config import load_config
    from .project import find_root, root_here

    return load_config(find_root(spec) if spec is not None and spec.is_file() else root_here())


def main(argv: list[str] | None = None) -> int:
    """Entry point for the ``shotmake`` console script."""
    try:
        cli.main(args=argv, prog_name="shotmake")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


@cli.command(context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array (one object per route) on stdout.")
@click.option("--all", "show_all", is_flag=True, help="Give retired routes full rows (limits, price, key) too.")
@click.option("-C", "--project", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Project folder whose shotmake.toml adds or changes routes.")
def routes(as_json: bool, show_all: bool, project: Path) -> None:
    """List the routes a shot or sheet may name: status and dates, key, limits, price, successor.

    The built-in catalog (reviewed on the date printed) plus the routes the project's
    shotmake.toml adds or changes. A retired route renders nothing new, but its cached
    renders stay in use; `lint` and `plan` refuse shots that would render on it.

    \b
    Examples:
      shotmake routes                 # every route; retired ones one line each
      shotmake routes --all           # retired ones with their limits too
      shotmake routes --json | jq '.[] | select(.status == "live") | .name'
    """
    import datetime

    from .config import load_config
    from .project import find_root
    from .providers.catalog import REVIEWED
    from .providers.registry import EnvironmentRegistry
    from .report import format_routes, route_rows

    root = find_root(project / "shotmake.toml")
    config = load_config(root)
    today = datetime.date.today()
    registry = EnvironmentRegistry(routes=config.catalog, backends=config.backends(), today=today)
    rows = route_rows(config.catalog, registry, today, config.prices)
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    click.echo(format_routes(rows, show_all=show_all, reviewed=REVIEWED))
