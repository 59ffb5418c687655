"""ArkTasks (Seedance 2.x) against the loopback FakeArk: real HTTP on 127.0.0.1.

Each test asserts the requests the fakes recorded (the API and its storage host), so "one
create per render" and "no key to the storage host" are checked on the wire.
"""

from __future__ import annotations

import base64
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shotmake.errors import ProviderUnavailable, RetryableError, RouteGone, TerminalError, TransferAborted
from shotmake.providers import catalog
from shotmake.providers.ark_tasks import TOKENS_PER_SECOND, ArkTasks, from_env, seed_for
from shotmake.providers.base import InputFile, JobStatus, RenderRequest
from shotmake.providers.http import BodyLimits
from tests.fakes.ark_server import FakeArk, Fault, decoded_images, rate_limited, sent_content, server_error
from tests.fakes.openai_server import fake_mp4, fake_png
from tests.fakes.server import OtherOrigin, Response


@pytest.fixture
def fake() -> Iterator[FakeArk]:
    with FakeArk(queued_polls=1, polls_to_complete=2) as server:
        yield server


@pytest.fixture
def ark(fake: FakeArk, client: httpx.Client) -> Iterator[ArkTasks]:
    adapter = ArkTasks("seedance-2.0", api_key=fake.api_key, base_url=fake.base_url, client=client)
    yield adapter
    adapter.close()


def clip(prompt: str = "Mei waves from the lighthouse gallery", **kw: object) -> RenderRequest:
    base: dict[str, object] = {"node_id": "clip:a", "key": f"key:{prompt}", "kind": "clip", "model": "",
                               "prompt": prompt, "duration": 5.0, "resolution": "720p", "aspect": "16:9"}
    base.update(kw)
    return RenderRequest(**base)  # type: ignore[arg-type]


def image(tmp_path: Path, name: str, rgb: tuple[int, int, int] = (10, 20, 30)) -> InputFile:
    path = tmp_path / name
    path.write_bytes(fake_png(640, 360, rgb) if rgb != (10, 20, 30) else fake_png(640, 360))
    return InputFile(path=path, digest="d-" + name, mime="image/png")


def run_to_end(ark: ArkTasks, task: str) -> JobStatus:
    for _ in range(20):
        status = ark.poll(task)
        if status.state in ("succeeded", "failed"):
            return status
    raise AssertionError("the task never finished")


# -- request shapes ------------------------------------------------------------------------------------

def test_text_only_clip_sends_one_create_with_the_documented_fields(fake: FakeArk, ark: ArkTasks) -> None:
    task = ark.submit(clip(seed=42, audio=False))
    assert task.startswith("cgt-")
    (create,) = fake.creates()
    assert create.headers["authorization"] == f"Bearer {fake.api_key}"
    assert create.headers["content-type"] == "application/json"
    assert create.json() == {
        "model": "dreamina-seedance-2-0-260128",
        "content": [{"type": "text", "text": "Mei waves from the lighthouse gallery"}],
        "generate_audio": False, "watermark": False, "seed": 42, "resolution": "720p", "ratio": "16:9",
        "duration": 5,
    }


def test_a_shot_without_seed_sends_one_derived_from_its_key(fake: FakeArk, ark: ArkTasks) -> None:
    ark.submit(clip(key="k1"))
    ark.submit(clip(key="k2"))
    seeds = [r.json()["seed"] for r in fake.creates()]
    assert seeds == [seed_for("k1"), seed_for("k2")] and seeds[0] != seeds[1]
    assert all(0 <= s < 2**31 for s in seeds)


def test_references_become_reference_images_as_base64_data_urls(fake: FakeArk, ark: ArkTasks,
                                                                  tmp_path: Path) -> None:
    sheets = (image(tmp_path, "mei.png"), image(tmp_path, "kai.png", (200, 0, 0)))
    ark.submit(clip(references=sheets))
    (create,) = fake.creates()
    items = sent_content(create)[1:]
    assert [i["role"] for i in items] == ["reference_image", "reference_image"]
    assert all(i["image_url"]["url"].startswith("data:image/png;base64,") for i in items)
    assert decoded_images(create) == [s.path.read_bytes() for s in sheets]
    assert create.json()["ratio"] == "16:9"


