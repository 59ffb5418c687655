"""GeminiVeo against the loopback Gemini API fake: wire shapes, limits, faults, resume."""

from __future__ import annotations

import base64
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shotmake.errors import ProviderError, RetryableError, TerminalError
from shotmake.providers.base import InputFile, JobStatus
from shotmake.providers.gemini_veo import GeminiVeo, from_env
from shotmake.providers.vertex_veo import VertexVeo
from tests.fakes.google_server import (
    FakeGemini,
    gateway_timeout,
    http_error,
    lost_response,
    operation_failed,
    overloaded,
    rai_filtered,
    rate_limited,
    reset_download,
    sample_mp4,
    sample_png,
    server_error,
    stall,
    truncated_download,
)
from tests.veo_helpers import request, run_to_done

KEY = "AIzaSy-test-key-0123456789-never-leak"
DAY = 24 * 3600.0


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    with FakeGemini(api_key=KEY, polls_until_done=1) as server:
        assert isinstance(server, FakeGemini)
        yield server


@pytest.fixture
def make_veo(fake: FakeGemini, client: httpx.Client) -> Iterator[Callable[..., GeminiVeo]]:
    made: list[GeminiVeo] = []

    def make(**kwargs: Any) -> GeminiVeo:
        kwargs.setdefault("base_url", fake.url)
        veo = GeminiVeo(KEY, client=client, poll_interval=0.0, **kwargs)
        made.append(veo)
        return veo

    yield make
    for veo in made:
        veo.close()


@pytest.fixture
def png(tmp_path: Path) -> Callable[[str], InputFile]:
    def make(name: str, rgb: tuple[int, int, int] = (10, 20, 30)) -> InputFile:
        path = tmp_path / f"{name}.png"
        path.write_bytes(sample_png(32, 18, rgb))
        return InputFile(path=path, digest=name, mime="image/png")

    return make


def sequence(fake: FakeGemini) -> list[str]:
    return [f"{fake.route_of(r)} {r.method}" for r in fake.requests]


# -- happy paths ----------------------------------------------------------------------------------

def test_text_to_video_creates_once_polls_and_downloads_a_real_mp4(
    fake: FakeGemini, make_veo: Callable[..., GeminiVeo], tmp_path: Path
) -> None:
    veo = make_veo()
    job = veo.submit(request(negative_prompt="text, logos"))
    assert job.startswith("models/veo-3.1-generate-preview/operations/")
    first = veo.poll(job)
    assert first.state == "running" and first.poll_after == 0.0
    status = run_to_done(veo, job)
    assert status.state == "succeeded"
    dest = tmp_path / "clip.mp4"
    meta = veo.download(job, dest, status)

    assert sequence(fake) == ["create POST", "poll GET", "poll GET", "download GET", "bytes GET"]
    assert fake.creates == 1
    create = fake.requests[0]
    assert create.path == "/v1beta/models/veo-3.1-generate-preview:predictLongRunning"
    assert create.json() == {
        "instances": [{"prompt": "A lighthouse at dusk."}],
        "parameters": {"aspectRatio": "16:9", "resolution": "720p", "sampleCount": 1, "durationSeconds": 8,
                       "negativePrompt": "text, logos"},
    }
    for r in fake.requests[:4]:
        assert r.headers["x-goog-api-key"] == KEY and "key" not in r.query
    assert dest.read_bytes() == sample_mp4(8.0, "16:9")
    assert dest.read_bytes()[4:8] == b"ftyp"
    assert not list(tmp_path.glob("*.part"))
    assert meta["operation"] == job and meta["model"] == "veo-3.1-generate-preview"
    assert meta["remote_uri"].endswith(":download?alt=media") and meta["backend"] == "gemini"
    assert meta["bytes"] == dest.stat().st_size and meta["generated_at"] > 0
    assert KEY not in repr(meta)


