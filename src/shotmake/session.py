"""One command's session, without click: where its cache and outputs are, its spec snapshots,
loading and linting a spec, planning it against the cache, and what it prints.

The commands in ``cli.py`` and ``batch.py`` run these inside click's context; ``quick.py`` runs
``plan SPEC`` with a context of its own and never imports click (~6 ms of every plan after an
edit). ``current()`` is whichever context is running; ``echo`` prints through it.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import UsageError

#: Contexts of commands run without click (``quick.py``), innermost last.
_OWN: list[Any] = []


def current() -> Any:
    """The running command's context: one of ``quick.py``'s, else click's."""
    if _OWN:
        return _OWN[-1]
    import click

    return click.get_current_context()


@contextlib.contextmanager
def running(ctx: Any) -> Iterator[None]:
    """Run the helpers below in ``ctx`` (``quick.py``'s context) instead of click's."""
    _OWN.append(ctx)
    try:
        yield
    finally:
        _OWN.pop()


def echo(message: str, err: bool = False) -> None:
    """Print a line on stdout (or stderr) as ``click.echo`` does, through the running context."""
    if _OWN:
        _OWN[-1].echo(message, err)
        return
    import click

    click.echo(message, err=err)


@dataclass
class Settings:
    """Where the cache and the outputs live: options or environment (relative to the working
    directory), else ``.shotmake`` and ``build`` in the project root (``project.py``)."""

    cache_dir: Path | None = None
    out_dir: Path | None = None
    resolved: bool = False


@dataclass(frozen=True)
class Places:
    cache_dir: Path
    out_dir: Path


def places(ctx: Any) -> Places:
    """The cache and output folders of this command, from the project root of its spec (or of the cwd)."""
    settings = ctx.ensure_object(Settings)
    if not settings.resolved:
        from .project import CACHE_DIR, OUT_DIR, find_root, in_root, root_here

        spec = ctx.meta.get("shotmake.root_spec", ctx.params.get("episode"))  # batch.py names one of its specs
        root = find_root(spec) if isinstance(spec, Path) and spec.is_file() else root_here()
        if settings.cache_dir is None:
            warn_hidden_caches(spec.parent if isinstance(spec, Path) and spec.is_file() else Path.cwd(), root)
        settings.cache_dir = settings.cache_dir or in_root(root, CACHE_DIR)
        settings.out_dir = settings.out_dir or in_root(root, OUT_DIR)
        settings.resolved = True
        for option, path in (("--cache-dir", settings.cache_dir), ("--out-dir", settings.out_dir)):
            if path.exists() and not path.is_dir():  # as click says of an option given explicitly
                raise UsageError(f"Invalid value for '{option}': Directory '{path}' is a file.")
    assert settings.cache_dir is not None and settings.out_dir is not None
    return Places(settings.cache_dir, settings.out_dir)


def warn_hidden_caches(start: Path, root: Path) -> None:
    """Name a cache below the project root that this command passes over, and the two ways to keep it."""
    from .project import hidden_caches, in_root

    for cache in hidden_caches(start, root):
        shown = in_root(cache.parent, cache.name)
        echo(f"shotmake: warning: {shown} holds a cache this command does not use: the project root is "
                   f"{root}, whose cache is {in_root(root, cache.name)}; to keep using {shown}, put a shotmake.toml "
                   f"beside it (its folder becomes the root) or pass --cache-dir {shown}", err=True)


class LintFailed(UsageError):
    """Lint found errors: the spec asks for something a provider would reject (exit 2)."""

    kind = "lint"


def emit_json(data: Any) -> None:
    """Print the command's one JSON object on stdout (and remember that it was printed)."""
    current().meta["shotmake.json_done"] = True
    echo(json.dumps(data))


def load_spec(path: Path, *, check: bool = False, snapshot: bool = False) -> Any:
    """Load a spec; with ``check``, lint it too: warnings go to stderr, errors stop (exit 2).

    With ``snapshot``, through the cache's spec snapshots (``snapshot.py``): a spec, includes
    and assets unchanged since the last load are not parsed, validated or planned again.
    """
    if snapshot:
        episode = spec_cache().load(path)
    else:
        from .spec import load_episode

        episode = load_episode(path)
    if check:
        lint_or_stop(episode)
    return episode


def lint_or_stop(episode: Any) -> list[Any]:
    import datetime

    findings: list[Any] = spec_cache().lint(episode, os.environ, datetime.date.today(),  # remembered with a snapshot
                                        project_config(episode).catalog)
    return report_findings(episode, findings)


def lifecycle_or_stop(episode: Any, the_plan: Any, stale: Any, config: Any) -> list[Any]:
    """SM120: refuse (exit 2) before anything is sent when a dirty node would render on a retired route."""
    import datetime

    from .lifecycle import lifecycle

    return report_findings(episode, lifecycle(the_plan, stale, config.catalog, datetime.date.today()))


def lifecycle_of(episode: Any) -> list[Any]:
    """Plan ``episode`` against the cache and check SM120, as ``plan`` does (no cache yet: all is dirty)."""
    config = project_config(episode)
    settings = places(current())
    if not settings.cache_dir.exists():  # validate and lint never create the cache
        from .cache import file_digest
        from .routing import route_plan

        the_plan = spec_cache().plan(episode, file_digest, config.catalog)
        the_plan, _ = route_plan(the_plan, availability(config).unavailable, config.fallbacks(), config.catalog)
        return lifecycle_or_stop(episode, the_plan, the_plan.order, config)
    cache = open_cache(settings)
    try:
        the_plan, stale = plan_episode(episode, cache, config)
    finally:
        cache.close()
    return lifecycle_or_stop(episode, the_plan, stale, config)


