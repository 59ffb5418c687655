"""``shotmake jobs`` and resuming: a build killed mid-job leaves a job the next build picks up.

The build is SIGKILLed the moment the fake receives a chosen request, so the journal is
caught with a job in flight at a known progress; ``jobs`` must show it, and the next build
must poll and download that job rather than create another.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.fakes.harness import OPENAI_KEY, Killer, RemoteFakes, one_shot_project, summary
from tests.fakes.openai_server import FakeOpenAI


def fakes_with_slow_sora() -> RemoteFakes:
    """Sora jobs answer queued, then 50 %, then completed."""
    return RemoteFakes(openai=FakeOpenAI(api_key=OPENAI_KEY, polls_to_complete=3, queued_polls=1, poll_after_ms=10))


def killed_mid_job(root: Path, fakes: RemoteFakes) -> None:
    """Build, and SIGKILL it on its 4th request: create, poll (queued), poll (50 %), *poll*."""
    one_shot_project(root)
    killer = Killer(fakes)
    proc = subprocess.Popen([sys.executable, "-m", "shotmake", "build", "one.yaml", "-q"], cwd=root,
                            env=fakes.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    killer.arm(proc, 4)
    proc.wait(timeout=60)
    assert killer.fired and killer.landed_on[-1].startswith("GET /v1/videos/video_"), killer.landed_on
    killer.detach()


def test_a_killed_build_leaves_its_job_in_flight_and_the_next_build_resumes_it(tmp_path: Path) -> None:
    with fakes_with_slow_sora() as fakes:
        killed_mid_job(tmp_path, fakes)
        (job_id,) = fakes.openai.videos
        listing = fakes.run(["jobs"], tmp_path)
        (line,) = listing.stdout.splitlines()
        assert line.split() == ["running", "clip:sea", "sora-2", job_id, "50%"], listing.stdout

        again = fakes.run(["build", "one.yaml", "--json"], tmp_path)
        assert again.returncode == 0 and summary(again)["failed"] == [], again.stderr
        assert f"resuming job {job_id}" in again.stderr
        assert len(fakes.openai.creates()) == 1
        assert fakes.run(["jobs"], tmp_path).stdout.startswith("no jobs in flight")
        assert fakes.run(["jobs", "--all"], tmp_path).stdout.split() == [
            "downloaded", "clip:sea", "sora-2", job_id, "100%"]


def test_a_transient_error_while_reconciling_a_lost_create_is_retried(tmp_path: Path) -> None:
    one_shot_project(tmp_path)
    with RemoteFakes() as fakes:
        killer = Killer(fakes)
        proc = subprocess.Popen([sys.executable, "-m", "shotmake", "build", "one.yaml", "-q"], cwd=tmp_path,
                                env=fakes.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
        killer.arm(proc, 1, mode="after")  # the create starts the job; its answer dies with the process
        proc.wait(timeout=60)
        killer.detach()
        assert killer.landed_on == ["POST /v1/videos (created; answer lost)"]
        fakes.openai.server_error("list", 503)  # the next run's reconcile meets one transient error
        again = fakes.run(["build", "one.yaml", "--json"], tmp_path)
        assert again.returncode == 0, summary(again)["failed"]
        assert "reconciled with job" in again.stderr
        assert len(fakes.openai.videos) == 1