@pytest.mark.parametrize("encoding", ["inlineData", "bytesBase64Encoded"])
def test_first_and_last_frame_in_both_encodings(
    fake: FakeGemini, make_veo: Callable[..., GeminiVeo], png: Callable[..., InputFile], encoding: str
) -> None:
    first, last = png("first", (1, 2, 3)), png("last", (4, 5, 6))
    veo = make_veo(route="veo-3.1-fast", image_encoding=encoding)
    veo.submit(request(first_frame=first, last_frame=last, duration=6.0, aspect="9:16"))
    instance = fake.requests[0].json()["instances"][0]
    data = base64.b64encode(first.path.read_bytes()).decode()
    if encoding == "inlineData":
        assert instance["image"] == {"inlineData": {"mimeType": "image/png", "data": data}}
        assert set(instance["lastFrame"]) == {"inlineData"}
    else:
        assert instance["image"] == {"bytesBase64Encoded": data, "mimeType": "image/png"}
        assert set(instance["lastFrame"]) == {"bytesBase64Encoded", "mimeType"}
    assert fake.requests[0].path.endswith("/veo-3.1-fast-generate-preview:predictLongRunning")
    assert fake.creates == 1


def test_three_reference_images_go_inside_the_instance_as_assets(
    fake: FakeGemini, make_veo: Callable[..., GeminiVeo], png: Callable[..., InputFile]
) -> None:
    refs = tuple(png(f"sheet{i}", (i * 40, 0, 0)) for i in range(3))
    make_veo().submit(request(references=refs, resolution="1080p"))
    body = fake.requests[0].json()
    assert [r["referenceType"] for r in body["instances"][0]["referenceImages"]] == ["ASSET"] * 3
    assert body["instances"][0]["referenceImages"][2]["image"]["bytesBase64Encoded"] == \
        base64.b64encode(refs[2].path.read_bytes()).decode()
    assert body["parameters"]["durationSeconds"] == 8 and body["parameters"]["resolution"] == "1080p"
    assert fake.creates == 1


def test_extension_points_at_the_remote_uri_and_returns_the_longer_clip(
    fake: FakeGemini, make_veo: Callable[..., GeminiVeo], tmp_path: Path
) -> None:
    veo = make_veo()
    job = veo.submit(request())
    meta = veo.download(job, tmp_path / "a.mp4", run_to_done(veo, job))
    source = InputFile(path=tmp_path / "a.mp4", digest="a", mime="video/mp4", meta={**meta, "duration": 8.0})

    ext_job = veo.submit(request(node_id="shot-2", prompt="The light turns on.", extends=source, duration=7.0))
    body = fake.route_requests("create")[-1].json()
    assert body["instances"][0] == {"prompt": "The light turns on.", "video": {"uri": meta["remote_uri"]}}
    assert "durationSeconds" not in body["parameters"]
    ext_meta = veo.download(ext_job, tmp_path / "b.mp4", run_to_done(veo, ext_job))
    assert (tmp_path / "b.mp4").read_bytes() == sample_mp4(15.0, "16:9")
    assert ext_meta["remote_uri"] != meta["remote_uri"]
    assert fake.creates == 2


def test_a_fresh_adapter_resumes_an_existing_operation_without_creating(
    fake: FakeGemini, client: httpx.Client, tmp_path: Path
) -> None:
    first = GeminiVeo(KEY, base_url=fake.url, client=client)
    job = first.submit(request())
    first.close()
    second = GeminiVeo(KEY, base_url=fake.url, client=client)
    with pytest.raises(RetryableError, match="not finished"):
        second.download(job, tmp_path / "clip.mp4", JobStatus(state="running"))
    assert run_to_done(second, job).state == "succeeded"
    journal_view = JobStatus(state="succeeded")  # rebuilt from a journal: no uri in meta
    meta = second.download(job, tmp_path / "clip.mp4", journal_view)
    assert meta["operation"] == job and (tmp_path / "clip.mp4").read_bytes() == sample_mp4(8.0, "16:9")
    assert sequence(fake) == ["create POST", "poll GET", "poll GET", "poll GET", "download GET", "bytes GET"]
    assert fake.creates == 1 and len(fake.route_requests("create")) == 1
    second.close()


def test_download_is_pointed_back_at_the_configured_host(
    fake: FakeGemini, make_veo: Callable[..., GeminiVeo], tmp_path: Path
) -> None:
    veo = make_veo()
    job = veo.submit(request())
    status = run_to_done(veo, job)
    foreign = status.meta["uri"].replace(fake.url, "https://generativelanguage.googleapis.com")
    veo.download(job, tmp_path / "clip.mp4", JobStatus(state="succeeded", meta={"uri": foreign}))
    assert (tmp_path / "clip.mp4").read_bytes() == sample_mp4(8.0, "16:9")


