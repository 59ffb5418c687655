"""A job the journal knows is never created again: not after the cache index is emptied, damaged
or lost with its objects, nor when only ``journal.sqlite`` survives (no ``-wal`` beside it).

Each test pays for one Sora job on the fake, breaks the cache the way a user or a disk would,
and counts the creates the next builds make.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fakes.harness import OPENAI_KEY, RemoteFakes, one_shot_project, summary
from tests.fakes.openai_server import FakeOpenAI


def built_once(root: Path, fakes: RemoteFakes) -> str:
    one_shot_project(root)
    done = fakes.run(["build", "one.yaml", "--json"], root)
    assert done.returncode == 0 and summary(done)["failed"] == [], done.stderr
    (job_id,) = fakes.openai.videos
    return job_id


def test_an_emptied_index_finds_the_render_by_its_journalled_digest(tmp_path: Path) -> None:
    with RemoteFakes() as fakes:
        job_id = built_once(tmp_path, fakes)
        (tmp_path / ".shotmake" / "index" / "index.sqlite").write_bytes(b"")  # emptied
        again = fakes.run(["build", "one.yaml", "--json"], tmp_path)
        assert again.returncode == 0 and summary(again)["failed"] == [], again.stderr
        assert f"found job {job_id}'s render by its digest" in again.stderr
        assert len(fakes.openai.creates()) == 1


def test_a_render_gone_from_the_cache_is_downloaded_again_from_its_job(tmp_path: Path) -> None:
    with RemoteFakes() as fakes:
        job_id = built_once(tmp_path, fakes)
        shutil.rmtree(tmp_path / ".shotmake" / "objects")
        (tmp_path / ".shotmake" / "index" / "index.sqlite").unlink()
        again = fakes.run(["build", "one.yaml", "--json"], tmp_path)
        assert again.returncode == 0 and summary(again)["failed"] == [], again.stderr
        assert f"downloading job {job_id} again" in again.stderr
        assert len(fakes.openai.creates()) == 1
        assert summary(again)["cost_usd"] == 0.0  # paid for once, in the first build


def test_a_render_gone_everywhere_fails_until_the_user_says_resubmit_lost(tmp_path: Path) -> None:
    with RemoteFakes() as fakes:
        job_id = built_once(tmp_path, fakes)
        shutil.rmtree(tmp_path / ".shotmake" / "objects")
        (tmp_path / ".shotmake" / "index" / "index.sqlite").unlink()
        fakes.openai.expire(job_id)
        for _ in range(2):  # the refusal holds: the journal still says "downloaded"
            lost = fakes.run(["build", "one.yaml"], tmp_path)
            assert lost.returncode == 1 and "--resubmit-lost" in lost.stderr, lost.stderr
            assert "Traceback" not in lost.stderr
            assert len(fakes.openai.creates()) == 1
        paid = fakes.run(["build", "one.yaml", "--resubmit-lost", "--json"], tmp_path)
        assert paid.returncode == 0, paid.stderr
        assert len(fakes.openai.creates()) == 2


def test_a_damaged_index_names_reindex_which_recovers_every_paid_render(tmp_path: Path) -> None:
    with RemoteFakes() as fakes:
        built_once(tmp_path, fakes)
        index = tmp_path / ".shotmake" / "index" / "index.sqlite"
        index.write_bytes(b"not a database " * 512)
        broken = fakes.run(["build", "one.yaml"], tmp_path)
        assert broken.returncode == 1 and "shotmake reindex" in broken.stderr, broken.stderr
        assert "Traceback" not in broken.stderr
        done = fakes.run(["reindex"], tmp_path)
        assert done.returncode == 0, done.stderr
        assert "moved to" in done.stdout and "1 paid renders indexed again" in done.stdout, done.stdout
        again = fakes.run(["build", "one.yaml", "--json"], tmp_path)
        assert again.returncode == 0 and summary(again)["failed"] == [], again.stderr
        assert len(fakes.openai.creates()) == 1


def test_a_lone_copy_of_the_journal_knows_the_job_in_flight(tmp_path: Path) -> None:
    """Only journal.sqlite is copied while the job runs (no -wal): the next build resumes, never re-creates."""
    slow = FakeOpenAI(api_key=OPENAI_KEY, polls_to_complete=10**6, queued_polls=10**6, poll_after_ms=20)
    with RemoteFakes(openai=slow) as fakes:
        one_shot_project(tmp_path)
        proc = subprocess.Popen([sys.executable, "-m", "shotmake", "build", "one.yaml", "-q"], cwd=tmp_path,
                                env=fakes.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        journal = tmp_path / ".shotmake" / "journal.sqlite"
        try:
            deadline = time.monotonic() + 60
            while not any(r.method == "GET" for r in fakes.openai.requests):  # polling: the id is journalled
                assert time.monotonic() < deadline and proc.poll() is None, "the build never polled its job"
                time.sleep(0.01)
            copy = tmp_path / "journal-copy.sqlite"
            shutil.copyfile(journal, copy)
        finally:
            proc.kill()
            proc.wait(timeout=30)
        for leftover in journal.parent.glob("journal.sqlite*"):
            leftover.unlink()
        shutil.copyfile(copy, journal)
        slow.queued_polls, slow.polls_to_complete = 0, 1
        again = fakes.run(["build", "one.yaml", "--json"], tmp_path)
        assert again.returncode == 0 and summary(again)["failed"] == [], again.stderr
        assert "resuming job" in again.stderr
        assert len(fakes.openai.creates()) == 1


@pytest.mark.parametrize(("route", "variable", "suffix"), [
    ("sora-2", "OPENAI_API_KEY", "é"),
    ("veo-3.1-fast", "GEMINI_API_KEY", "é"),
    ("sora-2", "OPENAI_API_KEY", "\r"),
    ("veo-3.1-fast", "GEMINI_API_KEY", "\r"),
])
def test_a_create_that_failed_before_sending_leaves_no_intent(tmp_path: Path, route: str, variable: str,
                                                              suffix: str) -> None:
    """A key that cannot be sent (not ASCII, a trailing CR) fails on this machine: the fixed key's build
    creates the job."""
    one_shot_project(tmp_path, provider=route)
    with RemoteFakes() as fakes:
        key = fakes.env()[variable]
        bad = fakes.run(["build", "one.yaml"], tmp_path, **{variable: key + suffix})
        assert "Traceback" not in bad.stderr, bad.stderr
        assert "may have created" not in bad.stderr
        good = fakes.run(["build", "one.yaml", "--json"], tmp_path)
        assert good.returncode == 0 and summary(good)["failed"] == [], good.stderr
        assert sum(fakes.video_jobs().values()) == 1


def test_a_job_id_with_a_control_character_is_never_stored(tmp_path: Path) -> None:
    from tests.fakes.server import Response

    one_shot_project(tmp_path)
    with RemoteFakes() as fakes:
        openai = fakes.openai
        real_create = openai.before_handle

        def evil(request):  # type: ignore[no-untyped-def]
            if request.method == "POST" and request.path == f"{openai.prefix}/videos":
                openai.before_handle = real_create  # once
                return Response.json({"id": "video_\x1b[2Jevil", "object": "video", "status": "queued",
                                      "progress": 0, "model": "sora-2", "seconds": "4", "size": "1280x720"})
            return None

        openai.before_handle = evil
        bad = fakes.run(["build", "one.yaml"], tmp_path)
        assert bad.returncode == 1 and "job id shotmake cannot use" in bad.stderr, bad.stderr
        assert "\x1b" not in bad.stderr
        listing = fakes.run(["jobs", "--all"], tmp_path)
        assert "\x1b" not in listing.stdout and "(no id yet)" in listing.stdout, listing.stdout
        # The job may exist: the next build does not create blindly; the user's flag does.
        again = fakes.run(["build", "one.yaml", "--resubmit-uncertain", "--json"], tmp_path)
        assert again.returncode == 0, again.stderr
