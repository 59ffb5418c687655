"""The body of ``build``: one episode (as it always was), or many in one run (``batch.py`` explains).

``Run`` is what the episodes of one build share: the provider registry, the job journal, the
health state (retries, breakers, request windows) and the spend ledger (``--budget`` and the
daily cap). ``Run.episode`` executes one episode's stale nodes and copies its outputs into place.
"""

from __future__ import annotations

import datetime
import os
import sys
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, cast

import click

from .batch import (
    Work,
    _app,
    _load_all,
    _plan_all,
    _print_plans,
    episode_files,
    exit_code_of,
    first_loaded,
    frozen_check,
    print_internal,
    refuse_before_spending,
    write_summary,
)
from .capacity import Capacity


@dataclass(frozen=True)
class Options:
    """``build``'s options, as one record."""

    dry_run: bool = False
    keep_going: bool = False
    jobs: int = 2
    as_json: bool = False
    resubmit_uncertain: bool = False
    resubmit_rejected: bool = False
    resubmit_lost: bool = False
    frozen: bool = False
    budget: float | None = None
    quiet: bool = False
    summary_file: Path | None = None
    html_report: bool = False

    @property
    def plain(self) -> bool:
        """A build the up-to-date stamp may answer (nothing asked of it but to build)."""
        return not (self.dry_run or self.frozen or self.as_json or self.resubmit_uncertain or self.resubmit_rejected
                    or self.resubmit_lost or self.summary_file is not None or self.html_report)


class Run:
    """What every episode of one build shares; ``close`` it when the build ends."""

    def __init__(self, config: Any, cache_dir: Path, stale_nodes: Iterable[Any], options: Options,
                 remote_cache: Any = None) -> None:
        from .execute import RemotePolicy
        from .health import Backoff, Health
        from .journal import Journal
        from .routing import RENDERED
        from .spend import spend_limit

        self.config = config
        self.registry = _app()._registry(config, cache_dir)
        fallbacks = self.fallbacks = config.fallbacks()
        self.journal = Journal(cache_dir / "journal.sqlite") if any(
            node.kind in RENDERED and any(r in config.catalog and config.catalog[r].protocol != "local"
                                          for r in (node.provider, *fallbacks.get(node.provider, ())))
            for node in stale_nodes
        ) else None
        retry, remote = config.retry, config.remote
        self.health = Health(max_attempts=retry.max_attempts, retry_budget=retry.budget,
                             backoff=Backoff(base=retry.base, cap=retry.cap),
                             breaker_failures=config.circuit.failures, breaker_cooldown=config.circuit.cooldown,
                             requests_per_minute=config.requests_per_minute())
        self.policy = RemotePolicy(poll_interval=remote.poll_interval, deadline=remote.deadline_minutes * 60,
                                   stall_timeout=remote.stall_minutes * 60,
                                   resubmit_uncertain=options.resubmit_uncertain,
                                   resubmit_rejected=options.resubmit_rejected, resubmit_lost=options.resubmit_lost)
        self.spend = spend_limit(options.budget, cache_dir, config.budget.daily)
        #: Shared by the episodes of a batch, which run at once: -j and [limits] hold over all of them.
        self.capacity = Capacity(options.jobs, config.concurrency())
        self.stop = threading.Event()
        #: The shared remote cache (``remote.py``, thread-safe), if one is configured and not --no-remote.
        self.remote = remote_cache

    def episode(self, the_plan: Any, stale: Any, cache: Any, out_dir: Path, *, jobs: int, keep_going: bool,
                reporter: Any, batch: bool = False) -> tuple[Any, str | None]:
        """Build one episode's stale nodes; copy its deliverables into ``out_dir``.

        ``batch``: one of several episodes running at once, sharing slots, builders and the stop.
        """
        from .execute import Executor

        config = self.config
        shared: dict[str, Any] = {"capacity": self.capacity, "stop": self.stop} if batch else {}
        executor = Executor(the_plan, cache, self.registry, reporter, jobs=jobs, keep_going=keep_going, **shared,
                            journal=self.journal, provider_limits=config.concurrency(), policy=self.policy,
                            prices=config.prices, health=self.health, spend=self.spend, fallbacks=self.fallbacks,
                            routes=config.catalog,
                            in_place=lambda node, art: cache.output_current(out_dir / node.labels["output"], art),
                            remote=self.remote)
        result = executor.run(stale)
        for node in the_plan.deliverables:
            artifact = result.artifacts.get(node.id)
            if artifact is not None:
                cache.materialize(artifact, out_dir / node.labels["output"])
        output = str(out_dir / the_plan.episode.output) if result.output is not None else None
        return result, output

    def close(self) -> None:
        self.registry.close()
        if self.journal is not None:
            self.journal.close()