def test_frames_without_references_use_frame_roles_and_an_adaptive_ratio(fake: FakeArk, ark: ArkTasks,
                                                                          tmp_path: Path) -> None:
    first, last = image(tmp_path, "first.png"), image(tmp_path, "last.png", (0, 90, 0))
    ark.submit(clip(first_frame=first, last_frame=last))
    (create,) = fake.creates()
    assert [i.get("role") for i in sent_content(create)] == [None, "first_frame", "last_frame"]
    assert decoded_images(create, "first_frame") == [first.path.read_bytes()]
    assert create.json()["ratio"] == "adaptive"


def test_frames_with_references_travel_as_reference_images_after_the_sheets(fake: FakeArk, ark: ArkTasks,
                                                                             tmp_path: Path) -> None:
    sheet, frame = image(tmp_path, "kai.png"), image(tmp_path, "harbour.png", (1, 2, 3))
    ark.submit(clip(references=(sheet,), first_frame=frame))
    (create,) = fake.creates()  # the fake refuses frame roles mixed with reference roles
    assert [i.get("role") for i in sent_content(create)] == [None, "reference_image", "reference_image"]
    assert decoded_images(create) == [sheet.path.read_bytes(), frame.path.read_bytes()]
    assert create.json()["ratio"] == "16:9"


@pytest.mark.parametrize("change, words", [
    ({"duration": 4.5}, "whole seconds"),
    ({"duration": 16.0}, "4-15 s"),
    ({"resolution": "4k"}, "not 4k"),
    ({"aspect": "2:1"}, "not 2:1"),
    ({"kind": "sheet"}, "renders clips"),
    ({"prompt": " "}, "empty"),
])
def test_requests_the_api_would_refuse_are_refused_before_any_request(fake: FakeArk, ark: ArkTasks,
                                                                      change: dict[str, object], words: str) -> None:
    with pytest.raises(TerminalError, match=words):
        ark.submit(clip(**change))
    assert fake.requests == []


def test_a_last_frame_needs_a_first_frame(fake: FakeArk, ark: ArkTasks, tmp_path: Path) -> None:
    with pytest.raises(TerminalError, match="last frame only together with a first frame"):
        ark.submit(clip(last_frame=image(tmp_path, "last.png")))
    assert fake.requests == []


def test_video_files_cannot_be_sent_inline_and_audio_needs_an_image(fake: FakeArk, ark: ArkTasks,
                                                                     tmp_path: Path) -> None:
    clip_file = tmp_path / "ref.mp4"
    clip_file.write_bytes(b"\0\0\0\x18ftypmp42")
    with pytest.raises(TerminalError, match="not video/mp4: reference video goes by URL only"):
        ark.submit(clip(references=(InputFile(clip_file, "d", "video/mp4"),)))
    voice = tmp_path / "voice.mp3"
    voice.write_bytes(b"ID3" + b"\0" * 64)
    with pytest.raises(TerminalError, match="reference audio .* only together with a reference image"):
        ark.submit(clip(references=(InputFile(voice, "d", "audio/mpeg"),)))
    voices = tuple(InputFile(voice, f"d{i}", "audio/mpeg") for i in range(4))
    with pytest.raises(TerminalError, match="4 reference audio files .* at most 3"):
        ark.submit(clip(references=(image(tmp_path, "sheet.png"), *voices)))
    assert fake.requests == []


def test_more_references_than_the_route_takes_count_the_demoted_frames(fake: FakeArk, ark: ArkTasks,
                                                                      tmp_path: Path) -> None:
    refs = tuple(image(tmp_path, f"r{i}.png") for i in range(9))
    with pytest.raises(TerminalError, match="10 reference images .* at most 9"):
        ark.submit(clip(references=refs, first_frame=image(tmp_path, "f.png")))
    assert fake.requests == []


