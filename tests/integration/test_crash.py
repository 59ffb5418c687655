"""kill -9 in the middle of a build loses nothing: finished renders stay cached, nothing partial is served."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from shotmake.cache import file_digest

SPEC = "episodes/tiny.yaml"


def objects(project: Path) -> list[Path]:
    root = project / ".shotmake" / "objects"
    return [p for d in root.iterdir() for p in d.iterdir()] if root.exists() else []


def test_sigkill_mid_build_then_rebuild(project: Path) -> None:
    env = {**os.environ, "SHOTMAKE_LOCAL_LATENCY": "0.4"}
    proc = subprocess.Popen([sys.executable, "-m", "shotmake", "build", SPEC, "-j", "2", "-q"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(objects(project)) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    time.sleep(0.1)  # let the third store reach the index; the next render needs 0.4 s more
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    survivors = objects(project)
    planned = json.loads(subprocess.run([sys.executable, "-m", "shotmake", "plan", SPEC, "--json"],
                                        capture_output=True, text=True, check=True).stdout)
    total = len(planned["rendered"]) + len(planned["cached"])
    assert 3 <= len(survivors) < total, "the kill should land mid-build"
    for path in survivors:  # every stored object is complete: its name is its content's digest
        assert path.name.split(".")[0] == file_digest(path)

    rebuild = subprocess.run([sys.executable, "-m", "shotmake", "build", SPEC, "--json", "-q"],
                             capture_output=True, text=True, env=os.environ.copy(), check=True)
    summary = json.loads(rebuild.stdout)
    assert len(summary["cached"]) >= 3, "renders finished before the kill must not be rendered again"
    assert len(summary["cached"]) + len(summary["rendered"]) == total and summary["failed"] == []
    assert (project / "build" / "tiny.mp4").exists()
    again = subprocess.run([sys.executable, "-m", "shotmake", "build", SPEC, "--json", "-q"],
                           capture_output=True, text=True, check=True)
    assert json.loads(again.stdout)["rendered"] == []
