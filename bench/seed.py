"""Fill a cache as if an episode had been built, without rendering: for null-rebuild benchmarks.

Rendering 10,000 shots with the local provider would take hours, and a null rebuild never
opens an object, only its index entry and its size. So every node of the real plan gets a
small, distinct file (``seed:<key>``) stored through ``Cache.store`` (digest, read-only,
atomic rename, JSON index entry: the same format a render leaves) and a ``record_build``
entry, exactly what a real build leaves behind per node. Durability does not matter for a
throwaway cache, so ``os.fsync`` is skipped and the index is written in one transaction.
The benchmark then runs the real ``shotmake build`` (it writes the lock file and the
outputs) and times the next runs. ``bench/run.py`` also builds the 100-shot episode for real
and times it the same way, so the two methods can be compared.

    .venv/bin/python bench/seed.py EPISODE CACHE_DIR
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

from shotmake.cache import Cache, file_digest
from shotmake.model import Episode, Node
from shotmake.plan import build_plan
from shotmake.spec import load_episode

try:
    from shotmake.cache import build_scope
except ImportError:  # build records keyed by episode name (before caches shared between projects)
    def build_scope(episode: Episode) -> str:
        return episode.name


def seed(spec: Path, cache_dir: Path, skip: Callable[[Node], bool] = lambda node: False) -> int:
    """Store a small object and a build record for every node of ``spec``'s plan (but those
    ``skip`` names); return how many. Run it from the project directory (paths as the CLI sees them)."""
    episode = load_episode(spec)
    plan = build_plan(episode, file_digest)
    cache = Cache(cache_dir)
    count = 0
    try:
        with mock.patch.object(os, "fsync", lambda fd: None), cache.index.transaction():
            for nid in plan.order:
                node = plan.node(nid)
                if skip(node):
                    continue
                temp = cache.temp_path(node.extension)
                temp.write_bytes(f"seed:{node.key}\n".encode())
                cache.store(node.key, temp, {"node": nid, "kind": node.kind, "provider": node.provider,
                                             "episode": episode.name, "seeded": True})
                cache.record_build(build_scope(episode), nid, node.key, node.manifest)
                cache.record_manifest(build_scope(episode), nid, node.key, node.manifest)
                count += 1
    finally:
        cache.close()
    return count


def main() -> int:
    spec, cache_dir = Path(sys.argv[1]), Path(sys.argv[2])
    start = time.perf_counter()
    count = seed(spec, cache_dir)
    print(f"seeded {count} nodes into {cache_dir} in {time.perf_counter() - start:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