def test_a_shot_model_override_is_sent_as_the_model(fake: FakeArk, ark: ArkTasks) -> None:
    ark.submit(clip(model="doubao-seedance-2-0-260128"))
    assert fake.creates()[0].json()["model"] == "doubao-seedance-2-0-260128"


# -- the job: poll, download, actual cost --------------------------------------------------------------

def test_job_runs_to_a_download_from_the_storage_host_without_the_key(fake: FakeArk, ark: ArkTasks,
                                                                      tmp_path: Path) -> None:
    task = ark.submit(clip(duration=5.0))
    states = []
    for _ in range(10):
        status = ark.poll(task)
        states.append(status.state)
        if status.state == "succeeded":
            break
    assert states == ["queued", "running", "succeeded"]
    dest = tmp_path / "out.mp4"
    meta = ark.download(task, dest, status)
    assert dest.read_bytes()[4:8] == b"ftyp"
    (fetch,) = fake.storage.requests
    assert "authorization" not in fetch.headers and fake.storage.credentialed == []
    assert fetch.path == f"/ark-content/{task}.mp4" and "X-Tos-Signature" in fetch.query
    # Billed: (24 x 5 + 1) frames x 1280 x 720 / 1024 = 108,900 tokens at the 720p per-second price.
    assert meta["completion_tokens"] == 108900
    per_second = catalog.ROUTES["seedance-2.0"].price_for("720p")
    assert meta["cost_usd"] == round(108900 / TOKENS_PER_SECOND["720p"] * per_second, 4)
    assert meta["cost_usd"] != ark.estimate_cost(clip(duration=5.0))
    assert meta["remote_id"] == task and meta["model"] == "dreamina-seedance-2-0-260128"
    assert not any("X-Tos" in str(v) for v in meta.values()), "the signed URL is never kept"


def test_a_resumed_download_fetches_a_fresh_video_url(fake: FakeArk, ark: ArkTasks, client: httpx.Client,
                                                      tmp_path: Path) -> None:
    task = ark.submit(clip())
    status = run_to_end(ark, task)
    other = ArkTasks("seedance-2.0", api_key=fake.api_key, base_url=fake.base_url, client=client)
    other.download(task, tmp_path / "out.mp4", JobStatus(state="succeeded", meta=status.meta))
    assert fake.count("GET", f"{fake.prefix}/contents/generations/tasks/{task}") == 4  # 3 polls + the fresh one


def test_a_reset_or_truncated_download_is_retryable_and_leaves_no_file(fake: FakeArk, ark: ArkTasks,
                                                                      tmp_path: Path) -> None:
    task = ark.submit(clip())
    status = run_to_end(ark, task)
    dest = tmp_path / "out.mp4"
    for inject in (fake.reset_next_download, fake.truncate_next_download):
        inject()
        with pytest.raises(RetryableError):
            ark.download(task, dest, status)
        assert not dest.exists() and not list(tmp_path.glob("*.part"))
    ark.download(task, dest, status)
    assert dest.exists()


def test_an_expired_video_url_is_terminal_with_the_reason(fake: FakeArk, ark: ArkTasks, tmp_path: Path) -> None:
    fake.expire_terms.add("(late)")
    task = ark.submit(clip("the harbour (late)"))
    with pytest.raises(TerminalError, match="expired .*24 hours"):
        ark.download(task, tmp_path / "out.mp4", run_to_end(ark, task))


# -- errors mapped at the boundary ---------------------------------------------------------------------

def test_throttling_is_retryable_with_the_servers_retry_after(fake: FakeArk, ark: ArkTasks) -> None:
    fake.inject(rate_limited("create", retry_after="7"))
    with pytest.raises(RetryableError, match="EndpointRPMExceeded") as caught:
        ark.submit(clip())
    assert caught.value.retry_after == 7 and not caught.value.uncertain
    assert fake.tasks == {}


