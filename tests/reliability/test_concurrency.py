"""Concurrent builds: one build per cache at a time (the second waits, and says so), readers never
see a broken index, ``gc`` never collects a running build's work, and two projects sharing one
cache directory (``SHOTMAKE_CACHE``) keep their own outputs, status and explanations.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from shotmake.cache import Cache

from .helpers import SMALL_EPISODE, check_store, clean_env, lock_nodes, make_project, shotmake


def start(args: list[str], cwd: Path, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "shotmake", *args], cwd=cwd, env=clean_env(**env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_lock_holder(cache_root: Path, proc: subprocess.Popen[str], timeout: float = 30) -> None:
    """Until ``proc`` holds the cache's build lock (it writes its pid into the lock file)."""
    lock = cache_root / "lock"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if lock.exists() and lock.read_text().strip() == str(proc.pid):
            return
        time.sleep(0.01)
    raise AssertionError(f"build {proc.pid} never took the lock")


def test_a_second_build_of_the_same_project_waits_for_the_first_and_says_so(tmp_path: Path) -> None:
    spec = make_project(tmp_path)
    first = start(["build", spec.name, "--json", "-q"], tmp_path, SHOTMAKE_LOCAL_LATENCY="0.3")
    wait_for_lock_holder(tmp_path / ".shotmake", first)
    second = start(["build", spec.name, "--json", "-q"], tmp_path)
    # Readers do not take the lock, and see a consistent index while the build writes it.
    for _ in range(3):
        status = shotmake(["status", spec.name], tmp_path)
        plan = shotmake(["plan", spec.name, "--json"], tmp_path)
        assert status.returncode == 0 and plan.returncode == 0, status.stderr + plan.stderr
        assert "tiny:" in status.stdout and json.loads(plan.stdout)["episode"] == "tiny"
    out1, err1 = first.communicate(timeout=120)
    out2, err2 = second.communicate(timeout=120)
    assert first.returncode == 0 and second.returncode == 0, err1 + err2
    assert f"waiting for another build (pid {first.pid})" in err2, err2
    assert json.loads(out2)["rendered"] == [], "the second build found everything the first one made"
    assert len(json.loads(out1)["rendered"]) == len(json.loads(out2)["cached"])
    check_store(tmp_path / ".shotmake")


def test_gc_waits_for_a_running_build_and_never_collects_its_work(tmp_path: Path) -> None:
    cache_root = tmp_path / ".shotmake"
    holder = Cache(cache_root)
    try:
        with holder.build_lock():
            in_progress = cache_root / "tmp" / "render-in-progress.mp4"
            in_progress.write_bytes(b"half a render")
            gc = start(["gc"], tmp_path)
            time.sleep(1.0)
            assert gc.poll() is None and in_progress.exists(), "gc ran while a build held the lock"
        out, err = gc.communicate(timeout=60)
    finally:
        holder.close()
    assert gc.returncode == 0 and "waiting for another build" in err, err
    assert "removed 1 files" in out and not in_progress.exists()


def test_two_projects_sharing_one_cache_keep_their_own_builds_and_explanations(tmp_path: Path) -> None:
    shared = tmp_path / "shared-cache"
    one = make_project(tmp_path / "one")
    # Same episode name, same node ids; shot b differs.
    two = make_project(tmp_path / "two", SMALL_EPISODE.replace("    duration: 2\n", "    duration: 3\n"))
    for spec in (one, two):  # two builds last: its records must not stand in for one's
        done = shotmake(["build", spec.name, "--json", "-q"], spec.parent, SHOTMAKE_CACHE=str(shared))
        assert done.returncode == 0, done.stderr
    check_store(shared)
    locks = [lock_nodes(one), lock_nodes(two)]
    assert locks[0]["clip:a"] == locks[1]["clip:a"], "identical nodes are shared, stored once"
    assert locks[0]["clip:b"] != locks[1]["clip:b"] and locks[0]["episode:tiny"] != locks[1]["episode:tiny"]
    for spec in (one, two):
        status = shotmake(["status", spec.name], spec.parent, SHOTMAKE_CACHE=str(shared))
        assert f"tiny: {len(locks[0])} cached, 0 dirty" in status.stdout, status.stdout
        assert "(up to date)" in status.stdout, status.stdout
        explained = shotmake(["explain", spec.name, "b"], spec.parent, SHOTMAKE_CACHE=str(shared))
        assert "up to date" in explained.stdout, explained.stdout

    # Editing project one's shot b is explained against project one's last build, not two's.
    one.write_text(one.read_text().replace("A lighthouse at dusk.", "A lighthouse at dawn."))
    explained = shotmake(["explain", one.name, "b"], one.parent, SHOTMAKE_CACHE=str(shared))
    dirty = [line.strip() for line in explained.stdout.splitlines() if line.strip().startswith("dirty:")]
    assert len(dirty) == 1 and dirty[0].startswith("dirty: prompt changed:"), explained.stdout

    # gc on the shared cache keeps both projects' renders.
    assert shotmake(["gc"], one.parent, SHOTMAKE_CACHE=str(shared)).returncode == 0
    again = shotmake(["build", two.name, "--json", "-q"], two.parent, SHOTMAKE_CACHE=str(shared))
    assert json.loads(again.stdout)["rendered"] == [], again.stderr
