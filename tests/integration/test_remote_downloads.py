"""Downloads through the CLI: stream to a temp file, verify, then store; never pay twice for a retry.

A download that breaks (reset, truncated body) is fetched again from the same job. A body
that arrives whole but is not the clip that was asked for (not media, or the wrong length)
must not enter the cache: a cached broken clip would be "up to date" forever, and the paid
job behind it must stay in the journal so the next build downloads it again instead of
creating a new one.
"""

from __future__ import annotations

from pathlib import Path

from shotmake.cache import Cache
from shotmake.journal import Journal
from tests.fakes.google_server import reset_download, sample_mp4, truncated_download
from tests.fakes.harness import RemoteFakes, node_prompts, one_shot_project, summary
from tests.fakes.openai_server import fake_mp4
from tests.fakes.server import Request, Response


def cached(root: Path, node_id: str, spec: Path) -> bool:
    from shotmake.cache import file_digest
    from shotmake.plan import build_plan
    from shotmake.spec import load_episode

    key = build_plan(load_episode(spec), file_digest).node(node_id).key
    cache = Cache(root / ".shotmake")
    try:
        return cache.lookup(key) is not None
    finally:
        cache.close()


def leftovers(root: Path) -> list[Path]:
    """Partial files anywhere in the project (``.part`` downloads, files left in the cache's tmp/)."""
    temp = root / ".shotmake" / "tmp"
    return [p for p in root.rglob("*") if p.is_file() and (p.name.endswith(".part") or temp in p.parents)]


def journal_phase(root: Path) -> list[str]:
    journal = Journal(root / ".shotmake" / "journal.sqlite")
    try:
        return [r.phase for r in journal.recent(10)]
    finally:
        journal.close()


def test_broken_downloads_are_fetched_again_from_the_same_job(tmp_path: Path) -> None:
    spec = one_shot_project(tmp_path, "sora-2", 4)
    with RemoteFakes() as fakes:
        fakes.openai.reset_next_download(after_bytes=700)
        fakes.openai.truncate_next_download(missing=3000)
        build = fakes.run(["build", spec.name, "--json", "-q"], tmp_path)
        assert build.returncode == 0, build.stderr
        assert fakes.video_jobs() == {node_prompts(spec)["clip:sea"][1]: 1}
        contents = [r for r in fakes.openai.requests if r.path.endswith("/content")]
        assert len(contents) == 3  # reset, truncated, whole
    assert leftovers(tmp_path) == []
    assert journal_phase(tmp_path) == ["downloaded"]


def test_veo_broken_downloads_are_fetched_again_from_the_same_operation(tmp_path: Path) -> None:
    spec = one_shot_project(tmp_path, "veo-3.1", 4)
    with RemoteFakes() as fakes:
        fakes.gemini.faults += [reset_download(after=900), truncated_download(missing=2000)]
        build = fakes.run(["build", spec.name, "--json", "-q"], tmp_path)
        assert build.returncode == 0, build.stderr
        assert fakes.gemini.creates == 1 and len(fakes.gemini.route_requests("bytes")) == 3
    assert leftovers(tmp_path) == []


def test_expired_content_fails_the_node_with_the_reason(tmp_path: Path) -> None:
    spec = one_shot_project(tmp_path, "sora-2", 4)
    with RemoteFakes() as fakes:
        fakes.openai.expire_terms.add("grey sea")
        build = fakes.run(["build", spec.name, "--json"], tmp_path)
        result = summary(build)
        assert build.returncode == 1
        errors = {e["id"]: e["error"] for e in result["failed"]}
        assert "expired" in errors["clip:sea"] and "HTTP 404" in errors["clip:sea"]
        assert len(fakes.openai.creates()) == 1  # terminal: not retried, not created again
    assert not cached(tmp_path, "clip:sea", spec)


def _serve(fakes: RemoteFakes, route_suffix: str, body: bytes) -> None:
    """Answer every request whose path ends/starts as given with ``body`` (a 200 video/mp4)."""

    def hook(request: Request) -> Response | None:
        if request.method == "GET" and (request.path.endswith(route_suffix) or request.path.startswith(route_suffix)):
            return Response(body=body, headers={"content-type": "video/mp4"})
        return None

    for server in fakes.servers:
        server.before_handle = hook


def test_sora_clip_of_the_wrong_length_is_not_stored_and_its_job_is_kept(tmp_path: Path) -> None:
    spec = one_shot_project(tmp_path, "sora-2", 8)
    with RemoteFakes() as fakes:
        _serve(fakes, "/content", fake_mp4(4, "1280x720"))  # a real MP4, but 4 s where 8 s was asked
        build = fakes.run(["build", spec.name, "--json"], tmp_path)
        assert build.returncode == 1 and not cached(tmp_path, "clip:sea", spec), build.stderr
        errors = {e["id"]: e["error"] for e in summary(build)["failed"]}
        assert "4.0" in errors["clip:sea"] and "8" in errors["clip:sea"]
        # The job is fine; the next build downloads it again rather than paying for a new one.
        for server in fakes.servers:
            server.before_handle = None
        again = fakes.run(["build", spec.name, "--json"], tmp_path)
        assert again.returncode == 0, again.stderr
        assert len(fakes.openai.creates()) == 1


def test_veo_body_that_is_not_a_video_is_not_stored_and_its_job_is_kept(tmp_path: Path) -> None:
    spec = one_shot_project(tmp_path, "veo-3.1", 4)
    with RemoteFakes() as fakes:
        whole = sample_mp4(4.0, "16:9")
        _serve(fakes, "/blob/", whole[:32] + bytes(len(whole) - 32))  # the right length, no video in it
        build = fakes.run(["build", spec.name, "--json"], tmp_path)
        assert build.returncode == 1 and not cached(tmp_path, "clip:sea", spec), build.stderr
        for server in fakes.servers:
            server.before_handle = None
        again = fakes.run(["build", spec.name, "--json"], tmp_path)
        assert again.returncode == 0, again.stderr
        assert fakes.gemini.creates == 1
