"""Conformance: shotmake's DashScope requests equal what the official SDK (dashscope 2.0.2) sends.

Source of the facts compared here: the SDK itself. The SDK (``dashscope.Client``, its ``videos.jobs`` resource, which uploads local files with the
1.x ``OssUtils``) and shotmake's adapter each drive their own recording fake
(``tests/fakes/dashscope_server.py``) for the same shots: text only (t2v), two local frames
(i2v, uploaded), local character sheets (r2v, uploaded) and wan3.0-video with references.
For every request pair we compare method, path, query, the headers that matter and the body.

Normalised, because they are legitimately free: ``user-agent``, ``x-dashscope-sdk-*``
headers, ``Date`` on the upload, the file part's own Content-Type (httpx sets it, requests does not),
content-type parameters (``; charset=``, multipart boundary),
the per-policy values each fake issued (``upload_dir``, ``Signature``, ``policy``: compared
against what *that* fake issued), and the uploaded file's name, for which the SDK takes the
local basename and shotmake the content digest (the test names the SDK's file the same way).
"""

from __future__ import annotations

import hashlib
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shotmake.providers.base import InputFile, RenderRequest
from shotmake.providers.dashscope_upload import object_name
from shotmake.providers.dashscope_video import DashScopeVideo
from tests.fakes.dashscope_server import DEFAULT_KEY, FakeDashScope
from tests.fakes.openai_server import fake_png, parse_multipart
from tests.fakes.server import Request

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the SDK's own deprecation chatter is not ours to fail on
    dashscope = pytest.importorskip("dashscope", reason="the official SDK is a test dependency")

#: Headers whose values must match (lower-case); the rest are the SDK's telemetry.
COMPARED_HEADERS = ("authorization", "x-dashscope-async", "x-dashscope-ossresourceresolve", "x-dashscope-workspace",
                    "accept")


@pytest.fixture
def fakes() -> Iterator[tuple[FakeDashScope, FakeDashScope]]:
    with FakeDashScope() as sdk_side, FakeDashScope() as our_side:
        yield sdk_side, our_side


def local_image(tmp_path: Path, n: int) -> InputFile:
    data = fake_png(40 + n, 30)
    digest = hashlib.sha256(data).hexdigest()
    path = tmp_path / f"in{n}" / object_name(digest, "image/png")  # the name shotmake gives the upload
    path.parent.mkdir()
    path.write_bytes(data)
    return InputFile(path, digest, "image/png")


@pytest.fixture
def sdk_client() -> Iterator[Callable[[FakeDashScope], Any]]:
    """Make official SDK clients (retries off: one request per call, as shotmake's adapter makes)."""
    made: list[Any] = []

    def make(fake: FakeDashScope, **options: Any) -> Any:
        made.append(dashscope.Client(api_key=DEFAULT_KEY, base_url=fake.base_url, max_retries=0, **options))
        return made[-1]

    yield make
    for sdk in made:
        sdk.close()


def normalise(request: Request, fake: FakeDashScope) -> dict[str, Any]:
    """The comparable part of one request (see the module docstring for what is left out)."""
    headers = {k: v for k, v in request.headers.items() if k in COMPARED_HEADERS}
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    path = request.path
    for task_id in fake.tasks:  # each fake numbers its own tasks
        path = path.replace(task_id, "<task_id>")
    out: dict[str, Any] = {"method": request.method, "path": path, "query": request.query,
                           "headers": headers, "content-type": kind}
    if kind == "application/json":
        out["body"] = _strip_dirs(request.json(), fake)
    elif kind == "multipart/form-data":
        parts = parse_multipart(request.body, request.headers["content-type"])
        issued = {sig: d for sig, (_, d, _) in fake.policies.items()}
        form = []
        for part in parts:
            value: Any = part.data
            if part.name == "Signature":
                value = "<issued>" if part.text in issued else part.text
            elif part.name == "policy":
                value = "<policy>"
            elif part.name == "key":
                value = _strip_dirs(part.text, fake)
            # httpx always labels a file part with its type; the SDK (requests) sends none. The stored
            # object's type comes from the x-oss-content-type field, compared above.
            form.append((part.name, value, part.filename))
        out["form"] = form
    return out


def _strip_dirs(value: Any, fake: FakeDashScope) -> Any:
    if isinstance(value, str):
        for _, upload_dir, _ in fake.policies.values():
            value = value.replace(upload_dir, "<upload_dir>")
        return value
    if isinstance(value, list):
        return [_strip_dirs(v, fake) for v in value]
    if isinstance(value, dict):
        return {k: _strip_dirs(v, fake) for k, v in value.items()}
    return value