def test_a_real_person_refusal_is_terminal_with_the_vendors_reason_and_a_hint(fake: FakeArk, ark: ArkTasks) -> None:
    fake.blocked_terms["(face)"] = "privacy"
    with pytest.raises(TerminalError, match="may contain real person.*stylised.*asset library") as caught:
        ark.submit(clip("a portrait (face)"))
    assert not isinstance(caught.value, ProviderUnavailable)


def test_input_and_output_moderation_are_terminal(fake: FakeArk, ark: ArkTasks) -> None:
    fake.blocked_terms.update({"(sync)": "sync", "(job)": "job"})
    with pytest.raises(TerminalError, match="content moderation.*sensitive"):
        ark.submit(clip("x (sync)"))
    status = run_to_end(ark, ark.submit(clip("x (job)")))
    assert status.state == "failed" and isinstance(status.error, TerminalError)
    assert "OutputVideoSensitiveContentDetected" in status.error.message


def test_a_gone_model_makes_the_route_gone_but_a_gone_task_does_not(fake: FakeArk, ark: ArkTasks) -> None:
    fake.gone_models.add("dreamina-seedance-2-0-260128")
    with pytest.raises(RouteGone, match="dreamina-seedance-2-0-260128.*ModelArk console"):
        ark.submit(clip())
    with pytest.raises(TerminalError, match="task is unknown") as caught:
        ark.poll("cgt-20261128000000-nope0")
    assert not isinstance(caught.value, ProviderUnavailable)


@pytest.mark.parametrize("status, code", [(403, "ModelNotOpen"), (400, "InvalidEndpoint.ClosedEndpoint")])
def test_a_model_not_served_to_this_key_is_gone_on_a_create_only(fake: FakeArk, ark: ArkTasks,
                                                                 status: int, code: str) -> None:
    """Ark's model codes mean the route is unusable; on a poll they are about that one task."""
    task = ark.submit(clip())
    fake.inject(Fault("create", "status", status=status, code=code, message="not activated"))
    with pytest.raises(RouteGone, match=code):
        ark.submit(clip(key="other"))
    fake.inject(Fault("get", "status", status=status, code=code, message="not activated"))
    with pytest.raises(TerminalError, match=code) as caught:
        ark.poll(task)
    assert not isinstance(caught.value, ProviderUnavailable)


def test_a_wrong_key_is_terminal_and_names_the_variable(fake: FakeArk, client: httpx.Client) -> None:
    bad = ArkTasks("seedance-2.0", api_key="wrong-key-123456", base_url=fake.base_url, client=client)
    with pytest.raises(TerminalError, match="ARK_API_KEY") as caught:
        bad.submit(clip())
    assert "wrong-key-123456" not in str(caught.value)


def test_a_transient_task_failure_is_retryable(fake: FakeArk, ark: ArkTasks) -> None:
    task = ark.submit(clip())
    fake.tasks[task].fail = ("InternalServiceError", "internal error")
    status = run_to_end(ark, task)
    assert isinstance(status.error, RetryableError)


# -- lost creates: reconcile through the task list -----------------------------------------------------

def test_a_lost_create_answer_is_uncertain_and_the_retry_finds_the_task(fake: FakeArk, ark: ArkTasks) -> None:
    fake.lose_next_response("create")
    with pytest.raises(RetryableError) as caught:
        ark.submit(clip())
    assert caught.value.uncertain and len(fake.tasks) == 1
    again = ark.submit(clip())
    assert again == next(iter(fake.tasks)) and len(fake.creates()) == 1
    listing = [r for r in fake.requests if r.method == "GET" and r.query]
    assert listing[0].query["filter.model"] == ["dreamina-seedance-2-0-260128"]


def test_reconcile_matches_only_the_task_with_this_requests_seed(fake: FakeArk, ark: ArkTasks) -> None:
    start = fake.clock()
    ark.submit(clip("other shot", key="other"))
    mine = ark.submit(clip("this shot", key="mine"))
    assert ark.reconcile(clip("this shot", key="mine"), start) == mine
    assert ark.reconcile(clip("never sent", key="never"), start) is None


