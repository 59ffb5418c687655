"""The ``report``, ``review``, ``pick`` and ``reroll`` commands (attached to the CLI by ``cli.LAZY_COMMANDS``).

Thin: they load and plan through the CLI's helpers, gather with ``htmlreport``, draw with
``report_page``, serve with ``review`` and edit the spec with ``picks``.
"""

from __future__ import annotations

import datetime
import gc
import os
import sys
from pathlib import Path
from typing import Any

import click

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
EPISODE = click.argument("episode", type=click.Path(dir_okay=False, path_type=Path))


def gather(episode: Path, *, spec: Any = None, cache: Any = None, the_plan: Any = None, stale: Any = None,
           result: Any = None) -> Any:
    """The ``htmlreport.Report`` of ``episode`` (planned here unless ``build --report`` hands its plan over)."""
    from . import cli
    from .cache import build_scope
    from .costs import estimate, summarise_spend
    from .htmlreport import collect
    from .journal import Journal
    from .plan import delivery_format
    from .thumbnails import thumbnail

    ctx = click.get_current_context()
    places = cli._settings(ctx)
    spec = spec if spec is not None else cli._load(episode, snapshot=True)
    config = cli._config(spec)
    own = cache is None
    cache = cli._cache(places) if own else cache
    try:
        if the_plan is None:
            the_plan, stale = cli._plan(spec, cache, config)
        findings = cli._specs().lint(spec, os.environ, datetime.date.today(), config.catalog)
        errors: dict[str, str] = {}
        journal_path = places.cache_dir / "journal.sqlite"
        if journal_path.exists():
            journal = Journal(journal_path)
            try:
                for nid in stale:
                    record = journal.get(the_plan.node(nid).key)
                    if record is not None and record.phase in ("failed", "rejected") and record.error:
                        errors[nid] = f"{record.phase} on {record.provider}: {record.error}"
            finally:
                journal.close()
        final = the_plan.final
        previous = None
        if final.id in stale:  # show the last master built, and say it is not the current cut
            for record in cache.manifests(build_scope(spec), final.id):
                previous = cache.lookup(record["key"])
                if previous is not None:
                    break
        keys = [the_plan.node(nid).key for nid in the_plan.order if the_plan.node(nid).kind in ("clip", "sheet", "plate")]
        cache.prefetch(keys)  # one query for the index entries, which say when each render was stored
        stored = {k: float(e["stored"]) for k, e in cache.known_entries(keys).items()
                  if isinstance(e.get("stored"), (int, float))}
        fmt = delivery_format(spec)
        spend = summarise_spend((entry for _, entry in cache.entries()), by="provider", episode=spec.name)
        return collect(
            the_plan, stale, cache.lookup, lambda art: thumbnail(cache, art).artifact,
            estimate=lambda node: estimate(node, config.prices, config.catalog), spend_by_route=spend["groups"],
            findings=findings, journal_errors=errors, result=result, previous_master=previous,
            delivery=f"{fmt.width}x{fmt.height} {fmt.fps} fps H.264/AAC", stored=stored)
    finally:
        if own:
            cache.close()


def write(episode: Path, **given: Any) -> Path:
    """Gather, draw and write the report folder; return the page's path."""
    from . import cli
    from .htmlreport import report_dir, write_report
    from .report_page import render

    report = gather(episode, **given)
    folder = report_dir(cli._settings(click.get_current_context()).out_dir, report.name)
    return write_report(folder, report, render(report, spec=str(episode)))


@click.command(context_settings=CONTEXT, short_help="Write the HTML report: shots, takes, costs, failures.")
@EPISODE
def report(episode: Path) -> None:
    """Write an HTML report of the episode: see what you paid for, offline.

    \b
    The page (build/NAME-report/index.html, open it in any browser, no network needed) shows
      - the master, playable, with its chapters, running time and delivery format;
      - every shot in story order: a first/middle/last frame strip of each take, the take in
        the cut, the prompt sent, characters, route and model, cost, lint warnings, and
        whether it is cached or still to render (and why);
      - character sheets and plates; the spend by route and what a full re-render would cost;
      - failures with their reasons.
    Thumbnails are cached: writing the report again extracts nothing new.
    `build --report` writes it after a build, saying what that build rendered;
    `shotmake review` serves it with buttons to pick takes and re-roll shots.
    """
    path = write(episode)
    click.echo(f"shotmake: wrote {path} (open it in a browser)", err=True)


@click.command(context_settings=CONTEXT, short_help="Serve the report on 127.0.0.1 with Pick and Re-roll.")
@EPISODE
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default="a free port",
              help="Port on 127.0.0.1 to serve the page on.")
