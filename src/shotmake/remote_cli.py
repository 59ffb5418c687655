"""The remote cache on the command line: ``build --remote-only / --no-remote``, ``pull`` and ``push``.

``pull EPISODE`` fetches every render EPISODE's lock file names that the local cache lacks, so
``build --frozen`` on a fresh clone or CI runner reproduces the locked cut without rendering.
``push [EPISODE]`` uploads what a build produced (EPISODE's locked renders; without one, every
render in the local cache): a build with a remote uploads each render as it finishes, so ``push``
is for renders made offline (``--no-remote``) or while the remote was down. ``build``'s flags
are defined with the command (``batch.py``): ``plan`` and ``build -n`` never import this module.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import click

from .errors import UsageError

#: Transfers at once for ``pull`` and ``push`` (each waits on the network, not the CPU).
TRANSFERS = 8


def remote_for(config: Any, cache: Any) -> Any:
    """The ``RemoteCache`` a build uses (None: none configured, or ``--no-remote``)."""
    from .batch import MODE  # build's flags, defined with the command

    ctx = click.get_current_context(silent=True)
    mode = ctx.meta.get(MODE) if ctx is not None else None
    url = config.cache.remote
    if mode == "no_remote":
        return None
    if url is None:
        if mode == "remote_only":
            raise UsageError("--remote-only needs a remote cache: set [cache] remote in shotmake.toml "
                             "(docs/cache.md, \"A shared remote cache\")")
        return None
    return _open(config, only=mode == "remote_only")


def _open(config: Any, *, only: bool = False) -> Any:
    from .remote import RemoteCache, Timeouts, open_store

    settings = config.cache
    timeouts = Timeouts(connect=settings.remote_connect_timeout, read=settings.remote_read_timeout,
                        retries=settings.remote_retries, transfer=settings.remote_transfer_timeout)
    return RemoteCache(open_store(settings.remote, timeouts), settings.remote, only=only)


def _project(episode: Path | None) -> tuple[Any, Path]:
    """The project's config (which must name a remote) and its cache folder."""
    from .cli import _settings
    from .config import load_config
    from .project import find_root, root_here

    root = find_root(episode) if episode is not None else root_here()
    config = load_config(root)
    if config.cache.remote is None:
        raise UsageError(f"no remote cache: set [cache] remote in {root / 'shotmake.toml'} "
                         "(docs/cache.md, \"A shared remote cache\")")
    return config, _settings(click.get_current_context()).cache_dir


def _locked(episode: Path) -> list[tuple[str, str, str]]:
    """``(node id, key, digest)`` of every render EPISODE's lock file names."""
    from .lock import lock_path, read_lock

    lock = read_lock(lock_path(episode))
    if lock is None:
        raise UsageError(f"no lock file {lock_path(episode)}: build {episode} once (anywhere the remote cache is "
                         "configured) and commit the lock file beside the spec")
    rows = []
    for nid, entry in lock["nodes"].items():
        if isinstance(entry, dict) and isinstance(entry.get("key"), str) and isinstance(entry.get("digest"), str):
            rows.append((str(nid), entry["key"], entry["digest"]))
    return rows


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("episode", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-q", "--quiet", is_flag=True, help="Print only the summary line.")
def pull(episode: Path, quiet: bool) -> None:
    """Fetch from the remote cache every render EPISODE's lock file needs.

    Then `build --frozen EPISODE` reproduces the locked cut without rendering (a fresh clone,
    a CI runner). Renders already in the local cache are not fetched again. Exit 1 if any
    render is missing from the remote, damaged, or the remote does not answer.
    """
    from .cache import Cache

    gc.enable()  # off for start-up (``shotmake.__main__``); a transfer may take long
    config, cache_dir = _project(episode)
    rows = _locked(episode)
    remote = _open(config)
    cache = Cache(cache_dir)
    problems: list[str] = []
    try:
        with cache.build_lock():
            wanted = [(nid, key, digest) for nid, key, digest in rows
                      if (have := cache.lookup(key)) is None or have.digest != digest]

            def one(row: tuple[str, str, str]) -> str | None:
                nid, key, digest = row
                got = remote.fetch(key, cache, nid, digest=digest)
                return None if got is not None else f"{nid}: not available from the remote cache"

            from concurrent.futures import ThreadPoolExecutor  # pull and push only

            with ThreadPoolExecutor(max_workers=TRANSFERS) as pool:
                for (nid, _, _), problem in zip(wanted, pool.map(one, wanted), strict=True):
                    if problem is not None:
                        problems.append(problem)
                    elif not quiet:
                        click.echo(f"pulled {nid}", err=True)
    finally:
        cache.close()
    click.echo(f"pull: {len(wanted) - len(problems)} renders fetched, {len(rows) - len(wanted)} already here"
               + (f", {len(problems)} not available" if problems else ""))
    if problems:
        from .errors import RemoteCacheError

        reason = f" ({remote.down})" if remote.down else ""
        raise RemoteCacheError("cannot pull the whole cut" + reason + ":\n  " + "\n  ".join(problems))


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("episode", type=click.Path(dir_okay=False, path_type=Path), required=False)
def push(episode: Path | None) -> None:
    """Upload renders to the remote cache: EPISODE's locked cut, or without EPISODE every local render.

    A build with a remote cache uploads each render as it finishes; push is for renders made
    with --no-remote or while the remote was down. Renders already there are not sent again.
    Exit 1 if the remote does not take them.
    """
    from .cache import Cache

    gc.enable()  # off for start-up (``shotmake.__main__``); a transfer may take long
    config, cache_dir = _project(episode)
    rows = _locked(episode) if episode is not None else None
    remote = _open(config)
    if not cache_dir.exists():
        raise UsageError(f"nothing to push: no cache at {cache_dir}")
    cache = Cache(cache_dir)
    try:
        with cache.build_lock():
            if rows is None:
                items = [(key, cache.lookup(key)) for key, _ in cache.entries()]
            else:
                items = [(key, cache.lookup(key)) for _, key, _ in rows]
            present = [(key, art) for key, art in items if art is not None]
            from concurrent.futures import ThreadPoolExecutor  # pull and push only

            with ThreadPoolExecutor(max_workers=TRANSFERS) as pool:
                done = list(pool.map(lambda item: remote.publish(item[0], item[1], cache), present))
    finally:
        cache.close()
    failed = done.count(False)
    missing = len(items) - len(present)
    click.echo(f"push: {len(present) - failed} renders published to {config.cache.remote}"
               + (f", {missing} not in the local cache" if missing else "")
               + (f", {failed} failed" if failed else ""))
    if failed:
        from .errors import RemoteCacheError

        raise RemoteCacheError(f"{failed} renders were not uploaded" + (f" ({remote.down})" if remote.down else ""))