def report_findings(episode: Any, findings: list[Any]) -> list[Any]:
    """Print lint findings to stderr (kept for the up-to-date stamp); raise LintFailed on errors."""
    lines = current().meta.setdefault("shotmake.lint_lines", [])
    for finding in findings:
        lines.append(finding.render())
        echo(lines[-1], err=True)
    errors = sum(1 for f in findings if f.severity == "error")  # lint.has_errors, without importing lint
    if errors:
        raise LintFailed(f"{episode.source}: {errors} lint error(s); nothing was rendered or spent")
    return findings


def project_config(episode: Any) -> Any:
    """The project's ``shotmake.toml`` (next to the project root), or the defaults."""
    from .config import load_config

    return load_config(Path(episode.root))


def availability(config: Any) -> Any:
    """Which routes can render here (keys, lifecycle): what a plan needs, without the adapters' registry."""
    from .providers.availability import Availability

    return Availability(backends=config.backends(), routes=config.catalog)


def registry(config: Any, state_dir: Path | None = None) -> Any:
    from .providers.registry import EnvironmentRegistry

    return EnvironmentRegistry(prices=config.prices, backends=config.backends(), routes=config.catalog,
                               download_seconds=config.remote.download_minutes * 60.0, state_dir=state_dir)


def plan_episode(episode: Any, cache: Any, config: Any = None, *, decide: bool = False) -> tuple[Any, Any]:
    """Plan the episode, send nodes whose route has no key to their fallback, and find what is stale.

    ``decide``: only to say what a build would do (``plan``, ``build -n``): the keys the last
    successful build recorded are taken as cached while the cache has not changed since
    (``freshness.cached_keys``, the trust a null build puts in its stamp); a build checks each.
    """
    from .cache import build_scope, file_digest
    from .plan import Stale, stale_nodes
    from .routing import route_plan

    config = project_config(episode) if config is None else config
    plan = spec_cache().plan(episode, file_digest, config.catalog)  # a snapshot's, or build_plan's
    if decide and spec_cache().identity is not None:
        from .freshness import cached_keys

        cache.assume(cached_keys(places(current()).cache_dir, spec_cache().identity))
    fallbacks = config.fallbacks()
    with journalled_jobs(places(current()).cache_dir, bool(fallbacks)) as has_job:
        plan, moves = route_plan(plan, availability(config).unavailable, fallbacks, config.catalog,
                                 keep=lambda key: cache.contains(key) or has_job(key))
    scope = build_scope(episode)
    spec_cache().prefetch(cache, plan)  # index entries remembered from the last run, one query for the rest
    def prefetch(ids: list[str]) -> None:  # the dirty nodes' histories, then the renders those name
        cache.prefetch_manifests(scope, ids)
        cache.prefetch([r["key"] for nid in ids if len(found := cache.manifests(scope, nid)) > 1 for r in found])

    stale = stale_nodes(plan, cache.contains, lambda nid: cache.manifests(scope, nid), prefetch)
    spec_cache().remember(cache, plan)
    for move in moves:
        if move.node in stale:
            stale[move.node] = Stale(stale[move.node].node, (move.describe(), *stale[move.node].reasons))
    return plan, stale


@contextlib.contextmanager
def journalled_jobs(cache_dir: Path, needed: bool) -> Iterator[Callable[[str], bool]]:
    """``has_job(key)``: whether the journal knows a remote job of that node (created, uncertain or
    downloaded). Opens the journal only when ``needed`` and a build wrote one; never creates it."""
    path = cache_dir / "journal.sqlite"
    journal = None
    if needed and path.exists():
        from .journal import Journal

        journal = Journal(path)

    def has_job(key: str) -> bool:
        record = journal.get(key) if journal is not None else None
        return record is not None and (record.resumable or record.uncertain or record.downloaded)

    try:
        yield has_job
    finally:
        if journal is not None:
            journal.close()


def spec_cache() -> Any:
    """This invocation's ``snapshot.SpecCache`` (under the cache directory), shared by load and plan."""
    ctx = current()
    if "shotmake.specs" not in ctx.meta:
        from .snapshot import SpecCache

        # Only build writes snapshots; plan, build -n, status, explain and graph read them.
        ctx.meta["shotmake.specs"] = SpecCache(places(ctx).cache_dir,
                                               save=ctx.command.name == "build" and not ctx.params.get("dry_run"))
    return ctx.meta["shotmake.specs"]


def open_cache(settings: Places) -> Any:
    from .cache import Cache

    return Cache(settings.cache_dir)


def plan_one(ctx: Any, episode: Path, as_json: bool) -> None:
    """``shotmake plan EPISODE``: load and lint it, plan it against the cache, say what would build."""
    from .report import format_plan, plan_json

    ctx.meta["shotmake.json"] = as_json
    ctx.meta["shotmake.root_spec"] = episode
    spec = load_spec(episode, check=True, snapshot=True)
    config = project_config(spec)
    cache = open_cache(places(ctx))
    try:
        the_plan, stale = plan_episode(spec, cache, config, decide=True)
    finally:
        cache.close()
    lifecycle_or_stop(spec, the_plan, stale, config)
    if as_json:
        emit_json(plan_json(the_plan, stale, config.prices, config.catalog))
    else:
        echo(format_plan(the_plan, stale, config.prices, config.catalog))
