"""Drive real ``shotmake`` processes against the loopback fakes, and count what they paid for.

The fakes run in the test process; each build is a subprocess (``python -m shotmake``), so a
test can SIGKILL it at any point and the fakes (the "providers") outlive it, as real ones do::

    with RemoteFakes() as fakes:
        done = fakes.run(["build", "ep.yaml", "--json"], cwd=tmp_path)
        assert fakes.video_jobs() == {prompt: 1 for prompt in clip_prompts}

``Killer`` SIGKILLs the build the moment the fakes receive its N-th request, before they act
on it: a seeded, reproducible "random point" (a create killed this way created nothing).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any, Self

from shotmake.cache import file_digest
from shotmake.plan import build_plan
from shotmake.spec import load_episode

from .google_server import FakeGemini
from .openai_server import FakeOpenAI
from .server import FakeServer, Request, Response

#: Distinctive keys, so a test can grep every byte shotmake wrote for them.
OPENAI_KEY = "sk-test-NEVER-WRITE-ME-openai-5f1c9e27"
GEMINI_KEY = "AIza-test-NEVER-WRITE-ME-gemini-81d4b3"


class RemoteFakes:
    """A FakeOpenAI and a FakeGemini, and the environment that points shotmake at them."""

    def __init__(self, openai: FakeOpenAI | None = None, gemini: FakeGemini | None = None) -> None:
        self.openai = openai or FakeOpenAI(api_key=OPENAI_KEY, polls_to_complete=2, queued_polls=1)
        self.gemini = gemini or FakeGemini(api_key=GEMINI_KEY, polls_until_done=0)
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
                              capture_output=True, text=True, timeout=timeout)

    def video_jobs(self) -> Counter[str]:
        """Accepted video creates (jobs that exist and bill), per prompt, across both vendors."""
        return Counter(self.openai.jobs_by_prompt()) + Counter(self.gemini.jobs_by_prompt())

    def images(self) -> Counter[str]:
        """Successful image generations per prompt."""
        return Counter(self.gemini.images_by_prompt())

    def request_count(self) -> int:
        return sum(len(s.requests) for s in self.servers)


class Killer:
    """SIGKILLs the armed process when the fakes receive its ``at``-th request (before acting on it)."""

    def __init__(self, fakes: RemoteFakes) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._at = 0
        self._seen = 0
        self.fired = False
        #: The request each kill landed on (method and path), for failure messages.
        self.landed_on: list[str] = []
        for server in fakes.servers:
            server.before_handle = self._hook

    def arm(self, proc: subprocess.Popen[str], at: int | None) -> None:
        """Watch ``proc``; kill it on its ``at``-th request (None: never)."""
        with self._lock:
            self._proc, self._at, self._seen, self.fired = proc, at or 0, 0, False

    def _hook(self, request: Request) -> Response | None:
        with self._lock:
            if self._proc is None or self._at <= 0 or self.fired:
                return None
            self._seen += 1
            if self._seen < self._at:
                return None
            self.fired = True
            proc = self._proc
            self.landed_on.append(f"{request.method} {request.path}")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # The client is dead: whatever goes back is never read, and the request did nothing.
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


def summary(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The ``--json`` summary of a finished build (fails loudly with its stderr if absent)."""
    import json

    try:
        data: dict[str, Any] = json.loads(proc.stdout)
    except ValueError as exc:
        raise AssertionError(f"no JSON summary (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}") from exc
    return data