# -- limits refused before any request ------------------------------------------------------------

@pytest.mark.parametrize(
    ("route", "changes", "words"),
    [
        ("veo-3.1", {"duration": 5.0}, "use one of 4, 6, 8"),
        ("veo-3.1", {"resolution": "1080p", "duration": 6.0}, "1080p requires 8-second clips"),
        ("veo-3.1", {"resolution": "4k", "duration": 4.0}, "4k requires 8-second clips"),
        ("veo-3.1", {"aspect": "4:3"}, "use one of 16:9, 9:16"),
        ("veo-3.1", {"resolution": "480p"}, "use one of 720p, 1080p, 4k"),
        ("veo-3.1-lite", {"resolution": "4k"}, "use one of 720p, 1080p"),
        ("veo-3.1", {"kind": "sheet"}, "image route"),
        ("veo-3.1", {"prompt": ""}, "prompt is required"),
    ],
)
def test_limits_are_refused_before_any_request(
    fake: FakeGemini, make_veo: Callable[..., GeminiVeo], route: str, changes: dict[str, Any], words: str
) -> None:
    with pytest.raises(TerminalError) as info:
        make_veo(route=route).submit(request(**changes))
    assert words in str(info.value)
    assert info.value.node == "shot-1"
    assert fake.requests == []


def test_image_combinations_are_refused_before_any_request(
    fake: FakeGemini, make_veo: Callable[..., GeminiVeo], png: Callable[..., InputFile], tmp_path: Path
) -> None:
    veo, lite = make_veo(), make_veo(route="veo-3.1-lite")
    refs = tuple(png(f"r{i}") for i in range(4))
    gif = InputFile(path=tmp_path / "x.gif", digest="g", mime="image/gif")
    cases = [
        (veo, request(references=refs), "at most 3 reference images"),
        (veo, request(references=refs[:2], duration=6.0), "reference images requires 8-second clips"),
        (veo, request(references=refs[:1], first_frame=refs[1]), "cannot be combined"),
        (lite, request(references=refs[:1]), "does not support reference images; use veo-3.1 or veo-3.1-fast"),
        (veo, request(last_frame=refs[0]), "needs a first frame"),
        (veo, request(first_frame=gif), "Veo takes image/png, image/jpeg, image/webp"),
    ]
    for adapter, req, words in cases:
        with pytest.raises(TerminalError, match=words):
            adapter.submit(req)
    assert fake.requests == []


def test_extension_limits_are_refused_before_any_request(
    fake: FakeGemini, client: httpx.Client, tmp_path: Path
) -> None:
    now = 1_800_000_000.0
    veo = GeminiVeo(KEY, base_url=fake.url, client=client, clock=lambda: now)
    uri = f"{fake.url}/v1beta/files/abc:download?alt=media"

    def source(**meta: Any) -> InputFile:
        return InputFile(path=tmp_path / "src.mp4", digest="s", mime="video/mp4", meta=meta)

    cases = [
        (request(extends=source()), "only extends videos it generated itself in the last 2 days"),
        (request(extends=source(remote_uri="gs://bucket/x.mp4", generated_at=now)), "no Gemini API video URI"),
        (request(extends=source(remote_uri=uri, generated_at=now - 2.5 * DAY)), "generated 60 h ago"),
        (request(extends=source(remote_uri=uri, generated_at=now, resolution="1080p")), "only 720p videos"),
        (request(extends=source(remote_uri=uri, generated_at=now), resolution="1080p"), "extension is 720p only"),
        (request(extends=source(remote_uri=uri, generated_at=now, duration=142.0)), "up to 141 s"),
        (request(extends=source(remote_uri=uri, generated_at=now), prompt=""), "needs a prompt"),
    ]
    for req, words in cases:
        with pytest.raises(TerminalError, match=words):
            veo.submit(req)
    lite = GeminiVeo(KEY, route="veo-3.1-lite", base_url=fake.url, client=client, clock=lambda: now)
    with pytest.raises(TerminalError, match="does not support extension"):
        lite.submit(request(extends=source(remote_uri=uri, generated_at=now)))
    assert fake.requests == []


