"""Drive real ``shotmake`` processes against the loopback fakes, and count what they paid for.

The fakes run in the test process; each build is a subprocess (``python -m shotmake``), so a
test can SIGKILL it at any point and the fakes (the "providers") outlive it, as real ones do::

    with RemoteFakes() as fakes:
        done = fakes.run(["build", "ep.yaml", "--json"], cwd=tmp_path)
        assert fakes.video_jobs() == {prompt: 1 for prompt in clip_prompts}

``Killer`` SIGKILLs the build at its N-th request to the fakes or after T seconds (both
seeded): a reproducible "random point", made between the fakes' answers (see its docstring).
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

from shotmake import mp4info
from shotmake.cache import Cache, file_digest
from shotmake.plan import build_plan
from shotmake.spec import load_episode

from .google_server import FakeGemini
from .openai_server import FakeOpenAI
from .server import FakeServer, Request, Response

#: Distinctive keys, so a test can grep every byte shotmake wrote for them.
OPENAI_KEY = "sk-test-NEVER-WRITE-ME-openai-5f1c9e27"
GEMINI_KEY = "AIza-test-NEVER-WRITE-ME-gemini-81d4b3"

#: Test pacing for a project: poll every 10 ms, call a job stalled after ~2 s, back off in
#: tens of milliseconds, and let the chaos tests spend as many retries as they provoke.
FAST_CONFIG = """\
[remote]
poll_interval = 0.01
stall_minutes = 0.03     # 1.8 s without progress: stalled

[retry]
budget = 2000
base = 0.05
cap = 0.4

[circuit]
failures = 1000
cooldown = 600           # a route that said it shut down stays shut for the build
"""


#: The fakes still serve the models their vendors retired (Sora 2, the Gemini-API Veo 3.1 previews),
#: as a gateway might: a project says so in shotmake.toml, which restates each route's lifecycle.
LEGACY_ROUTES = ("sora-2", "sora-2-pro", "veo-3.1", "veo-3.1-fast", "veo-3.1-lite")
LEGACY_ROUTES_LIVE = "".join(f'[routes."{name}"]\nstatus = "live"\n' for name in LEGACY_ROUTES)


def with_legacy_routes_live(config: str) -> str:
    """``config`` (shotmake.toml text) with ``status = "live"`` on each legacy route, in its own table."""
    for name in LEGACY_ROUTES:
        header = f'[routes."{name}"]\n'
        config = (config.replace(header, header + 'status = "live"\n') if header in config
                  else config + ("\n" if config and not config.endswith("\n") else "") + header + 'status = "live"\n')
    return config


def write_fast_config(root: Path) -> None:
    """Put ``FAST_CONFIG`` in the project at ``root``."""
    (root / "shotmake.toml").write_text(FAST_CONFIG + LEGACY_ROUTES_LIVE)


def one_shot_project(root: Path, provider: str = "sora-2", duration: int = 4,
                     shots: dict[str, str] | None = None) -> Path:
    """Write ``one.yaml`` (one sequence of ``shots``: id -> prompt, a 480p master) and the fast config."""
    shots = shots or {"sea": "Establishing shot of a grey sea under rain clouds."}
    lines = [f"  - id: {sid}\n    prompt: {prompt}" for sid, prompt in shots.items()]
    spec = root / "one.yaml"
    spec.write_text(f"version: 1\nepisode: one\n"
                    f"defaults: {{provider: {provider}, resolution: 720p, duration: {duration}}}\n"
                    "shots:\n" + "\n".join(lines) + "\n"
                    f"sequences:\n  - id: all\n    shots: [{', '.join(shots)}]\n"
                    "delivery:\n  format: {resolution: 480p, fps: 12}\n")
    write_fast_config(root)  # poll every 10 ms and back off in milliseconds
    return spec


#: The demo episode (the tests route its shots to the vendors' fakes).
PILOT = Path(__file__).resolve().parents[2] / "episodes" / "pilot.yaml"
#: Two characters with sheets, as every remote episode of the tests has them.
CHARACTERS = """\
characters:
  mei:
    name: Mei
    description: a girl with a short black bob and a yellow raincoat
    sheet: true
  kai:
    name: Kai
    description: a tall boy with auburn hair and a green scarf
    sheet: true
