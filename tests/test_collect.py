"""gc's policy: renders a lock names or a build used recently are kept; superseded ones go; -n deletes nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from shotmake.cache import Cache
from shotmake.collect import Policy, collect

SPEC = "episodes/tiny.yaml"


def objects(project: Path) -> set[str]:
    return {p.name for p in (project / ".shotmake" / "objects").rglob("*.*")}


def test_gc_reclaims_superseded_renders_and_keeps_locked_ones(project: Path, run: Callable[..., Result]) -> None:
    spec = project / SPEC
    original = spec.read_text()
    assert run("build", SPEC, "-q").exit_code == 0
    spec.write_text(original.replace("A lighthouse at dusk.", "A lighthouse at night."))
    assert run("build", SPEC, "-q").exit_code == 0
    before = objects(project)

    kept = run("gc")  # default keep_days (30): the superseded renders are recent, so they stay
    assert kept.exit_code == 0 and "removed 0 files" in kept.stdout, kept.stdout

    dry = run("gc", "-n", "--keep-days", "0")
    assert dry.exit_code == 0 and "would remove" in dry.stdout
    listed = [line for line in dry.stdout.splitlines() if line.startswith("  ")]
    assert listed and all(" MB  (" in line for line in listed), dry.stdout
    assert any("clip:b of tiny" in line for line in listed), dry.stdout
    assert objects(project) == before  # a dry run deletes nothing

    done = run("gc", "--keep-days", "0")
    assert done.exit_code == 0 and f"removed {len(listed)} files" in done.stdout, done.stdout
    assert objects(project) < before
    rebuilt = run("build", SPEC, "--json", "-q")  # everything the lock names is still cached
    assert rebuilt.exit_code == 0 and json.loads(rebuilt.stdout)["rendered"] == []
    spec.write_text(original)  # the superseded cut went: reverting renders it again
    reverted = run("build", SPEC, "--json", "-q")
    assert "clip:b" in [node["id"] for node in json.loads(reverted.stdout)["rendered"]]


def test_keep_days_comes_from_shotmake_toml(project: Path, run: Callable[..., Result]) -> None:
    (project / "shotmake.toml").write_text("[cache]\nkeep_days = 0\n")
    spec = project / SPEC
    assert run("build", SPEC, "-q").exit_code == 0
    spec.write_text(spec.read_text().replace("A lighthouse at dusk.", "A lighthouse at night."))
    assert run("build", SPEC, "-q").exit_code == 0
    done = run("gc", "-n")
    assert "used in the last 0 days" in done.stdout and "removed 0 files" not in done.stdout, done.stdout


def test_renders_a_build_used_recently_are_kept_however_old(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "c")
    try:
        keys = {}
        for name in ("used", "locked", "stale"):
            temp = cache.temp_path(".mp4")
            temp.write_bytes(name.encode())
            keys[name] = cache.store(name, temp, {"node": f"clip:{name}"})
            entry = cache.index.get(f"node:{name}")
            cache.index.set(f"node:{name}", {**entry, "stored": time.time() - 90 * 86400})  # rendered long ago
        cache.record_use("ep@x", ["used"])  # ...but the last build of some episode used it
        dry = collect(cache, Policy(keep_days=30, keep_keys=frozenset({"locked"})), dry_run=True)
        day = time.strftime("%Y-%m-%d", time.localtime(time.time() - 90 * 86400))
        assert [what for _, _, what in dry.files] == [f"clip:stale of ?, stored {day}"]
        assert Path(keys["stale"].path).exists()
        done = collect(cache, Policy(keep_days=30, keep_keys=frozenset({"locked"})))
        assert done.dropped == 1 and done.kept == 2 and done.freed == len(b"stale")
        assert cache.lookup("stale") is None and cache.lookup("used") is not None and cache.lookup("locked") is not None
    finally:
        cache.close()