# -- fault mapping -------------------------------------------------------------------------------

def test_create_faults_map_to_retryable_and_create_nothing(
    fake: FakeGemini, make_veo: Callable[..., GeminiVeo]
) -> None:
    veo = make_veo()
    fake.faults += [rate_limited("create", retry_after=3), server_error("create", 500),
                    server_error("create", 503), overloaded("create")]
    errors = []
    for _ in range(4):
        with pytest.raises(RetryableError) as info:
            veo.submit(request())
        errors.append(info.value)
    assert errors[0].retry_after == 3.0 and "RESOURCE_EXHAUSTED" in str(errors[0])
    assert "HTTP 500" in str(errors[1]) and "HTTP 503" in str(errors[2])
    assert "The model is overloaded" in str(errors[3])
    assert fake.creates == 0
    veo.submit(request())
    assert fake.creates == 1 and len(fake.route_requests("create")) == 5


def test_invalid_argument_is_terminal_with_the_servers_words(
    fake: FakeGemini, make_veo: Callable[..., GeminiVeo]
) -> None:
    fake.faults.append(http_error("create", 400, "INVALID_ARGUMENT", "allow_adult for personGeneration is "
                                  "currently not supported."))
    with pytest.raises(TerminalError, match="INVALID_ARGUMENT: allow_adult for personGeneration"):
        make_veo().submit(request())
    fake.faults.append(http_error("create", 403, "PERMISSION_DENIED", "Veo is not enabled for this project."))
    with pytest.raises(TerminalError, match="PERMISSION_DENIED: Veo is not enabled.*GEMINI_API_KEY"):
        make_veo().submit(request())


def test_poll_faults_are_retryable_and_the_job_carries_on(
    fake: FakeGemini, make_veo: Callable[..., GeminiVeo]
) -> None:
    veo = make_veo()
    job = veo.submit(request())
    fake.faults += [rate_limited("poll", retry_after=1.5), overloaded("poll")]
    with pytest.raises(RetryableError) as info:
        veo.poll(job)
    assert info.value.retry_after == 1.5
    with pytest.raises(RetryableError, match="overloaded"):
        veo.poll(job)
    assert run_to_done(veo, job).state == "succeeded"


def test_rai_filtered_job_fails_terminally_with_the_reasons(
    fake: FakeGemini, make_veo: Callable[..., GeminiVeo]
) -> None:
    fake.faults.append(rai_filtered(["The input image resembles a public figure.", "58061214"]))
    veo = make_veo()
    status = run_to_done(veo, veo.submit(request()))
    assert status.state == "failed" and isinstance(status.error, TerminalError)
    assert "resembles a public figure" in str(status.error) and "58061214" in str(status.error)


@pytest.mark.parametrize(("code", "kind"), [(13, RetryableError), (14, RetryableError), (8, RetryableError),
                                            (3, TerminalError), (2, TerminalError)])
def test_operation_errors_map_by_rpc_code(
    fake: FakeGemini, make_veo: Callable[..., GeminiVeo], code: int, kind: type[ProviderError]
) -> None:
    fake.faults.append(operation_failed(code, "Video generation failed."))
    veo = make_veo()
    status = run_to_done(veo, veo.submit(request()))
    assert status.state == "failed" and type(status.error) is kind
    assert f"(code {code}): Video generation failed." in str(status.error)


def test_overloaded_operation_error_is_retryable_whatever_its_code(
    fake: FakeGemini, make_veo: Callable[..., GeminiVeo]
) -> None:
    fake.faults.append(operation_failed(2, "The model is overloaded. Please try again later."))
    veo = make_veo()
    assert isinstance(run_to_done(veo, veo.submit(request())).error, RetryableError)


def test_a_stalled_job_keeps_running_until_released(fake: FakeGemini, make_veo: Callable[..., GeminiVeo]) -> None:
    fake.faults.append(stall())
    veo = make_veo()
    job = veo.submit(request())
    assert [veo.poll(job).state for _ in range(5)] == ["running"] * 5
    fake.finish_all()
    assert veo.poll(job).state == "succeeded"