"""
#: A small master: conforming is not what the remote tests are about.
SMALL_MASTER = "delivery:\n  format: {resolution: 480p, fps: 12}\n"


def character_episode(root: Path, episode: str, defaults: str, shots: list[str], *, per_sequence: int = 0) -> Path:
    """Write ``<episode>.yaml`` (Mei and Kai with sheets, ``defaults`` as a flow mapping, ``shots`` as YAML
    list items, sequences of ``per_sequence`` shots or one, a small master) and the fast config."""
    ids = [line.split("- id:", 1)[1].split()[0] for line in shots]
    size = per_sequence or len(ids)
    sequences = [f"  - id: part{n}\n    shots: [{', '.join(ids[i:i + size])}]"
                 for n, i in enumerate(range(0, len(ids), size))]
    spec = root / f"{episode}.yaml"
    spec.write_text(f"version: 1\nepisode: {episode}\nstyle:\n  look: hand-drawn anime\ndefaults: {defaults}\n"
                    + CHARACTERS + SMALL_MASTER + "shots:\n" + "\n".join(shots) + "\nsequences:\n"
                    + "\n".join(sequences) + "\n")
    write_fast_config(root)
    return spec


def pilot_project(root: Path, edit: Callable[[str], str]) -> Path:
    """Write the demo pilot as ``edit`` routes it, with a small master, and the fast config."""
    spec = root / "pilot.yaml"
    spec.write_text(edit(PILOT.read_text()) + "\n" + SMALL_MASTER)
    write_fast_config(root)
    return spec


class RemoteFakes:
    """A FakeOpenAI and a FakeGemini, and the environment that points shotmake at them."""

    def __init__(self, openai: FakeOpenAI | None = None, gemini: FakeGemini | None = None) -> None:
        # Sora's poll hint (openai-poll-after-ms) small but not zero, as a real server's would be.
        self.openai = openai or FakeOpenAI(api_key=OPENAI_KEY, polls_to_complete=2, queued_polls=1, poll_after_ms=10)
        # Veo answers "running" twice before "done" (polls are paced by the fast config).
        self.gemini = gemini or FakeGemini(api_key=GEMINI_KEY, polls_until_done=2)
        self.servers: tuple[FakeServer, ...] = (self.openai, self.gemini)

    def __enter__(self) -> Self:
        for server in self.servers:
            server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self.servers:
            server.stop()

    @property
    def secrets(self) -> tuple[str, str]:
        return (self.openai.api_key, self.gemini.api_key)

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a user whose keys and base URLs point at the fakes."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("OPENAI_", "GEMINI_", "GOOGLE_", "SHOTMAKE_"))}
        env.update(OPENAI_API_KEY=self.openai.api_key, OPENAI_BASE_URL=self.openai.base_url,
                   GEMINI_API_KEY=self.gemini.api_key, GOOGLE_GEMINI_BASE_URL=self.gemini.url)
        env.update(extra)
        return env

    def run(self, args: list[str], cwd: Path, *, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
        """Run ``shotmake ARGS`` in ``cwd`` to completion, capturing its output."""
        return subprocess.run([sys.executable, "-m", "shotmake", *args], cwd=cwd, env=self.env(**env),
                              capture_output=True, text=True, timeout=timeout, check=False)

    def video_jobs(self) -> Counter[str]:
        """Accepted video creates (jobs that exist and bill), per prompt, across both vendors."""
        return Counter(self.openai.jobs_by_prompt()) + Counter(self.gemini.jobs_by_prompt())

    def images(self) -> Counter[str]:
        """Successful image generations per prompt."""
        return Counter(self.gemini.images_by_prompt())

    def request_count(self) -> int:
        return sum(len(s.requests) for s in self.servers)

    def staged_create(self, server: FakeServer, request: Request) -> Callable[[], Response] | None:
        """For a kill ``after`` a create: the call that performs ``request`` (a job list can find it), or None."""
        openai = self.openai
        if server is openai and request.method == "POST" and request.path == f"{openai.prefix}/videos":
            return lambda: openai._create(request)
        return None


class Killer:
    """SIGKILLs the armed build on its ``at``-th request to the fakes, or ``after`` seconds, whichever first.

    A kill is made *between* the fakes' answers: the fakes stop taking requests (new ones wait,
    unprocessed), finish the ones under way, give the client ``settle`` seconds to record what
    it received, then the process dies. So a kill never lands inside a provider's create call,
    except on purpose: with ``mode="after"`` a Sora create that triggers the kill is performed
    and its answer lost (the job exists, the journal has only the intent: shotmake must find it
    by listing; ``RemoteFakes.staged_create`` says which creates). Google's APIs cannot list jobs, so a Veo create answered into a dead process is
    an unavoidable double payment; the killer does not stage that one.
    """

    def __init__(self, fakes: RemoteFakes, *, settle: float = 0.15) -> None:
        self.fakes = fakes
        self.settle = settle
        self._cond = threading.Condition()
        self._proc: subprocess.Popen[str] | None = None
        self._at = 0
        self._seen = 0
        self._mode = "before"
        self._state = "idle"  # idle | armed | freezing | dead
        self._frozen = 0
        self._timer: threading.Timer | None = None
        self.fired = False
        #: What each kill landed on ("POST /v1/videos", "timer"...), for failure messages.
        self.landed_on: list[str] = []
        for server in fakes.servers:
            server.before_handle = functools.partial(self._hook, server)

    def arm(self, proc: subprocess.Popen[str], at: int | None, *, after: float | None = None,
            mode: str = "before") -> None:
        """Watch ``proc``: kill it on its ``at``-th request and/or ``after`` seconds (None: never)."""
        with self._cond:
            self._proc, self._at, self._seen, self._mode = proc, at or 0, 0, mode
            self._state, self.fired = "armed", False
        if after is not None:
            self._timer = threading.Timer(after, self._kill, kwargs={"what": "timer"})
            self._timer.daemon = True
            self._timer.start()

    def disarm(self) -> None:
        """Stop watching (after the process ended by itself).

        A kill already under way (a timer that fired as the build was ending) is waited for, so that
        it cannot finish later and drop the requests of the next build.
        """
        if self._timer is not None:
            self._timer.cancel()
        with self._cond:
            while self._state == "freezing":
                self._cond.wait()
            self._state = "idle"
            self._cond.notify_all()

    def detach(self) -> None:
        """Give the fakes back their normal handling."""
        self.disarm()
        for server in self.fakes.servers:
            server.before_handle = None

    def _hook(self, server: FakeServer, request: Request) -> Response | None:
        with self._cond:
            if self._state == "freezing":  # a kill is under way: hold the request, then drop it
                self._frozen += 1
                while self._state == "freezing":
                    self._cond.wait()
                self._frozen -= 1
                return _dropped()
            if self._state == "dead":
                return _dropped()
            if self._state != "armed" or self._at <= 0:
                return None
            self._seen += 1
            if self._seen < self._at:
                return None
        staged = self.fakes.staged_create(server, request) if self._mode == "after" else None
        what = f"{request.method} {request.path}"
        # The staged create skips the chaos (it must start the job); its answer is then lost.
        self._kill(what, then=staged)
        return _dropped()

    def _kill(self, what: str, then: Callable[[], Response] | None = None) -> None:
        with self._cond:
            if self._state != "armed" or self._proc is None:
                return
            self._state = "freezing"
            proc = self._proc
        # Wait until nothing but the held requests (and the one that fired) is being answered.
        me = 0 if what == "timer" else 1
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            with self._cond:
                busy = sum(s.in_flight for s in self.fakes.servers) - me - self._frozen
            if busy <= 0:
                break
            time.sleep(0.002)
        time.sleep(self.settle)
        if then is not None and then().status < 400:
            what += " (created; answer lost)"
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            self.fired = True
            self.landed_on.append(what)
        with self._cond:
            self._state = "dead"
            self._cond.notify_all()


def _dropped() -> Response:
    # The client is dead (or dying): whatever goes back is never read, and nothing was done.
    return Response.json({"error": {"message": "client killed"}}, status=599)


def node_prompts(spec: Path) -> dict[str, tuple[str, str]]:
    """``node id -> (provider, compiled prompt)`` for every sheet and clip of the episode."""
    plan = build_plan(load_episode(spec), file_digest)
    out = {}
    for nid in plan.order:
        node = plan.node(nid)
        if node.kind in ("clip", "sheet"):
            out[nid] = (node.provider, str(node.manifest.get("prompt", "")))
    return out


def files_containing(roots: list[Path], secrets: tuple[str, ...]) -> list[str]:
    """Every file under ``roots`` (recursively) whose bytes contain one of ``secrets``."""
    needles = [s.encode() for s in secrets if s]
    hits = []
    for root in roots:
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in paths:
            data = path.read_bytes()
            hits += [f"{path}: {needle.decode()}" for needle in needles if needle in data]
    return hits


def partial_renders(root: Path) -> list[str]:
    """What is not whole in the project's cache: each stored render must be its full object, with
    the bytes its digest names, and each cached clip a readable MP4 with a picture of some length.

    Empty when the cache holds only complete renders. A chaos test's "nothing partial cached": a
    truncated or reset download kept by mistake shows up here (its moov box or its digest is wrong),
    and so does a ``*.part`` file left beside the objects.
    """
    cache_dir = root / ".shotmake"
    problems = [f"{p}: a partial download" for p in sorted(cache_dir.rglob("*.part"))]
    cache = Cache(cache_dir)
    try:
        for key, entry in cache.entries():
            node = str(entry.get("meta", {}).get("node") or key[:16])
            artifact = cache.lookup(key)
            if artifact is None:
                problems.append(f"{node}: its object is missing or not the size the index records")
            elif file_digest(artifact.path) != artifact.digest:
                problems.append(f"{node}: its object's bytes do not match its digest")
            elif node.startswith("clip:"):
                facts = mp4info.read(artifact.path)
                if facts is None or not facts.video or facts.seconds <= 0:
                    problems.append(f"{node}: its object is not a whole MP4 clip ({facts})")
    finally:
        cache.close()
    return problems


def summary(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The ``--json`` summary of a finished build (fails loudly with its stderr if absent)."""
    import json

    try:
        data: dict[str, Any] = json.loads(proc.stdout)
    except ValueError as exc:
        raise AssertionError(f"no JSON summary (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}") from exc
    return data
