"""Crash consistency: SIGKILL a build at seeded points, rebuild, and get exactly a clean build.

Kill points are spread over every phase of a build:

* **store** and **index**: ``SHOTMAKE_CRASH_AT`` (a seam in ``cache.py``) kills the process the
  N-th time it passes a step of a write - after hashing a render (``store.hashed``), after the
  rename into ``objects/`` (``store.renamed``), after the index learned the key
  (``store.indexed``), between linking the output and renaming it into place
  (``materialize.staged``): windows too narrow for a timer to hit;
* **render** and **assemble**: a seeded timer, while clips render (``SHOTMAKE_LOCAL_LATENCY``
  keeps each one in flight) and ffmpeg conforms, joins and finishes;
* **download** (and polling): the loopback fakes kill the build on its N-th request, or halfway
  through sending a clip's bytes.

After every kill the store must hold only complete objects, each named by its content's digest,
and an index that names only such objects. When the build finally completes, its lock file
(every node's key and artifact digest) must equal a clean build's, ``gc`` must remove exactly
the leftovers, and the fakes must have created each remote job once.
"""

from __future__ import annotations

import functools
import json
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from tests.fakes.harness import OPENAI_KEY, RemoteFakes, node_prompts
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.server import FakeServer, Request, Response

from .helpers import check_store, clean_env, index_entries, lock_nodes, make_project, objects, shotmake

POINTS = ("store.hashed", "store.renamed", "store.indexed", "materialize.staged")


def reset(root: Path) -> None:
    """Back to a project that was never built."""
    for name in (".shotmake", "build"):
        shutil.rmtree(root / name, ignore_errors=True)
    for lock in root.glob("*.lock"):
        lock.unlink()


def schedule(seed: int, kills: int) -> Iterator[tuple[str, float]]:
    """Seeded kill points: ``(crash point, N)`` or ``("timer", seconds)``, crash points twice as often."""
    rng = random.Random(seed)
    for _ in range(kills):
        kind = rng.choice([*POINTS, *POINTS, "timer", "timer"])
        if kind == "timer":
            yield kind, rng.uniform(0.3, 2.2)
        else:
            yield kind, rng.randint(1, 1 if kind == "materialize.staged" else 6)