def test_running_answers_omit_done_then_say_false(fake: FakeGemini, client: httpx.Client) -> None:
    with FakeGemini(api_key=KEY, polls_until_done=3) as slow:
        veo = GeminiVeo(KEY, base_url=slow.url, client=client)
        job = veo.submit(request())
        url = f"{slow.url}/v1beta/{job}"
        bodies = [client.get(url, headers={"x-goog-api-key": KEY}).json() for _ in range(2)]
        assert "done" not in bodies[0] and bodies[1]["done"] is False
        assert veo.poll(job).state == "running" and veo.poll(job).state == "succeeded"


def test_malformed_and_unknown_operations_are_terminal_and_say_which(
    fake: FakeGemini, make_veo: Callable[..., GeminiVeo], tmp_path: Path
) -> None:
    veo = make_veo()
    vertex_name = "projects/p/locations/l/publishers/google/models/veo-3.1-generate-001/operations/x"
    with pytest.raises(TerminalError, match="not a Gemini operation name.*expected models/<model>/operations/<id>"):
        veo.poll(vertex_name)
    with pytest.raises(TerminalError, match="not a Gemini operation name"):
        veo.download(vertex_name, tmp_path / "clip.mp4", JobStatus(state="succeeded"))
    with pytest.raises(TerminalError, match="not a Gemini operation name"):  # `$` alone would accept it
        veo.poll("models/veo-3.1-generate-preview/operations/abc\n")
    assert fake.requests == []
    with pytest.raises(TerminalError, match="HTTP 404.*not found.*the operation is unknown or expired"):
        veo.poll("models/veo-3.1-generate-preview/operations/never-created")


@pytest.mark.parametrize("fault", [reset_download(after=2048), truncated_download(missing=5000)])
def test_broken_downloads_are_retryable_and_leave_no_file(
    fake: FakeGemini, make_veo: Callable[..., GeminiVeo], tmp_path: Path, fault: Any
) -> None:
    veo = make_veo()
    job = veo.submit(request())
    status = run_to_done(veo, job)
    fake.faults.append(fault)
    dest = tmp_path / "clip.mp4"
    with pytest.raises(RetryableError):
        veo.download(job, dest, status)
    assert list(tmp_path.iterdir()) == []
    veo.download(job, dest, status)
    assert dest.read_bytes() == sample_mp4(8.0, "16:9")


def test_expired_video_is_terminal_and_says_why(
    fake: FakeGemini, make_veo: Callable[..., GeminiVeo], tmp_path: Path
) -> None:
    veo = make_veo()
    job = veo.submit(request())
    status = run_to_done(veo, job)
    fake.expire_files()
    with pytest.raises(TerminalError, match="HTTP 404.*deletes generated videos 2 days after generation"):
        veo.download(job, tmp_path / "clip.mp4", status)
    assert list(tmp_path.iterdir()) == []


def test_file_ttl_expires_videos_after_n_seconds(fake: FakeGemini, make_veo: Callable[..., GeminiVeo],
                                                  tmp_path: Path) -> None:
    fake.file_ttl = 60.0
    veo = make_veo()
    job = veo.submit(request())
    status = run_to_done(veo, job)
    base = fake.clock()
    fake.clock = lambda: base + 61.0
    with pytest.raises(TerminalError, match="404"):
        veo.download(job, tmp_path / "clip.mp4", status)


def test_network_failure_retries_only_when_the_create_cannot_have_landed(
    fake: FakeGemini, client: httpx.Client
) -> None:
    with FakeGemini(api_key=KEY) as gone:
        url = gone.url
    with pytest.raises(RetryableError) as refused:
        GeminiVeo(KEY, base_url=url, client=client).submit(request())
    assert vars(refused.value)["uncertain"] is False  # connection refused: nothing was sent

    fake.faults.append(lost_response())
    veo = GeminiVeo(KEY, base_url=fake.url, client=client)
    with pytest.raises(TerminalError, match="may have reached Google.*--resubmit-uncertain") as lost:
        veo.submit(request())
    assert vars(lost.value)["uncertain"] is True
    assert fake.creates == 1  # the job exists and bills: a retry would have paid twice

    fake.faults.append(gateway_timeout())  # a gateway's 504: the same doubt, the same answer
    with pytest.raises(TerminalError, match="HTTP 504.*--resubmit-uncertain") as timed_out:
        veo.submit(request())
    assert vars(timed_out.value)["uncertain"] is True and fake.creates == 2