@click.option("--no-open", is_flag=True, help="Do not open the page in a browser; just print its address.")
@click.pass_context
def review(ctx: click.Context, episode: Path, port: int, no_open: bool) -> None:
    """Serve the report on localhost with buttons to pick takes and re-roll shots.

    \b
    "Use take N" writes `pick: N` on that shot in the spec file (one line; comments
    and layout kept), "Re-roll" adds a take (`takes:`, a new seed where the route takes
    one). Neither renders or spends anything: run `shotmake build` in another terminal,
    then reload the page (it is made again on each load). The server listens on
    127.0.0.1 only and acts only on its own page's buttons; Ctrl-C stops it.

    \b
      shotmake review episodes/pilot.yaml --port 8765
    """
    from .report_page import render
    from .review import Page, ReviewServer

    def make_page(token: str, message: str) -> Page:
        ctx.meta.pop("shotmake.specs", None)  # the spec may have changed on disk: read it again
        with ctx.scope(cleanup=False):
            found = gather(episode)
        return Page(render(found, spec=str(episode), review_token=token, message=message), dict(found.media))

    def act(action: str, form: Any) -> str:
        ctx.meta.pop("shotmake.specs", None)
        with ctx.scope(cleanup=False):
            if action == "pick":
                try:
                    take = int(form.get("take", ""))
                except ValueError:
                    return "pick failed: no take number"
                return do_pick(episode, str(form.get("shot", "")), take)
            return do_reroll(episode, str(form.get("shot", "")))

    try:
        server = ReviewServer(make_page, act, port=port)
    except OSError as exc:  # the port is taken (or not ours to bind)
        from .errors import UsageError

        raise UsageError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}; pick another --port "
                         "(0 picks a free one)") from exc
    click.echo(f"shotmake: reviewing {episode} at {server.url} (Ctrl-C stops)", err=True)
    # Only where a graphical browser can open: elsewhere webbrowser may start a text browser in this terminal.
    if not no_open and (sys.platform in ("darwin", "win32") or os.environ.get("DISPLAY")
                        or os.environ.get("WAYLAND_DISPLAY")):
        import webbrowser

        webbrowser.open(server.url)
    gc.enable()  # off for start-up (``shotmake.__main__``); the server runs until stopped
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("shotmake: review stopped", err=True)
    finally:
        server.server_close()


def do_pick(episode: Path, shot: str, take: int) -> str:
    """Write the pick and say what the next build does about it."""
    from . import cli
    from .picks import pick as write_pick

    spec = cli._load(episode)
    edit = write_pick(spec, shot, take)
    if edit is None:
        return f"shot {shot} already uses take {take}; nothing changed"
    return f"{edit.describe()}; {_next_build(episode)}"


def do_reroll(episode: Path, shot: str) -> str:
    """Add a take and say what it will send and cost."""
    from . import cli
    from .picks import reroll as write_reroll

    spec = cli._load(episode)
    config = cli._config(spec)
    done = write_reroll(spec, shot, config.catalog, config.prices)
    route = spec.shots[shot].provider
    return f"{done.edit.describe()}; {done.describe(shot, route)}"


def _next_build(episode: Path) -> str:
    """``the next build makes N nodes ($X): ...`` for the spec as it is on disk now."""
    from . import cli
    from .costs import estimate

    ctx = click.get_current_context()
    ctx.meta.pop("shotmake.specs", None)
    spec = cli._load(episode)
    config = cli._config(spec)
    cache = cli._cache(cli._settings(ctx))
    try:
        _, stale = cli._plan(spec, cache, config)
    finally:
        cache.close()
    usd = sum(estimate(s.node, config.prices, config.catalog) for s in stale.values())
    names = ", ".join(list(stale)[:6]) + (", ..." if len(stale) > 6 else "")
    return f"the next `shotmake build` makes {len(stale)} node(s) for ${usd:.2f}" + (f": {names}" if names else "")


@click.command(context_settings=CONTEXT, short_help="Use take TAKE of SHOT in the cut (writes `pick:`).")
@EPISODE
@click.argument("shot")
@click.argument("take", type=click.IntRange(min=1))
def pick(episode: Path, shot: str, take: int) -> None:
    """Use take TAKE of SHOT in the cut: writes `pick: TAKE` on that shot in the spec.

    Only that line of the file that defines the shot changes (comments and layout are
    kept). Renders nothing: the next `shotmake build` re-assembles the cut around the
    take, which is already in the cache if it was built.

    \b
      shotmake pick episodes/pilot.yaml meet 2
    """
    click.echo(do_pick(episode, shot, take))


@click.command(context_settings=CONTEXT, short_help="Add a take to SHOT for the next build (`takes:`).")
@EPISODE
@click.argument("shot")
def reroll(episode: Path, shot: str) -> None:
    """Add a take to SHOT (`takes: n+1`) for the next build to render.

    The new take is a new request: on routes that honour a seed, take n uses the shot's
    seed + n - 1; elsewhere the same prompt goes again and the provider's own randomness
    makes a different video (the command says which, and the estimated cost). Existing
    takes stay cached and the cut keeps its pick; `shotmake pick` switches to the new take.

    \b
      shotmake reroll episodes/pilot.yaml meet
    """
    click.echo(do_reroll(episode, shot))