def _finish_episode(cache: Any, episode: Path, spec: Any, the_plan: Any, result: Any, frozen: bool) -> None:
    """After a successful episode: write its lock file and remember its cut as used today."""
    from .cache import build_scope
    from .lock import lock_data, lock_path, write_lock
    from .routing import with_nodes

    built = with_nodes(the_plan, result.routed)  # the keys and routes that really rendered
    if not frozen:
        write_lock(lock_path(episode), lock_data(built, result.artifacts), episode.name)
    cache.record_use(build_scope(spec), (built.node(nid).key for nid in built.order))


def _stamp(settings: Any, episode: Path, the_plan: Any, result: Any, inputs: Any, lint_lines: Sequence[str],
           wrote: str, today: datetime.date) -> None:
    """Record that the episode is built in full, so the next null build answers from a few stats."""
    from . import freshness
    from .lock import lock_path
    from .report import finished_line, nothing_to_do_line

    nodes = len(the_plan.order)
    lines = [(text, True) for text in lint_lines]
    lines += [(nothing_to_do_line(the_plan.episode.name, nodes), False), (finished_line(0, nodes, 0.0), False)]
    lines += [(wrote, False)] if wrote else []
    outputs = [settings.out_dir / n.labels["output"] for n in the_plan.deliverables if n.id in result.artifacts]
    freshness.write_stamp(settings.cache_dir, settings.out_dir, inputs=inputs,
                          outputs=[*outputs, lock_path(episode)], lines=lines, env=os.environ, today=today)
    from .routing import with_nodes

    built = with_nodes(the_plan, result.routed)  # the keys that really rendered, or were found
    freshness.write_cached(settings.cache_dir, inputs, (built.node(nid).key for nid in built.order))


def outcome(work: Work, config: Any) -> Any:
    """The summary record of one episode of a build (``summary.py``)."""
    from .routing import RENDERED
    from .summary import EpisodeOutcome, Rendered

    result = work.result
    name = work.name
    if work.refused is not None:
        return EpisodeOutcome(name, str(work.path), "refused", notes=(str(work.refused["message"]),))
    if result is None:
        return EpisodeOutcome(name, str(work.path), "not started",
                              notes=("not started: an earlier episode failed (-k keeps going)",))
    rendered = tuple(
        Rendered(node.id, node.provider, float(result.artifacts[node.id].meta.get("cost_usd") or 0.0)
                 if node.id in result.artifacts else 0.0,
                 tuple(work.stale[node.id].reasons) if node.id in work.stale else ())
        for node in result.rendered if node.kind in RENDERED)  # provider renders; assembly is counted
    failed = tuple((node.id, str(error)) for node, error in result.failed)
    failed += tuple((node.id, "not started: an input failed" if result.failed else "not started: the build stopped")
                    for node in result.skipped)
    state = "built" if result.ok else "failed"
    if result.ok and not result.rendered:
        state = "up to date"
    notes = (f"{len(work.shared)} node(s) shared with an earlier episode, built once",) if work.shared else ()
    return EpisodeOutcome(name, str(work.path), state, rendered, len(result.rendered) - len(rendered),
                          len(result.cached), failed, len(work.shared), round(result.cost_usd, 4),
                          round(result.seconds, 3), work.output, notes)


# -- one episode ------------------------------------------------------------------------------------
def _remote(config: Any, cache: Any) -> Any:
    from .remote_cli import remote_for  # not for `build -n`

    return remote_for(config, cache)


