"""No secrets at rest: API keys never reach the cache, the journal, lock files, outputs or what
shotmake prints - through a build that renders, one a provider refuses, one SIGKILLed mid-job,
and every read-only command after. Cache metadata is JSON (a pickle in a writable cache would
run code on load), and the cache directory is created owner-only.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

from tests.fakes.harness import OPENAI_KEY, RemoteFakes, files_containing
from tests.fakes.openai_server import FakeOpenAI

from .helpers import make_project
from .test_crash import Assassin

SPEC = """\
version: 1
episode: keys
defaults: {provider: sora-2, sheet_provider: gemini-3-pro-image, resolution: 720p, duration: 4}
characters:
  mei: {name: Mei, description: a girl in a yellow raincoat, sheet: true}
shots:
  - {id: sea, prompt: Establishing shot of a grey sea under rain clouds.}
  - {id: banned, prompt: A forbidden harbour at night.}
  - {id: lamp, provider: local, resolution: 480p, duration: 1, prompt: "{mei} lights the lamp."}
sequences:
  - {id: all, shots: [sea, banned, lamp]}
delivery:
  format: {resolution: 480p, fps: 12}
"""


def cache_values(cache_root: Path) -> list[bytes]:
    """Every key and value in the index (inline or in its value file), as stored."""
    out = []
    with sqlite3.connect(cache_root / "index" / "index.sqlite") as db:
        rows = db.execute("SELECT name, value FROM entries").fetchall()
    for name, value in rows:
        out.append(json.dumps(name).encode())  # a name is text: checked for secrets like the values
        out.append(value if isinstance(value, bytes) else str(value).encode())
    return out


def test_keys_never_reach_disk_or_output_and_metadata_is_json(tmp_path: Path) -> None:
    project = tmp_path / "project"
    make_project(project, SPEC, "keys.yaml")
    cache_root = tmp_path / "home" / "cache" / "shotmake"  # created by shotmake, parents too
    outputs: list[str] = []
    with RemoteFakes(openai=FakeOpenAI(api_key=OPENAI_KEY, polls_to_complete=2, queued_polls=0)) as fakes:
        fakes.openai.blocked_terms["forbidden harbour"] = "job"
        env = {"SHOTMAKE_CACHE": str(cache_root)}

        # 1. killed while its jobs are in flight, 2. finished (one shot refused), 3. read-only commands.
        assassin = Assassin(fakes.servers)
        proc = subprocess.Popen([sys.executable, "-m", "shotmake", "build", "keys.yaml", "-k", "-j", "1"], cwd=project,
                                env=fakes.env(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assassin.arm(proc, 3)
        outputs += proc.communicate(timeout=120)
        assassin.arm(None, 0)
        assert proc.returncode == -signal.SIGKILL, outputs[-1]
        for args in (["build", "keys.yaml", "-k", "--json"], ["build", "keys.yaml", "-k"], ["jobs", "--all"],
                     ["status", "keys.yaml"], ["explain", "keys.yaml", "banned"], ["plan", "keys.yaml", "--json"],
                     ["prompts", "keys.yaml"], ["gc", "--dry-run"]):
            done = fakes.run(args, project, **env)
            outputs += [done.stdout, done.stderr]
            assert "Traceback" not in done.stderr, done.stderr
        assert done.returncode == 0
        assert "moderation" in "".join(outputs), "the refused shot was reported"
        secrets = fakes.secrets
    assert [s for s in secrets for text in outputs if s in text] == []
    assert files_containing([project, tmp_path / "home"], secrets) == []
    assert (project / "keys.lock").exists() is False or files_containing([project / "keys.lock"], secrets) == []

    # Metadata is JSON: every index key and value decodes as (compressed) JSON, never a pickle.
    values = cache_values(cache_root)
    assert values
    for data in values:
        assert not data.startswith(b"\x80"), "a pickled value in the index"
        json.loads(data)
    for path in cache_root.rglob("*"):  # nor any other metadata file (spec snapshots...)
        if path.is_file() and "objects" not in path.parts:
            assert not path.read_bytes().startswith(b"\x80"), f"{path} looks like a pickle"

    # Owner-only: the cache and everything shotmake made in it.
    for directory in (cache_root, cache_root / "objects", cache_root / "tmp", cache_root / "index"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    assert stat.S_IMODE((cache_root / "lock").stat().st_mode) == 0o600
    assert not [p for p in cache_root.rglob("*") if p.stat().st_mode & (stat.S_IWGRP | stat.S_IWOTH)]
    assert os.access(cache_root, os.W_OK)