def build_until_killed(root: Path, spec: str, point: str, arg: float) -> bool:
    """Run one build armed with a kill point; True if the kill landed (the build died)."""
    env = clean_env(SHOTMAKE_LOCAL_LATENCY="0.15")
    if point != "timer":
        env["SHOTMAKE_CRASH_AT"] = f"{point}:{int(arg)}"
    proc = subprocess.Popen([sys.executable, "-m", "shotmake", "build", spec, "-j", "3", "-q"], cwd=root,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if point == "timer":
        try:
            proc.wait(timeout=arg)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == -signal.SIGKILL:
        return True
    assert proc.returncode == 0, err
    return False


def finish_and_compare(root: Path, spec: str, clean: dict[str, tuple[str, str]]) -> None:
    done = shotmake(["build", spec, "--json", "-q"], root)
    assert done.returncode == 0, done.stderr
    assert lock_nodes(root / spec) == clean, "the rebuilt episode differs from a clean build"
    check_store(root / ".shotmake")
    staged = [p.name for p in (root / "build").iterdir() if p.name.startswith(".")]
    assert staged == [], f"staging leftovers in build/: {staged}"
    # gc removes exactly the leftovers: temp files and objects no entry names; nothing is rebuilt after.
    cache_root = root / ".shotmake"
    referenced = {entry["digest"] for entry in index_entries(cache_root).values()}
    assert shotmake(["gc"], root).returncode == 0
    assert list((cache_root / "tmp").iterdir()) == []
    assert {p.name.split(".")[0] for p in objects(cache_root)} == referenced
    again = shotmake(["build", spec, "--json", "-q"], root)
    assert json.loads(again.stdout)["rendered"] == [], again.stderr


@pytest.fixture(scope="module")
def clean_local(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    root = tmp_path_factory.mktemp("clean")
    spec = make_project(root)
    done = shotmake(["build", spec.name, "-q"], root)
    assert done.returncode == 0, done.stderr
    return lock_nodes(spec)


def kill_local_builds(root: Path, clean: dict[str, tuple[str, str]], seed: int, kills: int) -> Counter[str]:
    """Kill builds of the tiny episode at ``kills`` seeded points; after each, check the store."""
    spec = make_project(root).name
    landed: Counter[str] = Counter()
    for point, arg in schedule(seed, kills):
        if build_until_killed(root, spec, point, arg):
            landed[point] += 1
            check_store(root / ".shotmake")
            continue
        # The build completed before the point: it must be the clean one; start over to keep killing.
        finish_and_compare(root, spec, clean)
        reset(root)
    finish_and_compare(root, spec, clean)
    return landed


def test_builds_killed_at_seeded_points_rebuild_to_the_clean_result(tmp_path: Path, clean_local) -> None:
    landed = kill_local_builds(tmp_path, clean_local, seed=7, kills=10)
    assert sum(landed.values()) >= 6, landed


@pytest.mark.slow
def test_fifty_kills_across_store_index_render_and_assembly(tmp_path: Path, clean_local) -> None:
    landed: Counter[str] = Counter()
    # Seven rounds of 12: a kill whose point comes after the build finished does not land (the
    # one-pass master finishes sooner than the old three passes did), so 84 are scheduled for 50.
    for seed in range(100, 107):
        landed += kill_local_builds(tmp_path / str(seed), clean_local, seed=seed, kills=12)
    assert sum(landed.values()) >= 50 and set(landed) == {*POINTS, "timer"}, landed


# -- remote: kills while jobs are polled and clips download --------------------------------------

REMOTE = """\
version: 1
episode: tiny
defaults: {provider: sora-2, resolution: 720p, duration: 4}
shots:
  - {id: sea, prompt: Establishing shot of a grey sea under rain clouds.}
  - {id: harbour, prompt: An empty harbour at night with one lantern swinging.}
  - {id: lamp, provider: local, resolution: 480p, duration: 1, prompt: A lamp room.}
sequences:
  - {id: all, shots: [sea, harbour, lamp]}
delivery:
  format: {resolution: 480p, fps: 12}
"""


class Assassin:
    """Kills the armed build on its N-th request to the fakes (creates excepted), or halfway
    through the body of the first clip download from then on. Creates are never interrupted:
    a create whose answer is lost is the journal's business (tests/integration), not the store's.
    """

    def __init__(self, servers: Iterable[FakeServer]) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._at = 0
        self._seen = 0
        self.landed: list[str] = []
        for server in servers:
            server.before_handle = functools.partial(self._hook, server)

    def arm(self, proc: subprocess.Popen[str] | None, at: int) -> None:
        with self._lock:
            self._proc, self._at, self._seen = proc, at, 0

    def _take(self) -> subprocess.Popen[str] | None:
        proc, self._proc = self._proc, None
        return proc

    def _hook(self, server: FakeServer, request: Request) -> Response | None:
        download = request.path.endswith("/content")
        with self._lock:
            if self._proc is None or request.method == "POST":
                return None
            self._seen += 1
            if self._seen < self._at:
                return None
            proc = self._take()
        if not download:
            self._kill(proc, f"{request.method} {request.path.split('/')[-1][:12]}")
            return Response.json({"error": {"message": "client killed"}}, status=599)
        real = server.handle(request)
        body = real.body if isinstance(real.body, bytes) else b"".join(real.body or [])

        def halfway() -> Iterator[bytes]:
            yield body[: len(body) // 2]
            time.sleep(0.05)
            self._kill(proc, "mid-download")

        return Response(status=real.status, body=halfway(), headers=real.headers, declared_length=len(body))

    def _kill(self, proc: subprocess.Popen[str] | None, what: str) -> None:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            self.landed.append(what)


def remote_fakes() -> RemoteFakes:
    return RemoteFakes(openai=FakeOpenAI(api_key=OPENAI_KEY, polls_to_complete=2, queued_polls=0))


def kill_remote_builds(root: Path, seed: int, kills: int) -> list[str]:
    spec = make_project(root, REMOTE).name
    rng = random.Random(seed)
    with remote_fakes() as clean_fakes:
        (root / "clean").mkdir()
        make_project(root / "clean", REMOTE)
        done = clean_fakes.run(["build", spec, "-q"], root / "clean")
        assert done.returncode == 0, done.stderr
        clean = lock_nodes(root / "clean" / spec)
    with remote_fakes() as fakes:
        assassin = Assassin(fakes.servers)
        for _ in range(kills):
            # -j 1: one request in flight, so a kill never lands while a create is being answered.
            proc = subprocess.Popen([sys.executable, "-m", "shotmake", "build", spec, "-j", "1", "-q"], cwd=root,
                                    env=fakes.env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            assassin.arm(proc, rng.randint(1, 5))
            _, err = proc.communicate(timeout=120)
            assassin.arm(None, 0)
            if proc.returncode == 0:
                break
            assert proc.returncode == -signal.SIGKILL, err
            check_store(root / ".shotmake")
        done = fakes.run(["build", spec, "--json", "-q"], root)
        assert done.returncode == 0, done.stderr
        assert lock_nodes(root / spec) == clean, "the rebuilt episode differs from a clean build"
        prompts = node_prompts(root / spec)
        assert fakes.video_jobs() == {p: 1 for nid, (route, p) in prompts.items() if route == "sora-2"}, \
            assassin.landed
    check_store(root / ".shotmake")
    return assassin.landed


def test_builds_killed_while_polling_and_downloading_create_each_job_once(tmp_path: Path) -> None:
    landed = kill_remote_builds(tmp_path, seed=3, kills=4)
    assert len(landed) >= 2, landed


@pytest.mark.slow
def test_many_kills_while_polling_and_downloading(tmp_path: Path) -> None:
    landed: list[str] = []
    for seed in range(4):
        landed += kill_remote_builds(tmp_path / str(seed), seed=seed, kills=6)
    assert len(landed) >= 12 and "mid-download" in landed, landed
