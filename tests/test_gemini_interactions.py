"""GeminiInteractions (Gemini Omni Flash) against the loopback Interactions API fake."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shotmake.errors import ProviderUnavailable, RetryableError, RouteGone, TerminalError, TransferAborted
from shotmake.providers.base import InputFile, JobStatus, RenderRequest
from shotmake.providers.catalog import ROUTES
from shotmake.providers.gemini_interactions import GeminiInteractions, from_env
from shotmake.providers.http import BodyLimits
from shotmake.providers.registry import EnvironmentRegistry
from tests.fakes.gemini_interactions_server import FakeInteractions, plain_prompt
from tests.fakes.google_server import (
    gateway_timeout,
    hostile,
    http_error,
    lost_response,
    operation_failed,
    rai_filtered,
    rate_limited,
    reset_download,
    sample_mp4,
    sample_png,
    server_error,
    stall,
    truncated_download,
)
from tests.fakes.server import OtherOrigin, Request, Response, hostile_body

KEY = "AIza-omni-test-key-never-leak-4411"


def request(**kwargs: Any) -> RenderRequest:
    base: dict[str, Any] = {"node_id": "clip:a", "key": "k1", "kind": "clip", "model": "",
                            "prompt": "Mei climbs the lighthouse stairs.", "duration": 6.0}
    base.update(kwargs)
    return RenderRequest(**base)


def run_to_done(omni: GeminiInteractions, job: str, limit: int = 10) -> JobStatus:
    for _ in range(limit):
        status = omni.poll(job)
        if status.state not in ("running", "queued"):
            return status
    raise AssertionError("interaction never finished")


@pytest.fixture
def fake() -> Iterator[FakeInteractions]:
    with FakeInteractions(api_key=KEY, polls_until_done=1) as server:
        yield server


@pytest.fixture
def make(fake: FakeInteractions, client: httpx.Client) -> Iterator[Callable[..., GeminiInteractions]]:
    made: list[GeminiInteractions] = []

    def build(**kwargs: Any) -> GeminiInteractions:
        kwargs.setdefault("base_url", fake.url)
        omni = GeminiInteractions(KEY, client=client, **kwargs)
        made.append(omni)
        return omni

    yield build
    for omni in made:
        omni.close()


@pytest.fixture
def png(tmp_path: Path) -> Callable[[str], InputFile]:
    def make_png(name: str, rgb: tuple[int, int, int] = (10, 20, 30)) -> InputFile:
        path = tmp_path / f"{name}.png"
        path.write_bytes(sample_png(8, 8, rgb))
        return InputFile(path=path, digest=name, mime="image/png")

    return make_png


def creates(fake: FakeInteractions) -> list[Request]:
    return [r for r in fake.requests if r.method == "POST" and r.path.endswith("/interactions")]


def test_text_only_creates_once_polls_and_downloads_a_real_mp4(
    fake: FakeInteractions, make: Callable[..., GeminiInteractions], tmp_path: Path
) -> None:
    omni = make()
    job = omni.submit(request(seed=7))
    status = run_to_done(omni, job)
    assert status.state == "succeeded"
    meta = omni.download(job, tmp_path / "out.mp4", status)
    assert (tmp_path / "out.mp4").read_bytes() == sample_mp4(6.0, "16:9")
    assert meta["interaction"] == job and meta["remote_uri"].endswith(":download?alt=media")
    [create] = creates(fake)
    assert create.path == "/v1beta/interactions" and create.headers["x-goog-api-key"] == KEY
    assert create.json() == {
        "model": "gemini-omni-1.2-flash",
        "input": [{"type": "user_input", "content": [{"type": "text", "text": "Mei climbs the lighthouse stairs."}]}],
        "generation_config": {"seed": 7, "video_config": {"task": "text_to_video"}},
        "response_format": {"type": "video", "aspect_ratio": "16:9", "resolution": "720p", "duration": "6s",
                            "delivery": "uri"},
        "background": True, "store": True}
    polls = [r for r in fake.requests if r.method == "GET" and "/interactions/" in r.path]
    assert polls and all(r.query == {"stream": ["false"]} for r in polls)


def test_references_go_in_order_with_role_tags_after_the_verbatim_prompt(
    fake: FakeInteractions, make: Callable[..., GeminiInteractions], png: Callable[[str], InputFile]
) -> None:
    refs = (png("sheet-mei"), png("sheet-kai", (90, 90, 90)))
    make().submit(request(references=refs))
    body = creates(fake)[0].json()
    content = body["input"][0]["content"]
    assert content[0]["text"] == ("Mei climbs the lighthouse stairs.\n\n"
                                  "[# References <IMAGE_REF_0>@Image1 <IMAGE_REF_1>@Image2]")
    assert [base64.b64decode(c["data"]) for c in content[1:]] == [r.path.read_bytes() for r in refs]
    assert {c["mime_type"] for c in content[1:]} == {"image/png"}
    assert body["generation_config"]["video_config"] == {"task": "reference_to_video"}
    assert plain_prompt(content[0]["text"]) == "Mei climbs the lighthouse stairs."


def test_frames_are_the_image_task_and_sources_come_before_references(
    fake: FakeInteractions, make: Callable[..., GeminiInteractions], png: Callable[[str], InputFile]
) -> None:
    make().submit(request(first_frame=png("first"), last_frame=png("last"), references=(png("sheet"),)))
    body = creates(fake)[0].json()
    text = body["input"][0]["content"][0]["text"]
    assert text.endswith("[# Sources <FIRST_FRAME>@Image1 <LAST_FRAME>@Image2] [# References <IMAGE_REF_0>@Image3]")
    assert body["generation_config"]["video_config"]["task"] == "image_to_video"
    assert len(body["input"][0]["content"]) == 4


def test_extension_continues_the_earlier_interaction_and_returns_the_longer_clip(
    fake: FakeInteractions, make: Callable[..., GeminiInteractions], tmp_path: Path
) -> None:
    omni = make()
    first = omni.submit(request(duration=8.0))
    meta = omni.download(first, tmp_path / "a.mp4", run_to_done(omni, first))
    source = InputFile(path=tmp_path / "a.mp4", digest="a", mime="video/mp4", meta=meta)
    job = omni.submit(request(node_id="clip:b", prompt="The lamp blazes.", duration=5.0, extends=source))
    omni.download(job, tmp_path / "b.mp4", run_to_done(omni, job))
    assert (tmp_path / "b.mp4").read_bytes() == sample_mp4(13.0, "16:9")
    body = creates(fake)[1].json()
    assert body["previous_interaction_id"] == first
    assert body["generation_config"]["video_config"] == {"task": "extend"}
    assert body["response_format"]["duration"] == "5s"


def test_extension_of_a_clip_without_an_interaction_is_refused_before_any_request(
    fake: FakeInteractions, make: Callable[..., GeminiInteractions], tmp_path: Path
) -> None:
    source = InputFile(path=tmp_path / "veo.mp4", digest="v", mime="video/mp4", meta={"remote_uri": "https://x"})
    with pytest.raises(TerminalError, match="no interaction id"):
        make().submit(request(extends=source))
    assert fake.requests == []


@pytest.mark.parametrize("change, words", [
    ({"aspect": "1:1"}, "aspect"), ({"resolution": "480p"}, "resolution"), ({"duration": 16.0}, "3-15 s"),
    ({"duration": 2.0}, "3-15 s"), ({"duration": 4.5}, "whole seconds"), ({"kind": "sheet"}, "image route"),
    ({"prompt": "  "}, "prompt"),
])
def test_limits_are_refused_before_any_request(
    fake: FakeInteractions, make: Callable[..., GeminiInteractions], change: dict[str, Any], words: str
) -> None:
    with pytest.raises(TerminalError, match=words):
        make().submit(request(**change))
    assert fake.requests == []


def test_more_references_than_the_route_takes_are_refused(
    fake: FakeInteractions, make: Callable[..., GeminiInteractions], png: Callable[[str], InputFile]
) -> None:
    with pytest.raises(TerminalError, match="at most 3 reference images"):
        make().submit(request(references=tuple(png(f"r{i}") for i in range(4))))
    with pytest.raises(TerminalError, match="10 s"):
        make(route="gemini-omni-1.1").submit(request(duration=12.0))
    assert fake.requests == []


def test_create_faults_are_retryable_and_create_nothing(
    fake: FakeInteractions, make: Callable[..., GeminiInteractions]
) -> None:
    omni = make()
    fake.faults += [rate_limited("create", retry_after=3), server_error("create", 503)]
    with pytest.raises(RetryableError) as limited:
        omni.submit(request())
    assert limited.value.retry_after == 3.0
    with pytest.raises(RetryableError):
        omni.submit(request())
    assert fake.creates == 0
    omni.submit(request())
    assert fake.creates == 1


def test_invalid_argument_is_terminal_with_the_servers_words(
    fake: FakeInteractions, make: Callable[..., GeminiInteractions]
) -> None:
    fake.faults.append(http_error("create", 400, "INVALID_ARGUMENT", "Person generation is not allowed."))
    with pytest.raises(TerminalError, match="Person generation is not allowed") as err:
        make().submit(request())
    assert not isinstance(err.value, ProviderUnavailable)


def test_a_model_that_is_gone_makes_the_route_unavailable_naming_the_model(
    fake: FakeInteractions, make: Callable[..., GeminiInteractions]
) -> None:
    fake.gone_models.add("gemini-omni-1.2-flash")
    with pytest.raises(RouteGone, match="gemini-omni-1.2-flash is no longer available.*the model is gone"):
        make().submit(request())
    # An unknown interaction is a per-job 404: terminal for the node, not the route.
    with pytest.raises(TerminalError, match="unknown or no longer stored") as err:
        make().poll("v1_nosuchinteraction")
    assert not isinstance(err.value, ProviderUnavailable)


def test_extending_an_interaction_google_no_longer_stores_fails_the_shot_not_the_route(
    fake: FakeInteractions, make: Callable[..., GeminiInteractions], tmp_path: Path
) -> None:
    source = InputFile(path=tmp_path / "a.mp4", digest="a", mime="video/mp4", meta={"interaction": "v1_forgotten"})
    with pytest.raises(TerminalError, match="re-render the source shot") as err:
        make().submit(request(extends=source))
    assert not isinstance(err.value, ProviderUnavailable) and fake.creates == 0


def test_a_lost_create_answer_is_uncertain_and_cannot_be_reconciled(
    fake: FakeInteractions, make: Callable[..., GeminiInteractions]
) -> None:
    omni = make()
    fake.faults.append(lost_response())
    with pytest.raises(TerminalError, match="--resubmit-uncertain") as err:
        omni.submit(request())
    assert err.value.uncertain and fake.creates == 1  # it exists and bills; no list to find it by
    assert omni.reconcile(request(), 0.0) is None
    assert [r.method for r in fake.requests] == ["POST"]


def test_a_gateway_timeout_on_create_is_uncertain_not_retried_into_a_second_job(
    fake: FakeInteractions, make: Callable[..., GeminiInteractions]
) -> None:
    """A 504 (or 502) answering a create says nothing of whether it reached Google; with no list to
    find the job by, it is never sent again without --resubmit-uncertain. A 500/503 is retried."""
    fake.faults.append(gateway_timeout())
    with pytest.raises(TerminalError, match="HTTP 504.*may have reached Google.*--resubmit-uncertain") as err:
        make().submit(request())
    assert err.value.uncertain and fake.creates == 1
    assert [r.method for r in fake.requests] == ["POST"]


def test_policy_block_is_terminal_with_googles_reason(
    fake: FakeInteractions, make: Callable[..., GeminiInteractions]
) -> None:
    omni = make()
    fake.faults.append(rai_filtered(["the prompt depicts a minor"]))
    status = run_to_done(omni, omni.submit(request()))
    assert status.state == "failed" and isinstance(status.error, TerminalError)
    assert "safety filters" in str(status.error) and "depicts a minor" in str(status.error)


def test_failed_interaction_with_an_internal_error_is_retryable(
    fake: FakeInteractions, make: Callable[..., GeminiInteractions]
) -> None:
    omni = make()
    fake.faults.append(operation_failed(message="Video generation failed due to an internal error."))
    status = run_to_done(omni, omni.submit(request()))
    assert status.state == "failed" and isinstance(status.error, RetryableError)


def test_poll_faults_are_retryable_and_a_stalled_job_keeps_running(
    fake: FakeInteractions, make: Callable[..., GeminiInteractions]
) -> None:
    omni = make(poll_interval=2.5)
    fake.faults += [stall(), server_error("poll", 500)]
    job = omni.submit(request())
    with pytest.raises(RetryableError):
        omni.poll(job)
    for _ in range(4):
        status = omni.poll(job)
        assert status.state == "running" and status.poll_after == 2.5
    fake.finish_all()
    assert omni.poll(job).state == "succeeded"


def test_inline_video_on_get_is_decoded_even_when_a_uri_was_asked(
    client: httpx.Client, tmp_path: Path
) -> None:
    with FakeInteractions(api_key=KEY, polls_until_done=0, inline_get=True) as fake:
        omni = GeminiInteractions(KEY, base_url=fake.url, client=client)
        job = omni.submit(request(duration=4.0))
        status = run_to_done(omni, job)
        assert status.meta.get("inline") and "data" not in str(status.meta)
        meta = omni.download(job, tmp_path / "in.mp4", status)
        assert (tmp_path / "in.mp4").read_bytes() == sample_mp4(4.0, "16:9") and meta["remote_uri"] == ""
        # A fresh adapter (after a crash) has no bytes in memory: it polls again, creates nothing.
        again = GeminiInteractions(KEY, base_url=fake.url, client=client)
        again.download(job, tmp_path / "again.mp4", JobStatus(state="succeeded", meta={"inline": True}))
        assert (tmp_path / "again.mp4").read_bytes() == sample_mp4(4.0, "16:9") and fake.creates == 1


def test_broken_downloads_are_retryable_and_leave_no_file(
    fake: FakeInteractions, make: Callable[..., GeminiInteractions], tmp_path: Path
) -> None:
    omni = make()
    job = omni.submit(request())
    status = run_to_done(omni, job)
    for fault in (reset_download(after=2048), truncated_download(missing=1000)):
        fake.faults.append(fault)
        with pytest.raises(RetryableError):
            omni.download(job, tmp_path / "x.mp4", status)
        assert list(tmp_path.iterdir()) == []
    omni.download(job, tmp_path / "x.mp4", status)
    assert (tmp_path / "x.mp4").read_bytes() == sample_mp4(6.0, "16:9")


def test_expired_video_is_terminal_and_says_it_is_gone(
    fake: FakeInteractions, make: Callable[..., GeminiInteractions], tmp_path: Path
) -> None:
    omni = make()
    job = omni.submit(request())
    status = run_to_done(omni, job)
    fake.expire_files()
    with pytest.raises(TerminalError, match="is gone"):
        omni.download(job, tmp_path / "x.mp4", status)


def test_the_key_goes_to_the_api_origin_only_never_across_a_redirect(
    fake: FakeInteractions, make: Callable[..., GeminiInteractions], tmp_path: Path
) -> None:
    omni = make()
    job = omni.submit(request())
    status = run_to_done(omni, job)
    with OtherOrigin() as storage:
        fake.redirect_host = storage  # the API redirects the download to another origin (a signed URL)
        omni.download(job, tmp_path / "x.mp4", status)
        assert (tmp_path / "x.mp4").read_bytes() == sample_mp4(6.0, "16:9")
        assert len(storage.requests) == 1 and not storage.saw(KEY)
        # A result URI on another host is fetched without the key, too.
        fake.redirect_host, fake.result_host = None, storage
        job = omni.submit(request(node_id="clip:b"))
        meta = omni.download(job, tmp_path / "y.mp4", run_to_done(omni, job))
        assert meta["remote_uri"].startswith(storage.url) and len(storage.requests) == 2 and not storage.saw(KEY)
    downloads = [r for r in fake.requests if r.path.endswith(":download")]
    assert downloads and all(r.headers["x-goog-api-key"] == KEY for r in downloads)


def test_an_api_that_moves_elsewhere_never_gets_the_key_there_nor_a_replayed_create(
    fake: FakeInteractions, make: Callable[..., GeminiInteractions]
) -> None:
    omni = make()
    with OtherOrigin() as elsewhere:
        # Every request is moved to another origin: the create with 307 (which would replay its body).
        fake.before_handle = lambda r: Response(status=307 if r.method == "POST" else 302,
                                                headers={"location": elsewhere.url + r.path})
        for call in (lambda: omni.submit(request()), lambda: omni.poll("v1_moved")):
            with pytest.raises(TerminalError) as refused:
                call()
            assert KEY not in str(refused.value)
        assert [r.method for r in elsewhere.requests] == ["GET"]  # the poll hop; the create is not replayed
        assert not elsewhere.saw(KEY)
    assert all(r.headers.get("x-goog-api-key") == KEY for r in fake.requests)


@pytest.mark.parametrize("kind", ["endless", "gzip_bomb"])
def test_a_download_past_the_cap_is_cut_with_a_clear_error_and_leaves_no_file(
    fake: FakeInteractions, make: Callable[..., GeminiInteractions], tmp_path: Path, kind: str
) -> None:
    omni = make(limits=BodyLimits(max_bytes=1 << 20, deadline=30.0))
    job = omni.submit(request())
    status = run_to_done(omni, job)
    fake.faults.append(hostile(kind))
    with pytest.raises(TransferAborted, match="download passed the cap of 1.0 MiB.*max_download_mb"):
        omni.download(job, tmp_path / "x.mp4", status)
    assert list(tmp_path.iterdir()) == []
    omni.download(job, tmp_path / "x.mp4", status)  # the job is intact: the next try fetches it whole
    assert (tmp_path / "x.mp4").read_bytes() == sample_mp4(6.0, "16:9")


def test_an_endless_poll_answer_is_cut_too(
    fake: FakeInteractions, make: Callable[..., GeminiInteractions]
) -> None:
    omni = make(limits=BodyLimits(max_bytes=1 << 20, deadline=30.0))
    job = omni.submit(request())
    # A GET may carry the video inline, so an answer may be 4/3 of the cap (plus 1 MiB), not more.
    fake.before_handle = lambda r: hostile_body("endless", b"", {"content-type": "application/json"}) \
        if r.method == "GET" else None
    with pytest.raises(TransferAborted, match="answer passed the cap of 2.3 MiB"):
        omni.poll(job)
    assert fake.creates == 1


def test_the_registry_gives_the_adapter_its_route_cap_and_the_configured_deadline() -> None:
    registry = EnvironmentRegistry({"GEMINI_API_KEY": KEY, "GOOGLE_GEMINI_BASE_URL": "http://127.0.0.1:9"},
                                   download_seconds=42.0)
    try:
        for name in ("gemini-omni", "gemini-omni-1.1"):
            omni = registry.get(name)
            assert isinstance(omni, GeminiInteractions)
            assert omni._session.limits == BodyLimits.for_route(ROUTES[name].max_download_mb, 42.0)
    finally:
        registry.close()


def test_a_plain_http_base_url_off_loopback_is_refused(client: httpx.Client) -> None:
    with pytest.raises(TerminalError, match="plain http"):
        GeminiInteractions(KEY, base_url="http://gemini-relay.example.com", client=client)


def test_the_key_never_appears_in_errors(fake: FakeInteractions, make: Callable[..., GeminiInteractions]) -> None:
    fake.faults.append(http_error("create", 400, "INVALID_ARGUMENT", f"API key {KEY} not valid."))
    with pytest.raises(TerminalError) as err:
        make().submit(request())
    assert KEY not in str(err.value) and "***" in str(err.value)


def test_network_failure_on_create_is_uncertain_and_on_connect_retryable(
    fake: FakeInteractions, tmp_path: Path
) -> None:
    def reset(req: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("connection reset", request=req)

    with httpx.Client(transport=httpx.MockTransport(reset)) as broken:
        with pytest.raises(TerminalError) as err:
            GeminiInteractions(KEY, base_url=fake.url, client=broken).submit(request())
        assert err.value.uncertain
    with httpx.Client(timeout=2.0) as client:
        with pytest.raises(RetryableError):
            GeminiInteractions(KEY, base_url="http://127.0.0.1:9", client=client).submit(request())


def test_from_env_version_and_registry(fake: FakeInteractions, client: httpx.Client) -> None:
    env = {"GOOGLE_API_KEY": KEY, "GOOGLE_GEMINI_BASE_URL": fake.url, "GOOGLE_GENAI_API_VERSION": "v1"}
    omni = from_env("gemini-omni-1.1", env, client)
    assert isinstance(omni, GeminiInteractions)
    omni.submit(request(model=""))  # the route's model (request.model is a model id, never a route name)
    assert creates(fake)[0].path == "/v1/interactions"
    assert creates(fake)[0].json()["model"] == "gemini-omni-1.1-flash"
    with pytest.raises(ProviderUnavailable, match="GEMINI_API_KEY"):
        from_env("gemini-omni", {}, client)
    provider = EnvironmentRegistry(env={"GEMINI_API_KEY": KEY}).get("gemini-omni")
    assert isinstance(provider, GeminiInteractions) and provider.base_url == "https://generativelanguage.googleapis.com"
    provider.close()


def test_estimate_cost_is_price_per_second_times_seconds(client: httpx.Client) -> None:
    omni = GeminiInteractions(KEY, client=client)
    per_second = ROUTES["gemini-omni"].price_for("720p")
    assert omni.estimate_cost(request(duration=10.0)) == round(10 * per_second, 4)
    cheap = GeminiInteractions(KEY, client=client, prices={"720p": 0.01})
    assert cheap.estimate_cost(request(duration=5.0)) == 0.05