def build_one(ctx: click.Context, episode: Path, options: Options) -> None:
    """``build EPISODE``: what ``build`` always did, plus the daily cap and ``--summary``."""
    from . import freshness

    app = _app()
    settings = app._settings(ctx)
    today = datetime.date.today()
    if options.plain:
        # The null build people run most: answered from the up-to-date stamp, with a few stats.
        lines = freshness.up_to_date(episode, settings.cache_dir, settings.out_dir, env=os.environ, today=today)
        if lines is not None:
            for text, always in lines:
                if always or not options.quiet:
                    click.echo(text, err=True)
            return
    if options.dry_run:  # what `plan EPISODE` does (quick.py runs `build -n EPISODE` without click)
        from .session import plan_one

        plan_one(ctx, episode, options.as_json)
        return
    freshness.forget_stamp(episode, settings.cache_dir)  # only a build that succeeds vouches again

    from .report import build_error, build_json, build_reporter  # not on the null path

    spec = app._load(episode, check=True, snapshot=True)
    config = app._config(spec)
    cache = app._cache(settings)
    try:
        with cache.build_lock():
            the_plan, stale = app._plan(spec, cache, config)
            app._lifecycle_or_stop(spec, the_plan, stale, config)
            refuse_before_spending((s.node for s in stale.values()), config, options.budget, settings.cache_dir)
            if options.frozen:
                frozen_check(episode, the_plan, cache, settings.out_dir)
            run = Run(config, settings.cache_dir, (s.node for s in stale.values()), options,
                      remote_cache=_remote(config, cache))
            try:
                result, output = run.episode(the_plan, stale, cache, settings.out_dir, jobs=options.jobs,
                                             keep_going=options.keep_going,
                                             reporter=build_reporter(
                                                 quiet=options.quiet, as_json=options.as_json,
                                                 entries=lambda: cache.known_entries(
                                                     the_plan.node(nid).key for nid in the_plan.order).values()))
            finally:
                run.close()
            if options.html_report:  # failed builds too: the report lists the failures and their reasons
                _write_report(episode, options, spec=spec, cache=cache, the_plan=the_plan, stale=stale, result=result)
            if result.ok:
                _finish_episode(cache, episode, spec, the_plan, result, options.frozen)
    finally:
        cache.close()
    wrote = f"shotmake: wrote {output}" if output else ""
    if options.as_json:
        app._emit_json(build_json(the_plan, result, output))
    elif wrote and not options.quiet:
        click.echo(wrote, err=True)
    failure = None if result.ok else build_error(result)
    if options.summary_file is not None:
        from .summary import markdown

        work = Work(episode, spec, None, [], the_plan, dict(stale), result=result, output=output)
        write_summary(options.summary_file, markdown([outcome(work, config)],
                                                     exit_code=failure["exit_code"] if failure else 0))
        ctx.meta["shotmake.summary_done"] = True
    if failure is not None:
        if failure["kind"] == "internal":
            click.echo(f"shotmake: {failure['message']}", err=True)
            print_internal(ctx, [result])
        ctx.exit(failure["exit_code"])
    inputs = app._specs().inputs()
    if not options.frozen and inputs is not None:  # a snapshot vouches for the spec: record that all is built
        _stamp(settings, episode, the_plan, result, inputs, ctx.meta.get("shotmake.lint_lines", []), wrote, today)


def _write_report(episode: Path, options: Options, **given: Any) -> None:
    """``build --report``: the HTML report of what this build did (``review_cli.write``)."""
    from .review_cli import write

    page = write(episode, **given)
    if not options.quiet:
        click.echo(f"shotmake: wrote {page}", err=True)


# -- many episodes ----------------------------------------------------------------------------------
def build_many(ctx: click.Context, paths: Sequence[Path], options: Options) -> None:
    """``build A.yaml B.yaml`` or ``build episodes/``: one combined plan, one run, per-episode outputs."""
    from . import freshness

    app = _app()
    files = episode_files(paths)
    ctx.meta["shotmake.root_spec"] = files[0]
    settings = app._settings(ctx)
    today = datetime.date.today()
    if options.plain:
        answers = [freshness.up_to_date(f, settings.cache_dir, settings.out_dir, env=os.environ, today=today)
                   for f in files]
        if all(lines is not None for lines in answers):
            for lines in answers:
                for text, always in lines or ():
                    if always or not options.quiet:
                        click.echo(text, err=True)
            return
    if not options.dry_run:
        for path in files:
            freshness.forget_stamp(path, settings.cache_dir)

    from .report import build_error, build_json  # not on the null path

    works = _load_all(ctx, files, options.keep_going)
    config = app._config(first_loaded(works).spec)
    cache = app._cache(settings)
    try:
        if options.dry_run:
            _plan_all(ctx, works, cache, config, options.keep_going)
            _print_plans(works, config, options.as_json)
            return
        with cache.build_lock():
            _plan_all(ctx, works, cache, config, options.keep_going)
            refuse_before_spending((s.node for w in works for s in w.own().values()), config, options.budget,
                                   settings.cache_dir)
            if options.frozen:
                for work in works:
                    if work.refused is None:
                        frozen_check(work.path, work.plan, cache, settings.out_dir)
            run = Run(config, settings.cache_dir, (s.node for w in works for s in w.stale.values()), options,
                      remote_cache=_remote(config, cache))
            try:
                _run_all(works, run, cache, settings, options)
            finally:
                run.close()
            for work in works if options.html_report else ():
                if work.result is not None:
                    _write_report(work.path, options, spec=work.spec, cache=cache, the_plan=work.plan,
                                  stale=work.stale, result=work.result)
    finally:
        cache.close()
    _report_many(ctx, works, config, settings, options, today, build_error, build_json)