def test_reconcile_gives_up_on_two_matches_and_on_old_tasks(fake: FakeArk, ark: ArkTasks) -> None:
    start = fake.clock()
    ark.submit(clip(key="same"))
    ark.submit(clip(key="same"))
    assert ark.reconcile(clip(key="same"), start) is None  # two candidates: refuse, do not guess
    assert ark.reconcile(clip(key="other"), start + 3600) is None


def test_a_5xx_create_is_uncertain_and_a_connection_refused_is_not(fake: FakeArk, ark: ArkTasks,
                                                                  client: httpx.Client) -> None:
    fake.inject(server_error("create", 500))
    with pytest.raises(RetryableError) as caught:
        ark.submit(clip())
    assert caught.value.uncertain
    closed = ArkTasks("seedance-2.0", api_key="k", base_url="http://127.0.0.1:9/api/v3", client=client)
    with pytest.raises(RetryableError) as refused:
        closed.submit(clip())
    assert not refused.value.uncertain


def test_a_dropped_connection_or_a_slow_answer_on_create_is_uncertain_and_finds_nothing(
        fake: FakeArk, client: httpx.Client) -> None:
    impatient = httpx.Client(timeout=httpx.Timeout(0.2))
    ark = ArkTasks("seedance-2.0", api_key=fake.api_key, base_url=fake.base_url, client=impatient)
    try:
        fake.inject(Fault("create", "drop"))
        fake.inject(Fault("create", "delay", seconds=0.6))
        for _ in range(2):
            with pytest.raises(RetryableError) as caught:
                ark.submit(clip())
            assert caught.value.uncertain
        while fake.in_flight:  # the slow create goes on after the client gave up: let it finish
            time.sleep(0.01)
        # The drop created nothing; the slow create did, and the retry finds it instead of paying again.
        found = ark.submit(clip())
        assert list(fake.tasks) == [found] and len(fake.creates()) == 2
    finally:
        impatient.close()


def test_delete_cancels_a_queued_task(fake: FakeArk, ark: ArkTasks) -> None:
    task = ark.submit(clip())
    ark.delete(task)
    (request,) = [r for r in fake.requests if r.method == "DELETE"]
    assert request.json() == {} and fake.tasks[task].obj["status"] == "cancelled"
    assert ark.poll(task).state == "failed"


# -- credentials and construction ----------------------------------------------------------------------

def test_the_key_goes_to_the_api_origin_only_and_never_over_plain_http() -> None:
    ark = ArkTasks("seedance-2.0", api_key="secret", base_url="https://ark.ap-southeast.bytepluses.com/api/v3")
    try:
        assert ark._session.trusted("https://ark.ap-southeast.bytepluses.com/api/v3/x")
        for url in ("https://ark-content.tos-ap-southeast-1.bytepluses.com/v.mp4",
                    "http://ark.ap-southeast.bytepluses.com/api/v3/x",
                    "https://ark.ap-southeast.bytepluses.com:8443/api/v3/x"):
            assert not ark._session.trusted(url), url
    finally:
        ark.close()
    with pytest.raises(TerminalError, match="ARK_BASE_URL=.*plain http") as caught:
        from_env("seedance-2.0", {"ARK_API_KEY": "ark-key-1234567890",
                                  "ARK_BASE_URL": "http://user:gw-pass-4411@ark.example.com/api/v3"})
    assert "gw-pass-4411" not in str(caught.value)


