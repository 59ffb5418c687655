"""The OpenAI protocols as the official SDK speaks them: openai-python drives one recording fake,
shotmake's adapters another, for the same renders; method, path, the headers that matter and the
body (JSON, or multipart fields and files) must be the same.

Free to differ, and so left out: user-agent and the SDK's ``x-stainless-*`` telemetry headers, the
multipart boundary, ``accept``/``accept-encoding`` (shotmake asks for identity encoding on purpose),
and the file name of an uploaded image (the SDK sends the name of the file object it was given).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shotmake.providers.base import InputFile, RenderRequest
from shotmake.providers.openai_images import OpenAIImages
from shotmake.providers.openai_videos import OpenAIVideos
from tests.fakes.openai_server import FakeOpenAI, decoded_form, fake_png
from tests.fakes.server import Request

openai = pytest.importorskip("openai")  # the [test] extra installs it; never imported by shotmake

KEEP_HEADERS = ("authorization", "content-type")


def shape(request: Request) -> dict[str, Any]:
    """What must match: method, path, query, the headers that carry meaning, and the decoded body."""
    headers = {k: request.headers.get(k, "").split(";")[0] for k in KEEP_HEADERS if k in request.headers}
    body: Any = None
    kind = headers.get("content-type", "")
    if kind == "multipart/form-data":
        body = {name: [(p.data if p.filename is None else ("file", p.content_type, p.data)) for p in parts]
                for name, parts in sorted(decoded_form(request).items())}
    elif request.body:
        body = json.loads(request.body)
    return {"method": request.method, "path": request.path, "query": request.query, "headers": headers,
            "body": body}


@pytest.fixture
def pair() -> Iterator[tuple[FakeOpenAI, FakeOpenAI]]:
    with FakeOpenAI(polls_to_complete=1, queued_polls=0) as sdk_side, \
            FakeOpenAI(polls_to_complete=1, queued_polls=0) as our_side:
        yield sdk_side, our_side


def sdk_client(fake: FakeOpenAI) -> Any:
    return openai.OpenAI(api_key=fake.api_key, base_url=fake.base_url, max_retries=0)


def png_input(tmp_path: Path, name: str, width: int, height: int) -> InputFile:
    path = tmp_path / name
    path.write_bytes(fake_png(width, height))
    return InputFile(path=path, digest="d" * 64, mime="image/png")


@pytest.mark.filterwarnings("ignore:The Sora API is scheduled:DeprecationWarning")  # the SDK says so, rightly
def test_sora_create_poll_and_download_match_the_sdk(pair: tuple[FakeOpenAI, FakeOpenAI], tmp_path: Path) -> None:
    sdk_side, our_side = pair
    frame = png_input(tmp_path, "first.png", 1280, 720)
    client = sdk_client(sdk_side)
    with open(frame.path, "rb") as image:
        video = client.videos.create(prompt="A grey sea under rain clouds.", model="sora-2-pro", seconds="4",
                                     size="1280x720", input_reference=("first.png", image, "image/png"))
    client.videos.retrieve(video.id)
    client.videos.download_content(video.id, variant="video").read()  # shotmake names the default variant

    with httpx.Client() as http:
        ours = OpenAIVideos("sora-2", api_key=our_side.api_key, base_url=our_side.base_url, client=http)
        request = RenderRequest(node_id="clip:sea", key="k", kind="clip", model="sora-2-pro",
                                prompt="A grey sea under rain clouds.", duration=4.0, first_frame=frame)
        job = ours.submit(request)
        status = ours.poll(job)
        ours.download(job, tmp_path / "clip.mp4", status)

    sdk_requests, our_requests = sdk_side.requests, our_side.requests
    assert [(r.method, r.path.replace(video.id, "ID")) for r in sdk_requests] == \
        [(r.method, r.path.replace(job, "ID")) for r in our_requests]
    create_sdk, create_ours = shape(sdk_requests[0]), shape(our_requests[0])
    assert create_ours == create_sdk
    assert set(create_ours["body"]) == {"prompt", "model", "seconds", "size", "input_reference"}
    for sdk_req, our_req in zip(sdk_requests[1:], our_requests[1:], strict=True):
        assert shape(our_req) | {"path": ""} == shape(sdk_req) | {"path": ""}


def sheet(model: str, references: tuple[InputFile, ...] = ()) -> RenderRequest:
    return RenderRequest(node_id="sheet:mei", key="s", kind="sheet", model=model,
                         prompt="Character turnaround sheet of Mei.", width=1024, height=1024, aspect="1:1",
                         resolution="1K", references=references)


def test_image_generation_matches_the_sdk(pair: tuple[FakeOpenAI, FakeOpenAI], tmp_path: Path) -> None:
    sdk_side, our_side = pair
    sdk_client(sdk_side).images.generate(model="gpt-image-2", prompt="Character turnaround sheet of Mei.", n=1,
                                         size="1024x1024", quality="high", output_format="png")
    with httpx.Client() as http:
        OpenAIImages("gpt-image-2", api_key=our_side.api_key, base_url=our_side.base_url,
                     client=http).render(sheet(""), tmp_path / "sheet.png")
    assert shape(our_side.requests[0]) == shape(sdk_side.requests[0])
    assert shape(our_side.requests[0])["path"] == "/v1/images/generations"


def test_image_edits_with_references_match_the_sdk(pair: tuple[FakeOpenAI, FakeOpenAI], tmp_path: Path) -> None:
    sdk_side, our_side = pair
    refs = (png_input(tmp_path, "a.png", 256, 256), png_input(tmp_path, "b.png", 256, 256))
    with open(refs[0].path, "rb") as a, open(refs[1].path, "rb") as b:
        sdk_client(sdk_side).images.edit(model="gpt-image-1.5", prompt="Character turnaround sheet of Mei.",
                                         image=[("a.png", a, "image/png"), ("b.png", b, "image/png")], n=1,
                                         size="1024x1024", quality="high", input_fidelity="high",
                                         output_format="png")
    with httpx.Client() as http:
        OpenAIImages("gpt-image-2", api_key=our_side.api_key, base_url=our_side.base_url,
                     client=http).render(sheet("gpt-image-1.5", refs), tmp_path / "sheet.png")
    ours, theirs = shape(our_side.requests[0]), shape(sdk_side.requests[0])
    assert ours == theirs and ours["path"] == "/v1/images/edits"
    assert len(ours["body"]["image[]"]) == 2
