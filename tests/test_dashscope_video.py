"""The DashScope (Wan) adapter against the loopback fake: request shapes, uploads, errors, reconcile, downloads."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shotmake.errors import (
    ProviderError,
    ProviderUnavailable,
    RetryableError,
    RouteGone,
    TerminalError,
    TransferAborted,
)
from shotmake.providers.base import InputFile, JobStatus, RenderRequest
from shotmake.providers.catalog import ROUTES
from shotmake.providers.dashscope_upload import REUSE_MARGIN, URL_LIFETIME
from shotmake.providers.dashscope_video import DashScopeVideo, from_env, pick_model
from shotmake.providers.http import BodyLimits
from tests.fakes.dashscope_server import DEFAULT_KEY, FakeDashScope, Fault, throttled
from tests.fakes.openai_server import fake_mp4, fake_png
from tests.fakes.server import OtherOrigin


@pytest.fixture
def fake() -> Iterator[FakeDashScope]:
    with FakeDashScope() as server:
        yield server


def adapter(fake: FakeDashScope, client: httpx.Client, route: str = "wan-2.7", **kw: object) -> DashScopeVideo:
    return DashScopeVideo(route, api_key=DEFAULT_KEY, base_url=fake.base_url, client=client, **kw)  # type: ignore[arg-type]


@pytest.fixture
def wan(fake: FakeDashScope, client: httpx.Client, tmp_path: Path) -> DashScopeVideo:
    return adapter(fake, client, upload_dir=tmp_path / "uploads")


def image(tmp_path: Path, name: str, n: int = 0) -> InputFile:
    data = fake_png(64 + n, 36)  # the fake's PNGs differ by size
    path = tmp_path / name
    path.write_bytes(data)
    return InputFile(path, hashlib.sha256(data).hexdigest(), "image/png")


def clip(prompt: str = "Waves break on black rocks at dusk.", **kw: object) -> RenderRequest:
    values: dict[str, object] = dict(node_id="clip:a", key="k-" + prompt, kind="clip", model="",
                                     prompt=prompt, duration=5.0, resolution="720p", aspect="16:9")
    values.update(kw)
    return RenderRequest(**values)  # type: ignore[arg-type]


def finish(wan: DashScopeVideo, job: str) -> JobStatus:
    for _ in range(10):
        status = wan.poll(job)
        if status.state in ("succeeded", "failed"):
            return status
    raise AssertionError("the task never ended")


# -- model choice ------------------------------------------------------------------------------
def test_the_family_route_picks_t2v_i2v_or_r2v_from_the_shots_inputs(tmp_path: Path) -> None:
    route, sheet = ROUTES["wan-2.7"], image(tmp_path, "s.png")
    assert pick_model(route, clip()) == ("wan2.7-t2v", "t2v")
    assert pick_model(route, clip(first_frame=sheet)) == ("wan2.7-i2v", "i2v")
    assert pick_model(route, clip(last_frame=sheet)) == ("wan2.7-i2v", "i2v")
    assert pick_model(route, clip(references=(sheet,))) == ("wan2.7-r2v", "r2v")
    # a model: override naming another family picks the same way; a concrete id is sent as is
    assert pick_model(route, clip(model="wan2.8", references=(sheet,))) == ("wan2.8-r2v", "r2v")
    assert pick_model(route, clip(model="wan2.7-r2v-2026-06-01")) == ("wan2.7-r2v-2026-06-01", "r2v")
    assert pick_model(ROUTES["wan-3.0"], clip()) == ("wan3.0-video", "any")


def test_a_concrete_model_override_that_does_not_fit_the_inputs_is_refused_before_any_request(
        wan: DashScopeVideo, fake: FakeDashScope, tmp_path: Path) -> None:
    with pytest.raises(TerminalError, match="takes text only"):
        wan.submit(clip(model="wan2.7-t2v", references=(image(tmp_path, "s.png"),)))
    assert fake.requests == []


# -- request shapes ----------------------------------------------------------------------------
def test_text_only_shot_creates_one_t2v_task_with_the_compiled_prompt_unextended(
        wan: DashScopeVideo, fake: FakeDashScope) -> None:
    job = wan.submit(clip(negative_prompt="text, watermark", seed=7, duration=10.0, aspect="9:16"))
    (create,) = fake.creates()
    assert create.headers["authorization"] == f"Bearer {DEFAULT_KEY}"
    assert create.headers["x-dashscope-async"] == "enable"
    assert "x-dashscope-ossresourceresolve" not in create.headers
    assert create.json() == {
        "model": "wan2.7-t2v",
        "input": {"prompt": "Waves break on black rocks at dusk.", "negative_prompt": "text, watermark"},
        "parameters": {"resolution": "720P", "ratio": "9:16", "duration": 10, "seed": 7,
                       "prompt_extend": False, "watermark": False, "audio": True},
    }
    assert finish(wan, job).state == "succeeded"


def test_frames_go_to_i2v_as_uploaded_oss_urls_with_the_resolve_header(
        wan: DashScopeVideo, fake: FakeDashScope, tmp_path: Path) -> None:
    first, last = image(tmp_path, "first.png", 1), image(tmp_path, "last.png", 2)
    job = wan.submit(clip(first_frame=first, last_frame=last, audio=False, resolution="1080p"))
    (create,) = fake.creates()
    body = create.json()
    assert body["model"] == "wan2.7-i2v" and create.headers["x-dashscope-ossresourceresolve"] == "enable"
    assert [m["type"] for m in body["input"]["media"]] == ["first_frame", "last_frame"]
    assert all(m["url"].startswith("oss://dashscope-instant/") for m in body["input"]["media"])
    assert body["parameters"] == {"resolution": "1080P", "duration": 5, "prompt_extend": False,
                                  "watermark": False, "audio": False}  # no ratio: the frame's shape wins
    # one policy for the create, then one upload per file, with the bytes intact, and no key there
    assert fake.count("GET", "/api/v1/uploads") == 1
    policy = fake.requests[0]
    assert policy.query == {"action": ["getPolicy"], "model": ["wan2.7-i2v"]}
    uploads = fake.uploads()
    assert len(uploads) == 2 and not any("authorization" in u.headers for u in uploads)
    stored = {key: data for key, (data, _, _) in fake.storage.objects.items()}
    assert stored[body["input"]["media"][0]["url"][6:]] == first.path.read_bytes()
    assert finish(wan, job).state == "succeeded"


def test_character_sheets_go_to_r2v_and_are_uploaded_once_across_shots_and_adapters(
        fake: FakeDashScope, client: httpx.Client, tmp_path: Path) -> None:
    records = tmp_path / "records"
    sheet = image(tmp_path, "mei.png")
    wan = adapter(fake, client, upload_dir=records)
    wan.submit(clip("Mei runs.", references=(sheet,)))
    wan.submit(clip("Mei waves.", references=(sheet,)))
    # a rebuild: a new process (a new adapter) reads the record instead of uploading again
    adapter(fake, client, upload_dir=records).submit(clip("Mei sleeps.", references=(sheet,)))
    assert len(fake.uploads()) == 1 and fake.count("GET", "/api/v1/uploads") == 1
    urls = {c.json()["input"]["media"][0]["url"] for c in fake.creates()}
    assert len(urls) == 1 and [c.json()["input"]["media"][0]["type"] for c in fake.creates()] == \
        ["reference_image"] * 3
    # the record is small JSON: no key, no local path
    (record,) = records.iterdir()
    text = record.read_text()
    assert DEFAULT_KEY not in text and str(tmp_path) not in text
    assert json.loads(text.split("\n", 1)[1])["url"] == urls.pop()


def test_an_upload_is_per_model_and_expires_before_its_url_does(
        fake: FakeDashScope, client: httpx.Client, tmp_path: Path) -> None:
    now = [1_800_000_000.0]
    sheet = image(tmp_path, "mei.png")
    wan = adapter(fake, client, upload_dir=tmp_path / "r", clock=lambda: now[0])
    wan.submit(clip("Mei runs.", references=(sheet,)))
    wan.submit(clip("Mei looks back.", first_frame=sheet))  # i2v: another model, another upload
    assert len(fake.uploads()) == 2
    now[0] += URL_LIFETIME - REUSE_MARGIN + 1  # too close to expiry to hand to a queued task
    wan.submit(clip("Mei runs again.", references=(sheet,)))
    assert len(fake.uploads()) == 3


def test_a_remembered_upload_the_server_no_longer_resolves_is_forgotten_and_retried(
        fake: FakeDashScope, client: httpx.Client, tmp_path: Path) -> None:
    sheet = image(tmp_path, "mei.png")
    wan = adapter(fake, client, upload_dir=tmp_path / "r")
    wan.submit(clip("Mei runs.", references=(sheet,)))
    fake.storage.objects.clear()  # the store dropped it early (or the key changed account)
    with pytest.raises(RetryableError, match="uploaded again"):
        wan.submit(clip("Mei waves.", references=(sheet,)))
    wan.submit(clip("Mei waves.", references=(sheet,)))
    assert len(fake.uploads()) == 2 and len(fake.tasks) == 2


def test_wan_3_takes_frames_or_references_on_one_model(fake: FakeDashScope, client: httpx.Client,
                                                        tmp_path: Path) -> None:
    wan3 = adapter(fake, client, route="wan-3.0")
    refs = tuple(image(tmp_path, f"r{i}.png", i) for i in range(7))
    wan3.submit(clip(references=refs, duration=30.0))
    body = fake.creates()[-1].json()
    assert body["model"] == "wan3.0-video" and body["parameters"]["duration"] == 30
    assert [m["type"] for m in body["input"]["media"]] == ["reference_image"] * 7
    with pytest.raises(TerminalError, match="cannot mix"):
        wan3.submit(clip(references=refs[:1], first_frame=refs[1]))


def test_limits_are_checked_before_paying(wan: DashScopeVideo, fake: FakeDashScope, tmp_path: Path) -> None:
    refs = tuple(image(tmp_path, f"r{i}.png", i) for i in range(6))
    video = InputFile(tmp_path / "voice.mp4", "d" * 64, "video/mp4")
    audio = InputFile(tmp_path / "voice.mp3", "e" * 64, "audio/mpeg")
    for request, words in [(clip(duration=16.0), "duration 16s"), (clip(duration=4.5), "whole number"),
                           (clip(resolution="480p"), "resolution 480p"), (clip(aspect="21:9"), "aspect 21:9"),
                           (clip(references=refs), "6 references"),
                           (clip(extends=refs[0]), "does not extend"),
                           (clip(references=(*refs[:4], video, video)), "6 references; wan2.7-r2v takes at most 5"),
                           (clip(references=(audio,)), "1 reference audio; wan-2.7 takes at most 0"),
                           # the spec allows a uint32 seed (Veo's); DashScope's seed is at most 2^31 - 1
                           (clip(seed=2**31), "seed 2147483648 .*0 to 2147483647")]:
        with pytest.raises(TerminalError, match=words):
            wan.submit(request)
    assert fake.requests == []


# -- errors --------------------------------------------------------------------------------------
def test_content_inspection_is_terminal_with_the_vendors_reason(wan: DashScopeVideo, fake: FakeDashScope) -> None:
    fake.blocked_terms["(bad)"] = "sync"
    with pytest.raises(TerminalError, match="content inspection: DataInspectionFailed: Input data may contain"):
        wan.submit(clip("a scene (bad)"))
    fake.blocked_terms["(worse)"] = "job"
    status = finish(wan, wan.submit(clip("a scene (worse)")))
    assert status.state == "failed" and isinstance(status.error, TerminalError)
    assert "content inspection" in status.error.message


def test_throttling_is_retryable_with_the_servers_pause(wan: DashScopeVideo, fake: FakeDashScope) -> None:
    fake.faults.append(throttled("create", retry_after="3"))
    with pytest.raises(RetryableError) as caught:
        wan.submit(clip())
    assert caught.value.retry_after == 3.0 and "Throttling.RateQuota" in caught.value.message
    fake.faults.append(server_error_fault := Fault("get", status=503, code="ServiceUnavailable", message="busy"))
    job = wan.submit(clip())
    with pytest.raises(RetryableError):
        wan.poll(job)
    assert server_error_fault not in fake.faults


def test_a_gone_model_marks_the_route_unavailable_but_an_unknown_task_is_one_shots_problem(
        wan: DashScopeVideo, fake: FakeDashScope, tmp_path: Path) -> None:
    fake.gone_models.add("wan2.7-t2v")
    with pytest.raises(RouteGone, match="wan2.7-t2v is not served"):
        wan.submit(clip())
    fake.faults.append(Fault("policy", status=404, code="Model.NotExist", message="Model not exist."))
    with pytest.raises(RouteGone, match="not served"):  # gone before the create: at the upload
        wan.submit(clip(references=(image(tmp_path, "s.png"),)))
    fake.faults.append(Fault("create", status=400, code="InvalidParameter",
                             message="The model wan2.7-t2v has been shut down; use wan2.8-t2v."))
    with pytest.raises(RouteGone, match="shut down"):  # a shutdown notice on a create (http.route_gone)
        wan.submit(clip())
    status = wan.poll("no-such-task")
    assert status.state == "failed" and isinstance(status.error, RetryableError)
    assert "unknown" in status.error.message
    # a 404 about one task (a poll) is that task's problem, never the route's
    fake.faults.append(Fault("get", status=404, code="NotFound", message="task not found"))
    with pytest.raises(TerminalError) as caught:
        wan.poll("no-such-task")
    assert not isinstance(caught.value, ProviderUnavailable)


def test_a_wrong_key_makes_the_route_unavailable_and_is_never_echoed(fake: FakeDashScope,
                                                                    client: httpx.Client) -> None:
    wan = DashScopeVideo("wan-2.7", api_key="sk-wrong-key-123456", base_url=fake.base_url, client=client)
    with pytest.raises(ProviderUnavailable, match="check DASHSCOPE_API_KEY") as caught:
        wan.submit(clip())
    assert "sk-wrong-key-123456" not in str(caught.value) and not isinstance(caught.value, RouteGone)


def test_the_key_is_required_and_only_over_https() -> None:
    with pytest.raises(ProviderUnavailable, match="DASHSCOPE_API_KEY is not set"):
        from_env("wan-2.7", {})
    with pytest.raises(ProviderUnavailable, match="https"):
        from_env("wan-2.7", {"DASHSCOPE_API_KEY": "k", "DASHSCOPE_BASE_URL": "http://dashscope.example/api/v1"})
    wan = from_env("wan-2.7", {"DASHSCOPE_API_KEY": "k"})
    assert wan.base_url == "https://dashscope-intl.aliyuncs.com/api/v1"
    wan.close()


# -- reconcile and resume ------------------------------------------------------------------------
def test_a_lost_create_answer_is_found_in_the_task_list_not_created_again(
        wan: DashScopeVideo, fake: FakeDashScope) -> None:
    wan.submit(clip("Another shot entirely."))
    fake.faults.append(Fault("create", kind="lose_response"))
    request = clip("The lamp room at night.")
    with pytest.raises(RetryableError):
        wan.submit(request)
    assert len(fake.tasks) == 2  # the task exists; its id was lost
    job = wan.submit(request)  # the retry looks in the list first
    assert len(fake.tasks) == 2 and fake.tasks[job].prompt == "The lamp room at night."
    listed = [r for r in fake.requests if r.path == "/api/v1/tasks"]
    assert listed and listed[0].query["model_name"] == ["wan2.7-t2v"]
    assert all(len(listed[0].query[k][0]) == 14 for k in ("start_time", "end_time"))
    # a fresh process (the executor's reconcile after a crash) finds it the same way
    assert wan.reconcile(request, time.time() - 60) == job
    assert wan.reconcile(clip("Never submitted."), time.time() - 60) is None


def test_download_streams_the_result_without_the_key_and_reports_expiry(
        wan: DashScopeVideo, fake: FakeDashScope, tmp_path: Path) -> None:
    job = wan.submit(clip())
    status = finish(wan, job)
    meta = wan.download(job, tmp_path / "out.mp4", status)
    assert (tmp_path / "out.mp4").read_bytes()[4:8] == b"ftyp" and meta["remote_id"] == job
    fetch = [r for r in fake.storage.requests if r.method == "GET"]
    assert len(fetch) == 1 and "authorization" not in fetch[0].headers
    # resumed with a stale status: the adapter polls for the URL itself
    assert wan.download(job, tmp_path / "again.mp4", JobStatus(state="running"))["bytes"] == meta["bytes"]
    fake.expire_terms.add("(old)")
    old = wan.submit(clip("A scene (old)."))
    with pytest.raises(ProviderError, match="expired") as caught:
        wan.download(old, tmp_path / "old.mp4", finish(wan, old))
    # the video is gone, the request was fine: not a refusal to remember, not a retry now
    assert not isinstance(caught.value, (TerminalError, RetryableError))
    assert not (tmp_path / "old.mp4").exists()


def test_a_reset_download_leaves_no_file_and_is_retryable(wan: DashScopeVideo, fake: FakeDashScope,
                                                          tmp_path: Path) -> None:
    job = wan.submit(clip())
    status = finish(wan, job)
    fake.faults.append(Fault("download", kind="reset", after=300))
    with pytest.raises(RetryableError):
        wan.download(job, tmp_path / "out.mp4", status)
    assert list(tmp_path.iterdir()) == []


def test_an_upload_record_is_written_atomically_over_a_planted_symlink(
        fake: FakeDashScope, client: httpx.Client, tmp_path: Path) -> None:
    records, sheet = tmp_path / "records", image(tmp_path, "mei.png")
    adapter(fake, client, upload_dir=records).submit(clip("Mei runs.", references=(sheet,)))
    (record,) = records.iterdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("not shotmake's")
    record.unlink()
    record.symlink_to(victim)  # planted where the next record goes
    adapter(fake, client, upload_dir=records).submit(clip("Mei waves.", references=(sheet,)))
    assert victim.read_text() == "not shotmake's"
    assert not record.is_symlink() and DEFAULT_KEY not in record.read_text()
    assert len(fake.uploads()) == 2  # the planted file was not a record: the sheet went up again


# -- where the key goes, how much a server may send ----------------------------------------------
@pytest.fixture
def other() -> Iterator[OtherOrigin]:
    with OtherOrigin() as server:
        yield server


def test_the_key_never_follows_a_redirect_to_another_origin(
        wan: DashScopeVideo, fake: FakeDashScope, other: OtherOrigin, tmp_path: Path) -> None:
    job = wan.submit(clip())
    # a poll moved elsewhere is followed (GET) without the key; the other host knows no task
    fake.faults.append(Fault("get", kind="redirect", location=other.url))
    with pytest.raises(TerminalError, match="HTTP 404") as caught:
        wan.poll(job)
    assert DEFAULT_KEY not in str(caught.value)
    # a create moved elsewhere is refused: the body (and key) are never replayed there
    fake.faults.append(Fault("create", kind="redirect", location=other.url))
    with pytest.raises(TerminalError, match="307") as caught:
        wan.submit(clip("The lamp room."))
    assert DEFAULT_KEY not in str(caught.value)
    # nor is an upload (the form is a write capability on the store)
    fake.faults.append(Fault("upload", kind="redirect", location=other.url))
    with pytest.raises(TerminalError, match="redirect"):
        wan.submit(clip("Mei runs.", references=(image(tmp_path, "s.png"),)))
    # the result URL redirected to another host: fetched there, never with the key
    status = finish(wan, job)
    other.files[f"/results/{job}.mp4"] = fake_mp4(5, "640x360")
    fake.faults.append(Fault("download", kind="redirect", location=other.url))
    assert wan.download(job, tmp_path / "out.mp4", status)["bytes"] == len(other.files[f"/results/{job}.mp4"])
    assert [r.method for r in other.requests] == ["GET", "GET"] and not other.saw(DEFAULT_KEY)
    assert not any("authorization" in r.headers for r in fake.storage.requests)
    assert all(r.headers["authorization"] == f"Bearer {DEFAULT_KEY}" for r in fake.requests)
    assert len(fake.tasks) == 1


@pytest.mark.parametrize("kind", ["endless", "gzip_bomb", "gzip"])
def test_a_download_over_the_cap_is_cut_and_leaves_nothing(
        fake: FakeDashScope, client: httpx.Client, tmp_path: Path, kind: str) -> None:
    wan = adapter(fake, client, limits=BodyLimits(max_bytes=1 << 20, deadline=30.0))
    job = wan.submit(clip())
    status = finish(wan, job)
    fake.faults.append(Fault("download", kind=kind))
    out = tmp_path / "out" / "clip.mp4"
    out.parent.mkdir()
    if kind == "gzip":  # compressed although identity was asked for: decoded within the cap, intact
        wan.download(job, out, status)
        assert out.read_bytes()[4:8] == b"ftyp"
        return
    with pytest.raises(TransferAborted, match="download passed the cap of 1.0 MiB.*max_download_mb"):
        wan.download(job, out, status)
    assert list(out.parent.iterdir()) == []


def test_an_api_answer_or_upload_reply_over_the_cap_is_cut(
        fake: FakeDashScope, client: httpx.Client, tmp_path: Path) -> None:
    wan = adapter(fake, client, limits=BodyLimits(max_bytes=1 << 20, deadline=30.0))
    job = wan.submit(clip())
    fake.faults.append(Fault("get", kind="endless"))
    with pytest.raises(TransferAborted, match="answer passed the cap of 2.3 MiB"):
        wan.poll(job)
    fake.faults.append(Fault("upload", kind="gzip_bomb"))
    with pytest.raises(TransferAborted, match="answer passed the cap"):
        wan.submit(clip("Mei runs.", references=(image(tmp_path, "s.png"),)))
    assert finish(wan, job).state == "succeeded"  # the job itself is untouched


def test_cost_is_seconds_times_the_resolution_price(wan: DashScopeVideo) -> None:
    assert wan.estimate_cost(clip(duration=10.0)) == pytest.approx(1.0)
    assert wan.estimate_cost(clip(duration=10.0, resolution="1080p")) == pytest.approx(1.5)


def test_the_registry_hands_the_cache_directory_to_the_adapter(tmp_path: Path) -> None:
    from shotmake.providers.registry import EnvironmentRegistry

    registry = EnvironmentRegistry(env={"DASHSCOPE_API_KEY": "sk-x"}, state_dir=tmp_path, download_seconds=42.0)
    try:
        wan = registry.get("wan-2.7")
        assert isinstance(wan, DashScopeVideo) and wan.uploads.directory == tmp_path / "uploads" / "dashscope"
        # and the route's limits (max_download_mb, [remote] download_minutes), which bound every body
        assert wan._session.limits == BodyLimits.for_route(ROUTES["wan-2.7"].max_download_mb, 42.0)
        assert registry.get("local").name == "local"  # adapters without state take none
    finally:
        registry.close()


def test_the_fake_refuses_what_the_service_refuses(fake: FakeDashScope, client: httpx.Client,
                                                   tmp_path: Path) -> None:
    """The fake is strict where the adapter could go wrong, so the tests above can fail."""
    auth = {"Authorization": f"Bearer {DEFAULT_KEY}"}
    create = fake.base_url + "/services/aigc/video-generation/video-synthesis"
    body = {"model": "wan2.7-r2v", "input": {"prompt": "p", "media": []}, "parameters": {"duration": 5}}
    assert client.post(create, json=body, headers=auth).status_code == 403  # no X-DashScope-Async
    wan = adapter(fake, client)
    wan.submit(clip("Mei runs.", references=(image(tmp_path, "s.png"),)))
    url = fake.creates()[-1].json()["input"]["media"][0]["url"]
    body["input"]["media"] = [{"type": "reference_image", "url": url}]
    sync = {**auth, "X-DashScope-Async": "enable"}
    assert client.post(create, json=body, headers=sync).json()["message"].startswith("oss:// urls need")
    other = {**body, "model": "wan3.0-video"}
    resolve = {**sync, "X-DashScope-OssResourceResolve": "enable"}
    assert "not uploaded for model wan3.0-video" in client.post(create, json=other, headers=resolve).text
    assert client.post(create, json=body, headers=resolve).status_code == 200
    # the storage host: no Authorization, the SDK's fields in order, keys under the policy's directory
    policy = client.get(fake.base_url + "/uploads", params={"action": "getPolicy", "model": "wan2.7-r2v"},
                        headers=auth).json()["data"]
    form = {"OSSAccessKeyId": policy["oss_access_key_id"], "Signature": policy["signature"],
            "policy": policy["policy"], "key": policy["upload_dir"] + "/a.png", "x-oss-object-acl": "private",
            "x-oss-forbid-overwrite": "true", "success_action_status": "200", "x-oss-content-type": "image/png"}
    post = fake.storage.url + "/"
    assert client.post(post, data=form, files={"file": ("a.png", b"x")}, headers=auth).status_code == 400
    assert client.post(post, data={**form, "key": "elsewhere/a.png"}, files={"file": ("a.png", b"x")}
                       ).status_code == 403
    assert client.post(post, data=form, files={"file": ("a.png", b"x")}).status_code == 200


def test_a_create_that_timed_out_is_looked_up_before_it_is_sent_again(fake: FakeDashScope) -> None:
    with httpx.Client(timeout=0.3) as impatient:
        wan = adapter(fake, impatient)
        fake.faults.append(Fault("create", kind="delay", seconds=0.8))
        request = clip("A slow answer.")
        with pytest.raises(RetryableError, match="ReadTimeout"):
            wan.submit(request)
        time.sleep(0.8)  # the fake finishes the create it was sent
        job = wan.submit(request)
    assert list(fake.tasks) == [job] and len(fake.creates()) == 1