def compare(fakes: tuple[FakeDashScope, FakeDashScope]) -> list[dict[str, Any]]:
    sdk_side, our_side = fakes
    theirs = [normalise(r, sdk_side) for r in sdk_side.requests + sdk_side.storage.requests]
    ours = [normalise(r, our_side) for r in our_side.requests + our_side.storage.requests]
    key = lambda r: (r["path"], str(r.get("form", r.get("body"))))  # noqa: E731  (the SDK uploads in its own order)
    assert sorted(ours, key=key) == sorted(theirs, key=key)
    assert not any("authorization" in r["headers"] for r in theirs + ours if r["path"] == "/")
    return ours


def shot(prompt: str, **kw: Any) -> RenderRequest:
    values: dict[str, Any] = dict(node_id="clip:x", key=f"k-{prompt}", kind="clip", model="", prompt=prompt,
                                  duration=5.0, resolution="720p", aspect="16:9")
    values.update(kw)
    return RenderRequest(**values)


def ours(fake: FakeDashScope, client: httpx.Client, route: str = "wan-2.7", workspace: str = "") -> DashScopeVideo:
    return DashScopeVideo(route, api_key=DEFAULT_KEY, base_url=fake.base_url, client=client, workspace=workspace)


def test_text_only_create_poll_and_list_match_the_sdk(fakes: tuple[FakeDashScope, FakeDashScope], sdk_client: Callable[[FakeDashScope], Any],
                                                      client: httpx.Client) -> None:
    sdk_side, our_side = fakes
    request = shot("A lighthouse on black cliffs at dusk.", negative_prompt="text, watermark", seed=42,
                   duration=10.0, aspect="9:16", resolution="1080p")
    sdk = sdk_client(sdk_side)
    job = sdk.videos.jobs.create(model="wan2.7-t2v", prompt=request.prompt,
                                 extra_input={"negative_prompt": "text, watermark"}, seed=42, duration=10,
                                 resolution="1080P", ratio="9:16", prompt_extend=False, watermark=False,
                                 parameters={"audio": True})
    sdk.videos.jobs.fetch(job.task_id)
    wan = ours(our_side, client)
    wan.poll(wan.submit(request))
    # the list as reconcile sends it, and the SDK's list with the same window and page
    assert wan.reconcile(request, time.time() - 60) is not None
    listed = next(r for r in our_side.requests if r.path.endswith("/tasks"))
    window = {k: v[0] for k, v in listed.query.items()}
    sdk.videos.jobs.list(start_time=window["start_time"], end_time=window["end_time"],
                         model_name=window["model_name"], page_no=int(window["page_no"]),
                         page_size=int(window["page_size"]))
    # reconcile fetched the candidate task once more: do the same on the SDK side
    sdk.videos.jobs.fetch(job.task_id)
    sent = compare(fakes)
    create = next(r for r in sent if r["method"] == "POST")
    assert create["headers"]["x-dashscope-async"] == "enable"
    assert create["body"]["parameters"]["prompt_extend"] is False
    assert sorted(f"{r['method']} {r['path']}" for r in sent) == [
        "GET /api/v1/tasks", "GET /api/v1/tasks/<task_id>", "GET /api/v1/tasks/<task_id>",
        "POST /api/v1/services/aigc/video-generation/video-synthesis"]


def test_local_frames_are_uploaded_and_sent_like_the_sdk(fakes: tuple[FakeDashScope, FakeDashScope], sdk_client: Callable[[FakeDashScope], Any],
                                                         client: httpx.Client, tmp_path: Path) -> None:
    sdk_side, our_side = fakes
    first, last = local_image(tmp_path, 1), local_image(tmp_path, 2)
    sdk = sdk_client(sdk_side)
    sdk.videos.jobs.create(model="wan2.7-i2v", prompt="Mei turns to the sea.",
                           media=[{"type": "first_frame", "url": f"file://{first.path}"},
                                  {"type": "last_frame", "url": f"file://{last.path}"}],
                           duration=5, resolution="720P", prompt_extend=False, watermark=False,
                           parameters={"audio": False})
    ours(our_side, client).submit(shot("Mei turns to the sea.", first_frame=first, last_frame=last, audio=False))
    sent = compare(fakes)
    uploads = [r for r in sent if r["path"] == "/"]
    assert len(uploads) == 2 and [f[0] for f in uploads[0]["form"]][-1] == "file"
    create = next(r for r in sent if r["path"].endswith("video-synthesis"))
    assert create["headers"]["x-dashscope-ossresourceresolve"] == "enable"
    assert all(m["url"].startswith("oss://<upload_dir>/") for m in create["body"]["input"]["media"])


