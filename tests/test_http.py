"""The shared HTTP layer, driven through every adapter and the loopback fakes.

Where credentials go (only the configured API origin: another port is another origin, a
redirect or a result URI elsewhere gets the request without the key, https never hops to
http, a plain-http base URL is refused unless it is loopback), what a server may send (a size
cap, an overall deadline, identity encoding asked for and compressed bodies decoded and
measured) and which server hints are obeyed (clamped).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from shotmake.errors import POLL_HINT_MAX, RETRY_HINT_MAX, RetryableError, TerminalError, TransferAborted
from shotmake.providers.base import JobStatus, Provider, RenderRequest
from shotmake.providers.catalog import ROUTES
from shotmake.providers.gemini_image import GeminiImage
from shotmake.providers.gemini_veo import GeminiVeo
from shotmake.providers.http import BodyLimits, check_base_url, parse_retry_after
from shotmake.providers.openai_images import OpenAIImages
from shotmake.providers.openai_videos import OpenAIVideos
from shotmake.providers.openai_videos import from_env as sora_from_env
from shotmake.providers.registry import EnvironmentRegistry
from shotmake.providers.vertex_veo import VertexVeo
from tests.fakes.google_server import FakeGemini, hostile, rate_limited, sample_mp4
from tests.fakes.openai_server import FakeOpenAI, Fault, fake_mp4
from tests.fakes.server import FakeServer, OtherOrigin, Request, Response, hostile_body, tls_client_context
from tests.fakes.vertex_server import FakeVertex
from tests.veo_helpers import request, run_to_done

GEMINI_KEY = "AIza-http-test-key-never-travels-0001"
OPENAI_KEY = "sk-http-test-key-never-travels-0002"
VERTEX_TOKEN = "ya29.http-test-token-never-travels-0003"
#: Small enough that the test MP4s pass and a hostile body is cut at once.
LIMITS = BodyLimits(max_bytes=1 << 20, deadline=30.0)
#: A started API fake, an adapter pointed at it, its secret, and calls that each make one request.
Setup = tuple[FakeServer, Provider, str, list[Callable[[Provider], object]]]


@pytest.fixture
def other() -> Iterator[OtherOrigin]:
    with OtherOrigin() as server:
        yield server


def sora_clip() -> RenderRequest:
    return RenderRequest(node_id="shot-1", key="k", kind="clip", model="sora-2", prompt="a fox in snow",
                         duration=4.0, width=1280, height=720)


def sheet(model: str, aspect: str) -> RenderRequest:
    return RenderRequest(node_id="sheet-1", key="k", kind="sheet", model=model, prompt="turnaround of Mira",
                         width=1024, height=1024, aspect=aspect, resolution="1K")


# -- credentials go to the configured origin only ------------------------------------------------
def test_a_gemini_download_redirected_to_another_origin_arrives_without_the_key(
    other: OtherOrigin, client: httpx.Client, tmp_path: Path
) -> None:
    with FakeGemini(api_key=GEMINI_KEY, polls_until_done=0) as fake:
        fake.redirect_host = other  # another port on 127.0.0.1: another origin
        veo = GeminiVeo(GEMINI_KEY, base_url=fake.url, client=client)
        job = veo.submit(request(duration=4.0))
        status = run_to_done(veo, job)
        veo.download(job, tmp_path / "clip.mp4", status)
    assert (tmp_path / "clip.mp4").read_bytes() == sample_mp4(4.0, "16:9")
    assert [r.path for r in other.requests] == [other.requests[0].path] and not other.saw(GEMINI_KEY)
    assert all(r.headers.get("x-goog-api-key") == GEMINI_KEY for r in fake.requests)


def test_a_veo_result_uri_on_another_host_is_fetched_without_the_key(
    other: OtherOrigin, client: httpx.Client, tmp_path: Path
) -> None:
    with FakeGemini(api_key=GEMINI_KEY, polls_until_done=0) as fake:
        fake.result_host = other
        veo = GeminiVeo(GEMINI_KEY, base_url=fake.url, client=client)
        job = veo.submit(request(duration=4.0))
        meta = veo.download(job, tmp_path / "clip.mp4", run_to_done(veo, job))
    assert meta["remote_uri"].startswith(other.url)
    assert len(other.requests) == 1 and not other.saw(GEMINI_KEY)


def _gemini_veo(other: OtherOrigin, client: httpx.Client) -> Setup:
    fake = FakeGemini(api_key=GEMINI_KEY).start()
    veo = GeminiVeo(GEMINI_KEY, base_url=fake.url, client=client)
    return fake, veo, GEMINI_KEY, [lambda p: p.submit(request()),
                                   lambda p: p.poll("models/veo-3.1-generate-preview/operations/x1")]


def _vertex_veo(other: OtherOrigin, client: httpx.Client) -> Setup:
    fake = FakeVertex(token=VERTEX_TOKEN).start()
    veo = VertexVeo("fake-project", token=VERTEX_TOKEN, base_url=fake.url, storage_url=fake.storage_url,
                    client=client)
    name = "projects/fake-project/locations/us-central1/publishers/google/models/veo-3.1-generate-001/operations/x"
    done = JobStatus("succeeded", meta={"uri": "gs://bucket/out/x.mp4"})
    return fake, veo, VERTEX_TOKEN, [lambda p: p.submit(request()),
                                     lambda p: p.download(name, Path("/nonexistent/x.mp4"), done)]


def _gemini_image(other: OtherOrigin, client: httpx.Client) -> Setup:
    fake = FakeGemini(api_key=GEMINI_KEY).start()
    image = GeminiImage(GEMINI_KEY, base_url=fake.url, client=client)
    return fake, image, GEMINI_KEY, [lambda p: p.render(sheet("gemini-3-pro-image", "1:1"), Path("/nonexistent"))]


def _openai_videos(other: OtherOrigin, client: httpx.Client) -> Setup:
    fake = FakeOpenAI(api_key=OPENAI_KEY).start()
    sora = OpenAIVideos("sora-2", api_key=OPENAI_KEY, base_url=fake.base_url, client=client)
    return fake, sora, OPENAI_KEY, [lambda p: p.submit(sora_clip()), lambda p: p.poll("video_x1")]


def _openai_images(other: OtherOrigin, client: httpx.Client) -> Setup:
    fake = FakeOpenAI(api_key=OPENAI_KEY).start()
    images = OpenAIImages("gpt-image-1", api_key=OPENAI_KEY, base_url=fake.base_url, client=client)
    return fake, images, OPENAI_KEY, [lambda p: p.render(sheet("gpt-image-1", "1:1"), Path("/nonexistent"))]


@pytest.mark.parametrize("make", [_gemini_veo, _vertex_veo, _gemini_image, _openai_videos, _openai_images],
                         ids=["gemini_veo", "vertex_veo", "gemini_image", "openai_videos", "openai_images"])
def test_every_adapter_keeps_its_credential_off_a_redirect_to_another_origin(
    make: Callable[[OtherOrigin, httpx.Client], Setup],
    other: OtherOrigin, client: httpx.Client,
) -> None:
    fake, adapter, secret, calls = make(other, client)
    try:
        # The API moves everything elsewhere: POSTs with 307 (which would replay the body), GETs with 302.
        fake.before_handle = lambda r: Response(status=307 if r.method == "POST" else 302,
                                                headers={"location": other.url + r.path})
        for call in calls:
            with pytest.raises(TerminalError) as refused:
                call(adapter)
            assert secret not in str(refused.value)
    finally:
        adapter.close()
        fake.stop()
    assert all(r.method == "GET" for r in other.requests)  # a POST is never replayed elsewhere
    assert not other.saw(secret)
    assert all(secret in str(r.headers) for r in fake.requests)  # the API itself did get it


def test_https_never_hops_to_plain_http(other: OtherOrigin, tmp_path: Path) -> None:
    fake = FakeGemini(api_key=GEMINI_KEY, polls_until_done=0)
    fake.tls = True
    with fake, httpx.Client(verify=tls_client_context(), timeout=10.0) as client:
        fake.redirect_host = other  # plain http
        veo = GeminiVeo(GEMINI_KEY, base_url=fake.url, client=client)
        assert veo.base_url.startswith("https://")
        job = veo.submit(request(duration=4.0))
        with pytest.raises(TerminalError, match="refused a redirect from https to http://"):
            veo.download(job, tmp_path / "clip.mp4", run_to_done(veo, job))
    assert other.requests == [] and not (tmp_path / "clip.mp4").exists()


def test_a_plain_http_base_url_is_refused_unless_loopback() -> None:
    for url in ("http://127.0.0.1:8080/v1", "http://localhost/v1", "http://[::1]:9/v1", "https://gw.example/v1"):
        assert check_base_url(url) == url
    with pytest.raises(TerminalError, match="plain http.*cleartext"):
        GeminiVeo(GEMINI_KEY, base_url="http://generativelanguage.example.com")
    with pytest.raises(TerminalError, match="OPENAI_BASE_URL=.*plain http") as info:
        sora_from_env("sora-2", {"OPENAI_API_KEY": OPENAI_KEY,
                                 "OPENAI_BASE_URL": "http://user:gw-password-77@gw.example/v1"})
    assert "gw-password-77" not in str(info.value)
    with pytest.raises(TerminalError, match="must be an https:// URL"):
        GeminiImage(GEMINI_KEY, base_url="ftp://files.example")


# -- what a server may send ----------------------------------------------------------------------
@pytest.fixture
def sora_fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=OPENAI_KEY, polls_to_complete=1, queued_polls=0) as fake:
        yield fake


def _finished_sora(fake: FakeOpenAI, client: httpx.Client, limits: BodyLimits) -> tuple[OpenAIVideos, str, JobStatus]:
    sora = OpenAIVideos("sora-2", api_key=OPENAI_KEY, base_url=fake.base_url, client=client, limits=limits)
    job = sora.submit(sora_clip())
    status = sora.poll(job)
    assert status.state == "succeeded"
    return sora, job, status


@pytest.mark.parametrize("kind", ["endless", "gzip_bomb"])
def test_a_body_past_the_cap_is_cut_with_an_error_naming_the_cap(
    sora_fake: FakeOpenAI, client: httpx.Client, tmp_path: Path, kind: str
) -> None:
    sora, job, status = _finished_sora(sora_fake, client, LIMITS)
    sora_fake.inject(Fault("content", kind))
    with pytest.raises(TransferAborted, match=r"download passed the cap of 1\.0 MiB for this route.*max_download_mb"):
        sora.download(job, tmp_path / "clip.mp4", status)
    assert list(tmp_path.iterdir()) == []  # neither the file nor a .part is left


def test_a_body_announced_past_the_cap_is_refused_before_reading(
    sora_fake: FakeOpenAI, client: httpx.Client, tmp_path: Path
) -> None:
    sora, job, status = _finished_sora(sora_fake, client, LIMITS)
    sora_fake.inject(Fault("content", "truncate", missing=2 << 20))  # Content-Length: the clip + 2 MiB
    with pytest.raises(TransferAborted, match=r"download is 2\.\d MiB, over the cap of 1\.0 MiB"):
        sora.download(job, tmp_path / "clip.mp4", status)
    assert list(tmp_path.iterdir()) == []


def test_a_dripping_server_is_cut_at_the_overall_deadline(
    sora_fake: FakeOpenAI, client: httpx.Client, tmp_path: Path
) -> None:
    sora, job, status = _finished_sora(sora_fake, client, BodyLimits(max_bytes=1 << 20, deadline=0.3))
    sora_fake.inject(Fault("content", "drip"))  # a byte every 20 ms: no read ever times out
    with pytest.raises(TransferAborted, match="deadline of 0.3s"):
        sora.download(job, tmp_path / "clip.mp4", status)
    assert list(tmp_path.iterdir()) == []


def test_a_gzip_encoded_mp4_is_decoded_and_measured_after_decoding(
    sora_fake: FakeOpenAI, client: httpx.Client, tmp_path: Path
) -> None:
    sora, job, status = _finished_sora(sora_fake, client, LIMITS)
    sora_fake.inject(Fault("content", "gzip"))
    meta = sora.download(job, tmp_path / "clip.mp4", status)
    assert (tmp_path / "clip.mp4").read_bytes() == fake_mp4(4, "1280x720") and meta["bytes"] > 0
    content = [r for r in sora_fake.requests if r.path.endswith("/content")]
    assert content[-1].headers["accept-encoding"] == "identity"


@pytest.mark.parametrize("kind", ["endless", "gzip_bomb", "gzip"])
def test_veo_downloads_obey_the_same_limits(kind: str, client: httpx.Client, tmp_path: Path) -> None:
    with FakeGemini(api_key=GEMINI_KEY, polls_until_done=0) as fake:
        veo = GeminiVeo(GEMINI_KEY, base_url=fake.url, client=client, limits=LIMITS)
        job = veo.submit(request(duration=4.0))
        status = run_to_done(veo, job)
        fake.faults.append(hostile(kind))
        if kind == "gzip":
            veo.download(job, tmp_path / "clip.mp4", status)
            assert (tmp_path / "clip.mp4").read_bytes() == sample_mp4(4.0, "16:9")
        else:
            with pytest.raises(TransferAborted, match="passed the cap"):
                veo.download(job, tmp_path / "clip.mp4", status)
            assert list(tmp_path.iterdir()) == []


def test_an_endless_api_answer_is_cut_too(client: httpx.Client, tmp_path: Path) -> None:
    with FakeOpenAI(api_key=OPENAI_KEY) as fake:
        fake.before_handle = lambda r: hostile_body("endless", b"", {"content-type": "application/json"})
        images = OpenAIImages("gpt-image-1", api_key=OPENAI_KEY, base_url=fake.base_url, client=client,
                              limits=BodyLimits(max_bytes=1 << 20))
        with pytest.raises(TransferAborted, match="answer passed the cap of 2.3 MiB"):
            images.render(sheet("gpt-image-1", "1:1"), tmp_path / "sheet.png")
    assert list(tmp_path.iterdir()) == []


def test_the_default_cap_comes_from_the_route(client: httpx.Client) -> None:
    sora = OpenAIVideos("sora-2", api_key=OPENAI_KEY, base_url="http://127.0.0.1:9/v1", client=client)
    assert sora._session.limits.max_bytes == int(sora.route.max_download_mb * (1 << 20))


# -- server hints are clamped ----------------------------------------------------------------------
@pytest.mark.parametrize("hint, expected", [("86400000", POLL_HINT_MAX), ("inf", POLL_HINT_MAX), ("1e400", POLL_HINT_MAX),
                                            ("nan", None), ("-5000", 0.0), ("2500", 2.5)])
def test_a_poll_hint_is_clamped(hint: str, expected: float | None, client: httpx.Client) -> None:
    with FakeOpenAI(api_key=OPENAI_KEY, polls_to_complete=5, poll_after_ms=hint) as fake:
        sora = OpenAIVideos("sora-2", api_key=OPENAI_KEY, base_url=fake.base_url, client=client)
        status = sora.poll(sora.submit(sora_clip()))
    assert status.state in ("queued", "running") and status.poll_after == expected


@pytest.mark.parametrize("value", ["86400", "inf", "nan", "-3", "Wed, 21 Oct 2999 07:28:00 GMT"])
def test_a_retry_hint_is_clamped(value: str, client: httpx.Client) -> None:
    with FakeOpenAI(api_key=OPENAI_KEY) as fake:
        fake.inject(Fault("retrieve", "status", status=429, code="rate_limit_exceeded", headers={"retry-after": value}))
        sora = OpenAIVideos("sora-2", api_key=OPENAI_KEY, base_url=fake.base_url, client=client)
        with pytest.raises(RetryableError) as info:
            sora.poll("video_1")
    hint = info.value.retry_after
    assert hint is not None and 0.0 <= hint <= RETRY_HINT_MAX and not math.isnan(hint)


def test_google_retry_hints_are_clamped_too(client: httpx.Client) -> None:
    with FakeGemini(api_key=GEMINI_KEY) as fake:
        fake.faults.append(rate_limited("create", retry_after=float("inf")))
        veo = GeminiVeo(GEMINI_KEY, base_url=fake.url, client=client)
        with pytest.raises(RetryableError) as info:
            veo.submit(request())
    assert info.value.retry_after == RETRY_HINT_MAX


def test_every_carrier_of_a_hint_clamps_it() -> None:
    assert JobStatus("running", poll_after=float("inf")).poll_after == POLL_HINT_MAX
    assert JobStatus("running", poll_after=None).poll_after is None
    assert RetryableError("x", retry_after=float("nan")).retry_after == 0.0
    assert parse_retry_after({"retry-after-ms": "1e999"}) == RETRY_HINT_MAX


def test_fake_requests_are_recorded(other: OtherOrigin) -> None:
    """The other origin records and serves files: the assertions above rely on it."""
    other.files["/x"] = b"abc"
    with httpx.Client() as plain:
        assert plain.get(other.url + "/x").content == b"abc"
    assert isinstance(other.requests[0], Request) and other.saw("/x")


def test_the_registry_gives_every_adapter_its_route_cap_and_the_configured_deadline() -> None:
    env = {"OPENAI_API_KEY": OPENAI_KEY, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "GEMINI_API_KEY": GEMINI_KEY,
           "GOOGLE_GEMINI_BASE_URL": "http://127.0.0.1:9"}
    registry = EnvironmentRegistry(env, download_seconds=42.0)
    try:
        for name in ("sora-2", "gpt-image-1", "veo-3.1", "gemini-3-pro-image"):
            session = registry.get(name)._session  # type: ignore[attr-defined]
            assert session.limits == BodyLimits.for_route(ROUTES[name].max_download_mb, 42.0), name
    finally:
        registry.close()
