"""OpenAIVideos (Sora 2) against the loopback FakeOpenAI: real HTTP on 127.0.0.1.

Each test asserts the requests the fake recorded, so "one create per render" is checked on
the wire, not inferred.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from shotmake.errors import ProviderError, RetryableError, TerminalError
from shotmake.providers.base import InputFile, JobStatus, RenderRequest
from shotmake.providers.openai_videos import CHARACTER_META_KEY, OpenAIVideos, from_env, image_size
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI, Fault, decoded_form, fake_mp4, fake_png

Inject = Callable[[FakeOpenAI], None]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(polls_to_complete=3, poll_after_ms=250) as server:
        yield server


@pytest.fixture
def sora(fake: FakeOpenAI, client: httpx.Client) -> Iterator[OpenAIVideos]:
    adapter = OpenAIVideos("sora-2", api_key=fake.api_key, base_url=fake.base_url, client=client)
    yield adapter
    adapter.close()


def clip(prompt: str = "a red fox runs through snow", **kw: object) -> RenderRequest:
    base: dict[str, object] = {
        "node_id": "shot-1",
        "key": f"key:{prompt}",
        "kind": "clip",
        "model": "sora-2",
        "prompt": prompt,
        "duration": 4.0,
        "width": 1280,
        "height": 720,
    }
    base.update(kw)
    return RenderRequest(**base)  # type: ignore[arg-type]


def png_input(
    tmp_path: Path, width: int = 1280, height: int = 720, name: str = "frame.png", **meta: object
) -> InputFile:
    path = tmp_path / name
    path.write_bytes(fake_png(width, height))
    return InputFile(path=path, digest="d-" + name, mime="image/png", meta=meta)


def run_to_end(adapter: OpenAIVideos, job: str, limit: int = 20) -> list[JobStatus]:
    seen = []
    for _ in range(limit):
        status = adapter.poll(job)
        seen.append(status)
        if status.state in ("succeeded", "failed"):
            break
    return seen


def calls(fake: FakeOpenAI) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in fake.requests]


# -- create ---------------------------------------------------------------------------------------
def test_submit_sends_one_authenticated_multipart_create(fake: FakeOpenAI, sora: OpenAIVideos) -> None:
    job = sora.submit(clip(duration=8.0))

    assert calls(fake) == [("POST", "/v1/videos")]
    request = fake.requests[0]
    assert request.headers["authorization"] == f"Bearer {DEFAULT_KEY}"
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    form = decoded_form(request)
    assert {name: [p.text for p in parts] for name, parts in form.items()} == {
        "prompt": ["a red fox runs through snow"],
        "model": ["sora-2"],
        "seconds": ["8"],
        "size": ["1280x720"],
    }
    assert job in fake.videos and fake.videos[job].obj["seconds"] == "8"


def test_first_frame_is_the_input_reference_file_part(
    fake: FakeOpenAI, sora: OpenAIVideos, tmp_path: Path
) -> None:
    frame = png_input(tmp_path)
    sora.submit(clip(first_frame=frame))

    (part,) = decoded_form(fake.creates()[0])["input_reference"]
    assert part.filename == "frame.png" and part.content_type == "image/png"
    assert part.data == frame.path.read_bytes()


def test_single_reference_is_sent_when_there_is_no_first_frame(
    fake: FakeOpenAI, sora: OpenAIVideos, tmp_path: Path
) -> None:
    ref = png_input(tmp_path, 720, 1280, name="sheet.png")
    sora.submit(clip(width=720, height=1280, references=(ref,)))

    form = decoded_form(fake.creates()[0])
    assert form["input_reference"][0].data == ref.path.read_bytes()
    assert form["size"][0].text == "720x1280"


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"duration": 5.0}, "use one of 4, 8, 12"),
        ({"width": 1920, "height": 1080}, "use one of 1280x720, 720x1280"),
        ({"width": 1792, "height": 1024}, "not allowed on sora-2"),
        ({"prompt": " "}, "prompt must be"),
        ({"kind": "sheet"}, "renders clips"),
    ],
)
def test_limits_are_enforced_before_any_request(
    fake: FakeOpenAI, sora: OpenAIVideos, change: dict[str, object], words: str
) -> None:
    with pytest.raises(TerminalError, match=words):
        sora.submit(clip(**change))  # type: ignore[arg-type]
    assert fake.requests == []


def test_inputs_sora_cannot_take_are_refused_before_any_request(
    fake: FakeOpenAI, sora: OpenAIVideos, tmp_path: Path
) -> None:
    frame = png_input(tmp_path)
    with pytest.raises(TerminalError, match="one input image"):
        sora.submit(clip(first_frame=frame, references=(png_input(tmp_path, name="b.png"),)))
    with pytest.raises(TerminalError, match="last-frame"):
        sora.submit(clip(first_frame=frame, last_frame=frame))
    with pytest.raises(TerminalError, match="extends"):
        sora.submit(clip(extends=InputFile(path=frame.path, digest="x", mime="video/mp4")))
    with pytest.raises(TerminalError, match="is 640x360 but the clip is 1280x720"):
        sora.submit(clip(first_frame=png_input(tmp_path, 640, 360, name="small.png")))
    assert fake.requests == []


def test_sora_2_pro_allows_the_large_sizes_and_prices_them(fake: FakeOpenAI, client: httpx.Client) -> None:
    pro = OpenAIVideos("sora-2-pro", api_key=fake.api_key, base_url=fake.base_url, client=client)
    request = clip(model="sora-2-pro", width=1792, height=1024, duration=12.0)
    pro.submit(request)

    form = decoded_form(fake.creates()[0])
    assert (form["model"][0].text, form["size"][0].text, form["seconds"][0].text) == (
        "sora-2-pro",
        "1792x1024",
        "12",
    )
    assert pro.estimate_cost(request) == pytest.approx(6.0)
    assert pro.estimate_cost(clip(duration=8.0)) == pytest.approx(2.4)


def test_estimate_cost_uses_catalog_price_unless_overridden(fake: FakeOpenAI, sora: OpenAIVideos) -> None:
    assert sora.estimate_cost(clip(duration=8.0)) == pytest.approx(0.8)
    cheap = OpenAIVideos("sora-2", api_key="k", prices={"720p": 0.05})
    assert cheap.estimate_cost(clip(duration=12.0)) == pytest.approx(0.6)
    cheap.close()


def test_fake_rejects_an_input_reference_of_the_wrong_size(fake: FakeOpenAI, client: httpx.Client) -> None:
    response = client.post(
        f"{fake.base_url}/videos",
        headers={"Authorization": f"Bearer {fake.api_key}"},
        data={"prompt": "p", "model": "sora-2", "seconds": "4", "size": "1280x720"},
        files=[("input_reference", ("f.png", fake_png(720, 1280), "image/png"))],
    )
    assert response.status_code == 400
    assert response.json()["error"] == {
        "message": "Inpaint image must match the requested width and height",
        "type": "invalid_request_error",
        "param": "input_reference",
        "code": "invalid_value",
    }
    as_string = client.post(
        f"{fake.base_url}/videos",
        headers={"Authorization": f"Bearer {fake.api_key}"},
        data={"prompt": "p", "input_reference": "https://x/y.png"},
        files={"x": ("", b"")},
    )
    assert as_string.status_code == 400 and as_string.json()["error"]["code"] == "invalid_type"
    assert fake.videos == {}


# -- poll and download ----------------------------------------------------------------------------
def test_lifecycle_polls_rising_progress_then_downloads_a_real_mp4(
    fake: FakeOpenAI, sora: OpenAIVideos, tmp_path: Path
) -> None:
    job = sora.submit(clip())
    statuses = run_to_end(sora, job)

    assert [s.state for s in statuses] == ["queued", "running", "succeeded"]
    assert [s.progress for s in statuses] == [0.0, 0.5, 1.0]
    assert all(s.poll_after == 0.25 for s in statuses)
    dest = tmp_path / "out.mp4"
    meta = sora.download(job, dest, statuses[-1])

    data = dest.read_bytes()
    assert data[4:8] == b"ftyp" and data == fake_mp4(4, "1280x720")
    assert meta["remote_id"] == job and meta["bytes"] == len(data)
    assert (meta["model"], meta["seconds"], meta["size"]) == ("sora-2", "4", "1280x720")
    assert calls(fake) == [("POST", "/v1/videos")] + [("GET", f"/v1/videos/{job}")] * 3 + [
        ("GET", f"/v1/videos/{job}/content")
    ]
    content = fake.requests[-1]
    assert content.query == {"variant": ["video"]} and content.headers["accept"] == "application/binary"
    assert not list(tmp_path.glob("*.part"))


def test_a_new_adapter_resumes_an_existing_job_without_creating(fake: FakeOpenAI, tmp_path: Path) -> None:
    with httpx.Client() as first_client:
        first = OpenAIVideos("sora-2", api_key=fake.api_key, base_url=fake.base_url, client=first_client)
        job = first.submit(clip())
        assert first.poll(job).state == "queued"
    # "crash": the first process is gone; a new one knows only the journaled id
    second = from_env("sora-2", {"OPENAI_API_KEY": fake.api_key, "OPENAI_BASE_URL": fake.base_url})
    try:
        statuses = run_to_end(second, job)
        second.download(job, tmp_path / "c.mp4", statuses[-1])
    finally:
        second.close()
    assert statuses[-1].state == "succeeded"
    assert len(fake.creates()) == 1
    assert (tmp_path / "c.mp4").read_bytes()[4:8] == b"ftyp"


def test_time_driven_progress(client: httpx.Client) -> None:
    now = [1_000.0]
    with FakeOpenAI(seconds_to_complete=100.0, clock=lambda: now[0]) as fake:
        sora = OpenAIVideos("sora-2", api_key=fake.api_key, base_url=fake.base_url, client=client)
        job = sora.submit(clip())
        assert sora.poll(job).state == "queued"
        now[0] += 40
        assert (sora.poll(job).state, sora.poll(job).progress) == ("running", 0.4)
        now[0] += 70
        assert sora.poll(job).state == "succeeded"


def test_download_refuses_an_unfinished_job(fake: FakeOpenAI, sora: OpenAIVideos, tmp_path: Path) -> None:
    job = sora.submit(clip())
    with pytest.raises(ProviderError, match="not completed"):
        sora.download(job, tmp_path / "x.mp4", sora.poll(job))


# -- faults ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("inject", "kind", "retry_after", "words"),
    [
        (
            lambda f: f.rate_limit("create", retry_after="7"),
            RetryableError,
            7.0,
            "HTTP 429: Rate limit reached",
        ),
        (
            lambda f: f.rate_limit("create", retry_after=None, retry_after_ms="1500"),
            RetryableError,
            1.5,
            "429",
        ),
        (lambda f: f.server_error("create", 500), RetryableError, None, "HTTP 500"),
        (lambda f: f.server_error("create", 503), RetryableError, None, "HTTP 503"),
        (lambda f: f.overload("create"), RetryableError, None, "currently overloaded"),
        (lambda f: f.quota_exhausted("create"), TerminalError, None, "out of quota"),
        (lambda f: f.moderate_next("create"), TerminalError, None, "moderation.*moderation_blocked"),
    ],
)
def test_create_faults_map_to_retryable_or_terminal(
    fake: FakeOpenAI, sora: OpenAIVideos, inject: Inject, kind: type, retry_after: float | None, words: str
) -> None:
    inject(fake)
    with pytest.raises(ProviderError, match=words) as info:
        sora.submit(clip())
    assert type(info.value) is kind
    if kind is RetryableError:
        assert info.value.retry_after == retry_after  # type: ignore[attr-defined]
    assert calls(fake) == [("POST", "/v1/videos")] and fake.videos == {}
    assert info.value.provider == "sora-2"


def test_poll_faults_are_retryable_and_do_not_disturb_the_job(fake: FakeOpenAI, sora: OpenAIVideos) -> None:
    job = sora.submit(clip())
    fake.rate_limit("retrieve", retry_after="3")
    fake.overload("retrieve")
    with pytest.raises(RetryableError) as first:
        sora.poll(job)
    assert first.value.retry_after == 3.0
    with pytest.raises(RetryableError, match="overloaded"):
        sora.poll(job)
    assert [s.state for s in run_to_end(sora, job)][-1] == "succeeded"
    assert len(fake.creates()) == 1


@pytest.mark.parametrize(
    ("code", "message", "kind"),
    [
        ("moderation_blocked", "Your request was blocked by our moderation system.", TerminalError),
        ("server_error", "Video generation failed due to an internal error.", RetryableError),
        ("invalid_prompt", "The prompt could not be rendered.", TerminalError),
    ],
)
def test_failed_job_carries_the_servers_code_and_words(
    fake: FakeOpenAI, sora: OpenAIVideos, code: str, message: str, kind: type
) -> None:
    fake.fail_next_job(code=code, message=message)
    job = sora.submit(clip())
    final = run_to_end(sora, job)[-1]

    assert final.state == "failed"
    assert type(final.error) is kind
    assert code in str(final.error) and message in str(final.error)


def test_blocked_terms_reject_the_same_prompt_on_every_run(fake: FakeOpenAI, sora: OpenAIVideos) -> None:
    fake.blocked_terms = {"gore": "sync", "violence": "job"}
    with pytest.raises(TerminalError, match="moderation"):
        sora.submit(clip("lots of gore"))
    job = sora.submit(clip("some violence"))
    final = run_to_end(sora, job)[-1]
    assert isinstance(final.error, TerminalError) and "moderation_blocked" in str(final.error)


def test_stalled_job_stays_at_99_percent(fake: FakeOpenAI, sora: OpenAIVideos) -> None:
    fake.stall_next_job(at=99)
    job = sora.submit(clip())
    statuses = [sora.poll(job) for _ in range(8)]
    assert statuses[-1].state == "running"
    assert [s.progress for s in statuses[2:]] == [0.99] * 6


@pytest.mark.parametrize(
    "inject",
    [lambda f: f.reset_next_download(after_bytes=1000), lambda f: f.truncate_next_download(missing=5000)],
)
def test_broken_downloads_are_retryable_and_leave_no_file(
    fake: FakeOpenAI, sora: OpenAIVideos, tmp_path: Path, inject: Inject
) -> None:
    job = sora.submit(clip())
    final = run_to_end(sora, job)[-1]
    inject(fake)
    dest = tmp_path / "clip.mp4"
    with pytest.raises(RetryableError):
        sora.download(job, dest, final)
    assert list(tmp_path.iterdir()) == []

    sora.download(job, dest, final)  # the fault was one-shot
    assert dest.read_bytes() == fake_mp4(4, "1280x720")
    assert fake.count("GET", f"/v1/videos/{job}/content") == 2


def test_expired_content_is_terminal_and_says_so(
    fake: FakeOpenAI, sora: OpenAIVideos, tmp_path: Path
) -> None:
    job = sora.submit(clip())
    final = run_to_end(sora, job)[-1]
    fake.expire(job)
    with pytest.raises(TerminalError, match="expired"):
        sora.download(job, tmp_path / "x.mp4", final)
    assert not (tmp_path / "x.mp4").exists()


def test_deleted_video_polls_as_terminal_not_found(fake: FakeOpenAI, sora: OpenAIVideos) -> None:
    job = sora.submit(clip())
    sora.delete(job)
    with pytest.raises(TerminalError, match="404.*not found"):
        sora.poll(job)
    assert calls(fake)[-2] == ("DELETE", f"/v1/videos/{job}")


@pytest.mark.parametrize("status", [404, 410])
def test_shutdown_names_the_date_and_the_alternatives(
    fake: FakeOpenAI, sora: OpenAIVideos, tmp_path: Path, status: int
) -> None:
    job = sora.submit(clip())
    fake.shutdown = True
    fake.shutdown_status = status
    for action in (
        lambda: sora.submit(clip()),
        lambda: sora.poll(job),
        lambda: sora.download(job, tmp_path / "x.mp4", JobStatus(state="succeeded")),
        lambda: sora.reconcile(clip(), 0.0),
    ):
        with pytest.raises(TerminalError) as info:
            action()
        text = str(info.value)
        assert "2026-09-24" in text and "shotmake.toml" in text and "gemini-omni" in text
        assert f"HTTP {status}" in text
    assert len(fake.creates()) == 2  # the refused create still reached the server once


def test_a_gone_endpoint_reads_as_shutdown(fake: FakeOpenAI, client: httpx.Client) -> None:
    moved = OpenAIVideos("sora-2", api_key=fake.api_key, base_url=fake.url + "/v2", client=client)
    with pytest.raises(TerminalError, match="Invalid URL.*shut down on 2026-09-24"):
        moved.submit(clip())


def test_only_real_shutdown_signals_read_as_shutdown(fake: FakeOpenAI, sora: OpenAIVideos) -> None:
    fake.inject(
        Fault("create", "status", status=400, message="'quality' is deprecated", code="invalid_value")
    )
    fake.inject(Fault("create", "status", status=503, message="Server shutdown for maintenance"))
    fake.inject(Fault("create", "status", status=403, message="This endpoint has been discontinued."))
    with pytest.raises(TerminalError) as deprecated:
        sora.submit(clip())
    with pytest.raises(RetryableError, match="maintenance"):
        sora.submit(clip())
    with pytest.raises(TerminalError, match="discontinued.*2026-09-24"):
        sora.submit(clip())
    assert "2026-09-24" not in str(deprecated.value) and "deprecated" in str(deprecated.value)


# -- reconcile ------------------------------------------------------------------------------------
def test_lost_create_response_is_found_by_reconcile(fake: FakeOpenAI, sora: OpenAIVideos) -> None:
    request = clip()
    intent = fake.clock()
    fake.lose_next_response("create")
    with pytest.raises(RetryableError, match="network error"):
        sora.submit(request)
    (created,) = fake.videos

    assert sora.reconcile(request, intent) == created
    assert len(fake.creates()) == 1
    assert fake.requests[-1].query == {"limit": ["100"], "order": ["desc"]}


def test_retrying_an_uncertain_submit_finds_the_job_instead_of_paying_twice(
    fake: FakeOpenAI, sora: OpenAIVideos
) -> None:
    request = clip()
    fake.lose_next_response("create")
    with pytest.raises(RetryableError):
        sora.submit(request)
    (created,) = fake.videos

    assert sora.submit(request) == created
    assert calls(fake) == [("POST", "/v1/videos"), ("GET", "/v1/videos")]
    sora.submit(request)  # once resolved, a new submit is a new job (the executor asked for it)
    assert len(fake.videos) == 2


@pytest.mark.parametrize(
    ("inject", "expected"),
    [
        (
            lambda f: f.server_error("create", 502),
            [("POST", "/v1/videos"), ("GET", "/v1/videos"), ("POST", "/v1/videos")],
        ),
        (
            lambda f: f.server_error("create", 500),
            [("POST", "/v1/videos"), ("GET", "/v1/videos"), ("POST", "/v1/videos")],
        ),
        (lambda f: f.rate_limit("create"), [("POST", "/v1/videos"), ("POST", "/v1/videos")]),
        (lambda f: f.overload("create"), [("POST", "/v1/videos"), ("POST", "/v1/videos")]),
    ],
)
def test_only_uncertain_create_failures_look_before_creating_again(
    fake: FakeOpenAI, sora: OpenAIVideos, inject: Inject, expected: list[tuple[str, str]]
) -> None:
    inject(fake)
    with pytest.raises(RetryableError):
        sora.submit(clip())
    sora.submit(clip())
    assert calls(fake) == expected and len(fake.videos) == 1


def test_a_refused_connection_is_not_uncertain(tmp_path: Path) -> None:
    with FakeOpenAI() as gone:
        url, key = gone.base_url, gone.api_key
    with httpx.Client() as client:
        sora = OpenAIVideos("sora-2", api_key=key, base_url=url, client=client)
        with pytest.raises(RetryableError, match="ConnectError"):
            sora.submit(clip())
        assert clip().key not in sora._uncertain


def test_reconcile_matches_prompt_model_seconds_size_and_time(client: httpx.Client) -> None:
    now = [5_000.0]
    with FakeOpenAI(clock=lambda: now[0]) as fake:
        sora = OpenAIVideos(
            "sora-2", api_key=fake.api_key, base_url=fake.base_url, client=client, reconcile_skew=2.0
        )
        target = clip()
        old = sora.submit(target)  # same request, long before the intent
        now[0] += 100
        intent = now[0]
        sora.submit(clip("another prompt"))
        sora.submit(clip(duration=8.0))
        sora.submit(clip(width=720, height=1280))
        assert sora.reconcile(target, intent) is None
        now[0] += 1
        wanted = sora.submit(target)
        assert sora.reconcile(target, intent) == wanted
        assert sora.reconcile(target, intent - 200) is None  # the old one matches too: ambiguous
        assert old != wanted


def test_reconcile_pages_through_the_list(fake: FakeOpenAI, sora: OpenAIVideos) -> None:
    target = clip("the needle")
    intent = fake.clock() - 1
    wanted = sora.submit(target)
    for i in range(104):
        sora.submit(clip(f"hay {i}"))
    assert sora.reconcile(target, intent) == wanted
    lists = [r for r in fake.requests if r.method == "GET" and r.path == "/v1/videos"]
    assert len(lists) == 2 and lists[1].query["after"] == [fake._order[5]]


def test_submit_with_retries_and_reconcile_creates_once_under_chaos(
    client: httpx.Client, tmp_path: Path
) -> None:
    """A miniature executor loop retrying blindly: faults everywhere, still one video per clip."""
    with FakeOpenAI(polls_to_complete=2) as fake:
        fake.chaos(seed=7, rate=0.4)
        sora = OpenAIVideos("sora-2", api_key=fake.api_key, base_url=fake.base_url, client=client)
        for n in range(4):
            request = clip(f"shot {n}")
            job: str | None = None
            for _ in range(50):
                try:
                    job = sora.submit(request)
                    break
                except RetryableError:
                    continue
            assert job is not None
            for _ in range(100):
                try:
                    status = sora.poll(job)
                    if status.state == "succeeded":
                        sora.download(job, tmp_path / f"{n}.mp4", status)
                        break
                except RetryableError:
                    continue
            assert (tmp_path / f"{n}.mp4").read_bytes()[4:8] == b"ftyp"
        lists = [r for r in fake.requests if r.method == "GET" and r.path == "/v1/videos"]
        assert len(fake.creates()) > 4 and lists  # faults hit creates, and some lost their outcome
        created = [v.obj["prompt"] for v in fake.videos.values()]
        assert sorted(created) == [f"shot {n}" for n in range(4)]


# -- remix, characters ----------------------------------------------------------------------------
def test_remix_posts_json_and_returns_the_new_job(fake: FakeOpenAI, sora: OpenAIVideos) -> None:
    job = sora.submit(clip())
    run_to_end(sora, job)
    new = sora.remix(job, "same shot, at night")

    remix = fake.requests[-1]
    assert (remix.method, remix.path) == ("POST", f"/v1/videos/{job}/remix")
    assert json.loads(remix.body) == {"prompt": "same shot, at night"}
    assert sora.poll(new).meta["remixed_from_video_id"] == job
    assert len(fake.creates()) == 1


def test_character_upload_and_use_on_create(fake: FakeOpenAI, sora: OpenAIVideos, tmp_path: Path) -> None:
    clip_path = tmp_path / "robot.mp4"
    clip_path.write_bytes(fake_mp4(4, "1280x720"))
    char_id = sora.create_character(clip_path, "Bolt the robot")

    upload = decoded_form(fake.requests[-1])
    assert upload["name"][0].text == "Bolt the robot"
    assert upload["video"][0].filename == "robot.mp4" and upload["video"][0].data == clip_path.read_bytes()
    assert sora.get_character(char_id)["name"] == "Bolt the robot"

    character = InputFile(path=clip_path, digest="c", mime="video/mp4", meta={CHARACTER_META_KEY: char_id})
    sora.submit(clip("Bolt the robot waves", references=(character,)))
    form = decoded_form(fake.creates()[0])
    assert [p.text for p in form["characters[]"]] == [char_id] and "input_reference" not in form


def test_human_likeness_refusal_is_terminal_with_a_way_out(
    fake: FakeOpenAI, sora: OpenAIVideos, tmp_path: Path
) -> None:
    fake.refuse_human_likeness = True
    clip_path = tmp_path / "actor.mp4"
    clip_path.write_bytes(fake_mp4(4, "1280x720"))
    with pytest.raises(TerminalError, match="human likeness.*non-human characters"):
        sora.create_character(clip_path, "Ada")
    not_mp4 = tmp_path / "x.mp4"
    not_mp4.write_bytes(b"hello world!")
    with pytest.raises(TerminalError, match="must be an MP4"):
        sora.create_character(not_mp4, "Ada")


# -- secrets and configuration --------------------------------------------------------------------
def test_wrong_key_is_terminal_and_never_echoed(client: httpx.Client) -> None:
    secret = "sk-this-key-must-never-leak-4242"
    with FakeOpenAI(echo_key_in_errors=True) as fake:
        sora = OpenAIVideos("sora-2", api_key=secret, base_url=fake.base_url, client=client)
        with pytest.raises(TerminalError) as info:
            sora.submit(clip())
    text = str(info.value)
    assert "HTTP 401" in text and "OPENAI_API_KEY" in text and "[redacted]" in text
    assert secret not in text and secret not in repr(info.value) and secret not in repr(sora)


def test_no_error_or_metadata_contains_the_key(fake: FakeOpenAI, sora: OpenAIVideos, tmp_path: Path) -> None:
    texts: list[str] = [repr(sora)]
    fake.server_error("create")
    fake.inject(Fault("create", "status", status=400, message=f"echo {fake.api_key}", code="invalid_value"))
    fake.lose_next_response("create")
    for _ in range(3):
        with pytest.raises(ProviderError) as info:
            sora.submit(clip())
        texts += [str(info.value), repr(info.value)]
    job = sora.submit(clip())
    final = run_to_end(sora, job)[-1]
    texts += [json.dumps(dict(final.meta)), json.dumps(sora.download(job, tmp_path / "a.mp4", final))]
    assert "echo [redacted]" in texts[3]
    assert all(fake.api_key not in t for t in texts)


def test_from_env_needs_a_key_and_honours_the_base_url(fake: FakeOpenAI) -> None:
    with pytest.raises(ProviderError, match="OPENAI_API_KEY is not set"):
        from_env("sora-2", {})
    adapter = from_env("sora-2-pro", {"OPENAI_API_KEY": fake.api_key, "OPENAI_BASE_URL": fake.base_url + "/"})
    try:
        adapter.submit(clip(model="sora-2-pro"))
    finally:
        adapter.close()
    assert calls(fake) == [("POST", "/v1/videos")]
    with pytest.raises(ProviderError, match="cannot serve route 'veo-3.1'"):
        from_env("veo-3.1", {"OPENAI_API_KEY": "k"})


def test_image_size_reads_png_jpeg_and_webp_headers() -> None:
    assert image_size(fake_png(320, 180)) == (320, 180)
    jpeg = (
        b"\xff\xd8"
        + b"\xff\xe0\x00\x10"
        + b"JFIF\x00"
        + b"\x00" * 9
        + b"\xff\xc0\x00\x11\x08"
        + (180).to_bytes(2, "big")
        + (320).to_bytes(2, "big")
        + b"\x03"
        + b"\x00" * 9
    )
    assert image_size(jpeg) == (320, 180)
    vp8x = (
        b"RIFF\x00\x00\x00\x00WEBPVP8X"
        + b"\x0a\x00\x00\x00"
        + b"\x00" * 4
        + (319).to_bytes(3, "little")
        + (179).to_bytes(3, "little")
    )
    assert image_size(vp8x) == (320, 180)
    assert image_size(b"GIF89a....") is None