def test_character_sheets_as_r2v_references_match_the_sdk(fakes: tuple[FakeDashScope, FakeDashScope], sdk_client: Callable[[FakeDashScope], Any],
                                                          client: httpx.Client, tmp_path: Path) -> None:
    sdk_side, our_side = fakes
    sheets = (local_image(tmp_path, 3), local_image(tmp_path, 4))
    sdk = sdk_client(sdk_side)
    sdk.videos.jobs.create(model="wan2.7-r2v", prompt="Mei and Kai push a boat into the fog.",
                           media=[{"type": "reference_image", "url": f"file://{s.path}"} for s in sheets],
                           extra_input={"negative_prompt": "blurry faces"}, seed=3, duration=8, resolution="720P",
                           ratio="16:9", prompt_extend=False, watermark=False, parameters={"audio": True})
    ours(our_side, client).submit(shot("Mei and Kai push a boat into the fog.", references=sheets, seed=3,
                                       duration=8.0, negative_prompt="blurry faces"))
    compare(fakes)


def test_wan_3_with_references_matches_the_sdk(fakes: tuple[FakeDashScope, FakeDashScope], sdk_client: Callable[[FakeDashScope], Any],
                                               client: httpx.Client, tmp_path: Path) -> None:
    sdk_side, our_side = fakes
    refs = tuple(local_image(tmp_path, 10 + i) for i in range(3))
    sdk = sdk_client(sdk_side)
    sdk.videos.jobs.create(model="wan3.0-video", prompt="The harbour at dawn.",
                           media=[{"type": "reference_image", "url": f"file://{r.path}"} for r in refs],
                           duration=20, resolution="1080P", ratio="16:9", prompt_extend=False, watermark=False,
                           parameters={"audio": True})
    ours(our_side, client, "wan-3.0").submit(shot("The harbour at dawn.", references=refs, duration=20.0,
                                                  resolution="1080p"))
    compare(fakes)


def test_wan_3_with_a_voice_sample_as_reference_audio_matches_the_sdk(
        fakes: tuple[FakeDashScope, FakeDashScope], sdk_client: Callable[[FakeDashScope], Any],
        client: httpx.Client, tmp_path: Path) -> None:
    sdk_side, our_side = fakes
    sheet = local_image(tmp_path, 20)
    data = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(28)
    digest = hashlib.sha256(data).hexdigest()
    voice = tmp_path / "voice" / object_name(digest, "audio/wav")  # the name shotmake gives the upload
    voice.parent.mkdir()
    voice.write_bytes(data)
    sdk = sdk_client(sdk_side)
    sdk.videos.jobs.create(model="wan3.0-video", prompt="Mei calls out across the harbour.",
                           media=[{"type": "reference_image", "url": f"file://{sheet.path}"},
                                  {"type": "reference_audio", "url": f"file://{voice}"}],
                           duration=5, resolution="720P", ratio="16:9", prompt_extend=False, watermark=False,
                           parameters={"audio": True})
    sample = InputFile(voice, digest, "audio/wav")  # what a character's voice sample arrives as
    ours(our_side, client, "wan-3.0").submit(shot("Mei calls out across the harbour.", references=(sheet, sample)))
    sent = compare(fakes)
    creates = [r for r in sent if r["path"].endswith("video-synthesis")]
    assert [m["type"] for m in creates[0]["body"]["input"]["media"]] == ["reference_image", "reference_audio"]


def test_a_workspace_is_named_on_every_api_request_like_the_sdk(
        fakes: tuple[FakeDashScope, FakeDashScope], sdk_client: Callable[[FakeDashScope], Any],
        client: httpx.Client, tmp_path: Path) -> None:
    """``DASHSCOPE_WORKSPACE``: the SDK's ``workspace=`` header on the policy request, the create and the poll."""
    sdk_side, our_side = fakes
    first = local_image(tmp_path, 30)
    sdk = sdk_client(sdk_side, workspace="ws-shotmake-1")
    job = sdk.videos.jobs.create(model="wan2.7-i2v", prompt="The lamp flickers.",
                                 media=[{"type": "first_frame", "url": f"file://{first.path}"}],
                                 duration=5, resolution="720P", prompt_extend=False, watermark=False,
                                 parameters={"audio": True})
    sdk.videos.jobs.fetch(job.task_id)
    wan = ours(our_side, client, workspace="ws-shotmake-1")
    wan.poll(wan.submit(shot("The lamp flickers.", first_frame=first)))
    sent = compare(fakes)
    api = [r for r in sent if r["path"] != "/"]
    assert len(api) == 3 and all(r["headers"]["x-dashscope-workspace"] == "ws-shotmake-1" for r in api)