def _run_all(works: Sequence[Work], run: Run, cache: Any, settings: Any, options: Options) -> None:
    """Run every episode at once, one executor each, sharing ``run``'s capacity and stop.

    Without ``-k`` the first failure stops every episode (finished renders are kept); a node
    two episodes need is built by one while the other waits for it (``capacity.py``).
    """
    from concurrent.futures import ThreadPoolExecutor

    from .report import ConsoleReporter

    todo = [work for work in works if work.refused is None]
    lock = threading.Lock()

    def one(work: Work) -> None:
        stream = cast(TextIO, Prefixed(sys.stderr, f"[{work.spec.name}] ", lock))
        work.result, work.output = run.episode(work.plan, work.stale, cache, settings.out_dir, jobs=options.jobs,
                                               keep_going=options.keep_going, batch=True,
                                               reporter=ConsoleReporter(stream=stream, quiet=options.quiet))
        if work.result.ok:
            _finish_episode(cache, work.path, work.spec, work.plan, work.result, options.frozen)

    with ThreadPoolExecutor(max_workers=max(1, len(todo)), thread_name_prefix="shotmake-episode") as pool:
        futures = [pool.submit(one, work) for work in todo]
        try:
            for future in futures:
                future.result()
        except BaseException:  # Ctrl-C, or an error outside any node (the cache): stop the others, then go
            run.stop.set()
            raise


class Prefixed:
    """A text stream that starts each line with ``prefix`` (which episode a progress line is about).

    Whole lines only reach ``stream``, under a lock the episodes share: lines never interleave.
    """

    def __init__(self, stream: TextIO, prefix: str, lock: threading.Lock) -> None:
        self.stream, self.prefix, self.lock = stream, prefix, lock
        self._partial = ""

    def write(self, text: str) -> int:
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        if lines:
            with self.lock:
                self.stream.write("".join(f"{self.prefix}{line}\n" for line in lines))
        return len(text)

    def flush(self) -> None:
        with self.lock:
            self.stream.flush()


def _report_many(ctx: click.Context, works: Sequence[Work], config: Any, settings: Any, options: Options,
                 today: datetime.date, build_error: Any, build_json: Any) -> None:
    from .summary import markdown

    app = _app()
    entries, errors = [], []
    for work in works:
        if work.result is None:
            error = work.refused or {"kind": "build", "exit_code": 1,
                                     "message": "not started: an earlier episode failed (-k keeps going)"}
            entry = {"episode": work.name, "rendered": [], "cached": [], "failed": [], "cost_usd": 0.0,
                     "seconds": 0.0, "output": None, "error": error}
        else:
            entry = build_json(work.plan, work.result, work.output)
            error = entry["error"]
        entry["spec"] = str(work.path)
        entry["shared"] = sorted(work.shared)
        entries.append(entry)
        if error is not None:
            errors.append(error)
    code = exit_code_of(errors)
    ran = [w.result for w in works if w.result is not None]
    total = {"episodes": len(works), "built": sum(1 for w in works if w.result is not None and w.result.ok),
             "rendered": sum(len(r.rendered) for r in ran), "cached": sum(len(r.cached) for r in ran),
             "failed": sum(len(r.failed) + len(r.skipped) for r in ran),
             "cost_usd": round(sum(r.cost_usd for r in ran), 4), "seconds": round(sum(r.seconds for r in ran), 3)}
    if options.as_json:
        overall = None if code == 0 else {"kind": "internal" if code == 70 else "build", "exit_code": code,
                                          "message": f"{len(errors)} of {len(works)} episode(s) failed"}
        app._emit_json({"episodes": entries, "total": total, "error": overall})
    elif not options.quiet:
        for work in works:
            if work.output:
                click.echo(f"shotmake: wrote {work.output}", err=True)
        click.echo(f"shotmake: {total['built']} of {len(works)} episodes built: {total['rendered']} rendered, "
                   f"{total['cached']} cached, {total['failed']} failed, spent ${total['cost_usd']:.2f}", err=True)
    if options.summary_file is not None:
        write_summary(options.summary_file, markdown([outcome(w, config) for w in works], exit_code=code))
        ctx.meta["shotmake.summary_done"] = True
    if code:
        if code == 70:
            click.echo("shotmake: a bug in shotmake failed a node; run again with --debug for the traceback", err=True)
            print_internal(ctx, ran)
        ctx.exit(code)
    if not options.frozen:
        for work in works:
            inputs = work.specs.inputs() if work.result is not None else None
            if inputs is not None:
                wrote = f"shotmake: wrote {work.output}" if work.output else ""
                _stamp(settings, work.path, work.plan, work.result, inputs, work.lint_lines, wrote, today)