def test_a_redirect_to_another_origin_never_carries_the_key(fake: FakeArk, ark: ArkTasks) -> None:
    task = ark.submit(clip())
    with OtherOrigin() as other:
        # The API moves elsewhere: POST/DELETE with 307 (which would replay the body), GET with 302.
        fake.before_handle = lambda r: Response(status=302 if r.method == "GET" else 307,
                                                headers={"location": other.url + r.path})
        calls = [lambda: ark.submit(clip(key="again")), lambda: ark.poll(task), lambda: ark.delete(task),
                 lambda: ark.reconcile(clip(), 0.0)]
        for call in calls:
            with pytest.raises(TerminalError) as refused:
                call()
            assert fake.api_key not in str(refused.value)
        fake.before_handle = None
    assert [r.method for r in other.requests] == ["GET", "GET"]  # a POST or DELETE is never replayed there
    assert not other.saw(fake.api_key) and other.requests[0].path.endswith(task)
    assert all(r.headers["authorization"] == f"Bearer {fake.api_key}" for r in fake.requests)


def test_a_storage_redirect_to_a_third_host_is_followed_without_the_key(
        fake: FakeArk, ark: ArkTasks, tmp_path: Path) -> None:
    """The signed URL's host may move the video on (a CDN): the hop is followed, keyless like the first."""
    task = ark.submit(clip())
    status = run_to_end(ark, task)
    with OtherOrigin() as other:
        other.files[f"/moved/{task}.mp4"] = fake_mp4(5, "1280x720")
        fake.storage.before_handle = lambda r: Response(status=302, headers={"location": f"{other.url}/moved/{task}.mp4"})
        ark.download(task, tmp_path / "out.mp4", status)
    assert (tmp_path / "out.mp4").read_bytes()[4:8] == b"ftyp"
    assert len(other.requests) == 1 and not other.saw(fake.api_key) and fake.storage.credentialed == []


#: A cap small enough that the fake's clips pass and a hostile body is cut at once.
SMALL = BodyLimits(max_bytes=1 << 20, deadline=30.0)


@pytest.fixture
def capped(fake: FakeArk, client: httpx.Client) -> Iterator[ArkTasks]:
    adapter = ArkTasks("seedance-2.0", api_key=fake.api_key, base_url=fake.base_url, client=client, limits=SMALL)
    yield adapter
    adapter.close()


@pytest.mark.parametrize("kind", ["endless", "gzip_bomb"])
def test_a_video_past_the_cap_is_cut_with_an_error_naming_the_cap(fake: FakeArk, capped: ArkTasks,
                                                                  tmp_path: Path, kind: str) -> None:
    task = capped.submit(clip())
    status = run_to_end(capped, task)
    fake.inject(Fault("video", kind))
    with pytest.raises(TransferAborted, match=r"download passed the cap of 1\.0 MiB.*max_download_mb"):
        capped.download(task, tmp_path / "out.mp4", status)
    assert list(tmp_path.iterdir()) == []  # neither the file nor a partial one
    capped.download(task, tmp_path / "out.mp4", status)  # the task is kept: the next try fetches it
    assert (tmp_path / "out.mp4").read_bytes()[4:8] == b"ftyp"


def test_a_video_announced_past_the_cap_is_refused_before_reading(fake: FakeArk, capped: ArkTasks,
                                                                   tmp_path: Path) -> None:
    task = capped.submit(clip())
    status = run_to_end(capped, task)
    fake.inject(Fault("video", "truncate", missing=2 << 20))  # Content-Length: the clip + 2 MiB
    with pytest.raises(TransferAborted, match=r"download is 2\.\d MiB, over the cap of 1\.0 MiB"):
        capped.download(task, tmp_path / "out.mp4", status)
    assert list(tmp_path.iterdir()) == []


def test_an_endless_api_answer_and_a_dripping_video_are_cut(fake: FakeArk, client: httpx.Client,
                                                            tmp_path: Path) -> None:
    slow = BodyLimits(max_bytes=1 << 20, deadline=0.3)
    ark = ArkTasks("seedance-2.0", api_key=fake.api_key, base_url=fake.base_url, client=client, limits=slow)
    task = ark.submit(clip())
    fake.inject(Fault("get", "endless"))
    with pytest.raises(TransferAborted, match="answer passed the cap of 2.3 MiB|deadline of 0.3s"):
        ark.poll(task)
    status = run_to_end(ark, task)
    fake.inject(Fault("video", "drip"))  # a byte every 20 ms: no read ever times out
    with pytest.raises(TransferAborted, match="deadline of 0.3s"):
        ark.download(task, tmp_path / "out.mp4", status)
    assert list(tmp_path.iterdir()) == []