# -- secrets ---------------------------------------------------------------------------------------

def test_the_key_never_appears_in_errors_urls_or_meta(
    fake: FakeGemini, client: httpx.Client, tmp_path: Path
) -> None:
    wrong = "AIzaSy-wrong-key-should-not-leak-42"
    bad = GeminiVeo(wrong, base_url=fake.url, client=client)
    with pytest.raises(TerminalError) as info:
        bad.submit(request())
    assert "API key not valid" in str(info.value) and "GEMINI_API_KEY" in str(info.value)
    texts = [str(info.value)]
    veo = GeminiVeo(KEY, base_url=fake.url, client=client)
    fake.faults += [rate_limited("create"), rai_filtered()]
    with pytest.raises(RetryableError) as again:
        veo.submit(request())
    texts.append(str(again.value))
    status = run_to_done(veo, veo.submit(request()))
    texts.append(str(status.error))
    job = veo.submit(request())
    texts.append(repr(veo.download(job, tmp_path / "c.mp4", run_to_done(veo, job))))
    for text in texts:
        assert KEY not in text and wrong not in text
    assert all("key" not in r.query for r in fake.requests)


# -- configuration ---------------------------------------------------------------------------------

def test_from_env_reads_keys_base_url_and_backend(fake: FakeGemini, client: httpx.Client) -> None:
    veo = from_env("veo-3.1-fast", {"GOOGLE_API_KEY": KEY, "GOOGLE_GEMINI_BASE_URL": fake.url}, client)
    assert isinstance(veo, GeminiVeo) and veo.name == "veo-3.1-fast"
    veo.submit(request())
    assert fake.requests[0].path == "/v1beta/models/veo-3.1-fast-generate-preview:predictLongRunning"
    vertex = from_env("veo-3.1", {"SHOTMAKE_VEO_BACKEND": "vertex", "GOOGLE_CLOUD_PROJECT": "p",
                                  "GOOGLE_OAUTH_ACCESS_TOKEN": "t"}, client)
    assert isinstance(vertex, VertexVeo)
    with pytest.raises(TerminalError, match="GEMINI_API_KEY"):
        from_env("veo-3.1", {}, client)
    with pytest.raises(TerminalError, match="use gemini or vertex"):
        from_env("veo-3.1", {"GEMINI_API_KEY": KEY}, client, backend="azure")


def test_estimate_cost_uses_catalog_prices_and_the_extension_step(client: httpx.Client, tmp_path: Path) -> None:
    veo = GeminiVeo(KEY, client=client)
    fast = GeminiVeo(KEY, route="veo-3.1-fast", client=client, prices={"1080p": 0.2})
    assert veo.estimate_cost(request()) == pytest.approx(3.20)
    assert veo.estimate_cost(request(resolution="4k")) == pytest.approx(4.80)
    src = InputFile(path=tmp_path / "a.mp4", digest="a", mime="video/mp4")
    assert veo.estimate_cost(request(extends=src, duration=15.0)) == pytest.approx(2.80)
    assert fast.estimate_cost(request(resolution="1080p")) == pytest.approx(1.60)
    assert fast.estimate_cost(request(duration=4.0)) == pytest.approx(0.40)


# -- the fake itself is strict where the real API is ----------------------------------------------