def test_a_gzip_encoded_video_is_decoded_and_identity_is_asked_for(fake: FakeArk, capped: ArkTasks,
                                                                   tmp_path: Path) -> None:
    task = capped.submit(clip())
    status = run_to_end(capped, task)
    fake.inject(Fault("video", "gzip"))
    capped.download(task, tmp_path / "out.mp4", status)
    assert (tmp_path / "out.mp4").read_bytes() == fake_mp4(5, "1280x720")
    assert fake.storage.requests[-1].headers["accept-encoding"] == "identity"


def test_the_default_cap_comes_from_the_route(fake: FakeArk, ark: ArkTasks) -> None:
    assert ark._session.limits.max_bytes == int(ark.route.max_download_mb * (1 << 20))


def test_from_env_reads_the_key_and_base_url_and_a_configured_route(fake: FakeArk, client: httpx.Client) -> None:
    with pytest.raises(ProviderUnavailable, match="ARK_API_KEY"):
        from_env("seedance-2.0", {})
    cn = dataclasses.replace(catalog.ROUTES["seedance-2.0"], name="seedance-cn",
                             model="doubao-seedance-2-0-260128", origin="shotmake.toml")
    ark = from_env(cn, {"ARK_API_KEY": fake.api_key, "ARK_BASE_URL": fake.base_url}, client=client)
    ark.submit(clip())
    assert fake.creates()[0].json()["model"] == "doubao-seedance-2-0-260128"
    assert repr(ark) == f"ArkTasks(route='seedance-cn', base_url='{fake.base_url}')"


def test_the_fake_refuses_what_the_api_refuses(fake: FakeArk, client: httpx.Client) -> None:
    """The fake's checks are the fake's own: a mixed-mode or base64-video body is a 400."""
    url = fake.base_url + "/contents/generations/tasks"
    auth = {"Authorization": f"Bearer {fake.api_key}"}
    png = "data:image/png;base64," + base64.b64encode(fake_png(8, 8)).decode()
    mixed = {"model": "dreamina-seedance-2-0-260128", "content": [
        {"type": "text", "text": "x"}, {"type": "image_url", "image_url": {"url": png}, "role": "first_frame"},
        {"type": "image_url", "image_url": {"url": png}, "role": "reference_image"}]}
    assert client.post(url, json=mixed, headers=auth).status_code == 400
    video = {"model": "dreamina-seedance-2-0-260128", "content": [
        {"type": "text", "text": "x"},
        {"type": "video_url", "video_url": {"url": "data:video/mp4;base64,AAAA"}, "role": "reference_video"}]}
    assert client.post(url, json=video, headers=auth).status_code == 400
    fake.inject(Fault("create", "status", status=503, code="ServiceUnavailable"))
    assert client.post(url, json={}, headers=auth).status_code == 503


def test_the_registry_builds_the_adapter_from_the_catalogs_protocol(fake: FakeArk) -> None:
    from shotmake.providers.registry import EnvironmentRegistry

    registry = EnvironmentRegistry(env={"ARK_API_KEY": fake.api_key, "ARK_BASE_URL": fake.base_url},
                                   prices={"seedance-2.0-fast": {"720p": 0.2}})
    try:
        assert registry.unavailable("seedance-2.5") is None
        fast = registry.get("seedance-2.0-fast")
        assert isinstance(fast, ArkTasks) and fast.estimate_cost(clip()) == 1.0
        assert fast._session.limits == BodyLimits.for_route(fast.route.max_download_mb)
        fast.submit(clip())
        assert fake.creates()[0].json()["model"] == "dreamina-seedance-2-0-fast-260128"
    finally:
        registry.close()
    assert EnvironmentRegistry(env={}).unavailable("seedance-2.0") == "ARK_API_KEY is not set"