def test_fake_accepts_both_encodings_and_rejects_what_the_api_rejects(fake: FakeGemini, client: httpx.Client) -> None:
    url = f"{fake.url}/v1beta/models/veo-3.1-generate-preview:predictLongRunning"
    data = base64.b64encode(sample_png(8, 8)).decode()

    def post(instance: dict[str, Any], parameters: dict[str, Any] | None = None, **kw: Any) -> httpx.Response:
        headers = kw.pop("headers", {"x-goog-api-key": KEY})
        return client.post(url, json={"instances": [instance], "parameters": parameters or {}},
                           headers=headers, **kw)

    ok = [
        post({"prompt": "x"}, {"durationSeconds": "8", "resolution": "4k"}),
        post({"prompt": "x", "image": {"bytesBase64Encoded": data, "mimeType": "image/png"}},
             {"numberOfVideos": 1, "personGeneration": "allow_adult"}),
        post({"image": {"inlineData": {"mimeType": "image/png", "data": data}}}),
        post({"prompt": "x"}, headers={}, params={"key": KEY}),
    ]
    assert [r.status_code for r in ok] == [200] * 4
    bad = [
        (post({"prompt": "x"}, {"durationSeconds": 5}), "durationSeconds"),
        (post({"prompt": "x"}, {"resolution": "1080p", "durationSeconds": 6}), "must be 8 when using 1080p"),
        (post({"prompt": "x", "image": {"gcsUri": "gs://b/o.png", "mimeType": "image/png"}}), "gcsUri"),
        (post({"prompt": "x", "referenceImages": [{"image": {"inlineData": {"mimeType": "image/png", "data": data}},
                                                    "referenceType": "asset"}] * 4}), "At most 3"),
        (post({"prompt": "x", "referenceImages": [{"image": {"inlineData": {"mimeType": "image/png", "data": data}},
                                                    "referenceType": "style"}]}), "referenceType"),
        (post({"prompt": "x", "lastFrame": {"inlineData": {"mimeType": "image/png", "data": data}}}),
         "lastFrame requires image"),
        (post({"prompt": "x", "video": {"uri": f"{fake.url}/v1beta/files/nope:download?alt=media"}}),
         "generated by Veo"),
        (post({"prompt": "x"}, {"generateAudio": True}), "Unknown name \"generateAudio\""),
        (post({"prompt": "x"}, {"personGeneration": "allow_adult"}), "personGeneration"),
        (post({"prompt": "x", "image": {"inlineData": {"mimeType": "image/jpeg", "data": data}}}), "not a valid"),
    ]
    for response, words in bad:
        assert response.status_code == 400, words
        assert response.json()["error"]["status"] == "INVALID_ARGUMENT" and words in response.json()["error"]["message"]
    assert post({"prompt": "x"}, headers={}).status_code == 403
    assert fake.creates == 4


def test_seeded_chaos_never_creates_twice_when_the_client_retries(client: httpx.Client, tmp_path: Path) -> None:
    with FakeGemini(api_key=KEY, chaos=random.Random(7), chaos_rate=0.5) as noisy:
        veo = GeminiVeo(KEY, base_url=noisy.url, client=client)
        retries = 0

        def retry(call: Callable[[], Any]) -> Any:
            nonlocal retries
            for _ in range(30):
                try:
                    return call()
                except RetryableError:
                    retries += 1
            raise AssertionError("never recovered")

        def render(shot: int) -> Path:
            job = retry(lambda: veo.submit(request(node_id=f"s{shot}")))
            status = retry(lambda: veo.poll(job))
            while status.state == "running":
                status = retry(lambda: veo.poll(job))
            dest = tmp_path / f"s{shot}.mp4"
            retry(lambda: veo.download(job, dest, status))
            return dest

        for shot in range(5):
            assert render(shot).read_bytes() == sample_mp4(8.0, "16:9")
        assert noisy.creates == 5 and retries > 5


def test_a_gateway_naming_operations_without_the_model_is_polled_and_downloaded(
    client: httpx.Client, tmp_path: Path
) -> None:
    with FakeGemini(api_key=KEY, polls_until_done=1, gateway_names=True) as gateway:
        veo = GeminiVeo(KEY, base_url=gateway.url, client=client, poll_interval=0.0)
        job = veo.submit(request())
        assert job.startswith("operations/")
        status = veo.poll(job)
        while status.state != "succeeded":
            status = veo.poll(job)
        meta = veo.download(job, tmp_path / "clip.mp4", status)
        assert meta["model"] == "veo-3.1-generate-preview" and (tmp_path / "clip.mp4").stat().st_size > 0
        assert [r.path for r in gateway.requests if r.method == "GET"][0] == f"/v1beta/{job}"
