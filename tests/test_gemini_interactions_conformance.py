"""Conformance: shotmake's Omni adapter sends what Google's own SDK sends for the same render.

google-genai (test-only dependency, 3.6.1+) drives ``client.interactions.create/get`` and
``client.files.download`` against a recording loopback server; shotmake's ``GeminiInteractions``
renders the equivalent ``RenderRequest`` against another. The two request logs must agree on
method, path, query, the headers that matter (``x-goog-api-key``, ``accept``, and
``content-type`` where there is a body) and the JSON body, compared whole.

The SDK calls below are written from the Omni guide's shapes (content blocks, ``video_config``,
``response_format``), not from the adapter: only the prompt text with its role tags is the same
string on both sides, since the tags are shotmake's choice of words within the guide's syntax.

Normalised, because they are legitimately free: ``user-agent`` and ``x-goog-api-client`` (the
SDK names itself), ``accept-encoding``/``connection``/``host``/``content-length`` (transport), and
``content-type`` on body-less GETs (the SDK sends one on every request). Key order in JSON is
irrelevant (bodies are compared as parsed objects).
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from google import genai

from shotmake.providers.base import InputFile, RenderRequest
from shotmake.providers.gemini_interactions import GeminiInteractions
from tests.fakes.google_server import sample_mp4, sample_png
from tests.fakes.server import FakeServer, Request, Response

KEY = "AIza-conformance-key-0000"
PROMPT = "Mei climbs the spiral stairs of the lighthouse, lantern in hand."
#: Headers compared on every request (others are transport or self-description, see module doc).
HEADERS = ("x-goog-api-key", "accept")


class Recorder(FakeServer):
    """Answers like the Interactions API, without judging: background creates, completed GETs."""

    def __init__(self) -> None:
        super().__init__()
        self.ids = itertools.count(1)

    def handle(self, request: Request) -> Response:
        if request.method == "POST" and request.path.endswith("/interactions"):
            return Response.json({"id": f"v1_rec{next(self.ids)}", "status": "in_progress", "object": "interaction"})
        if request.method == "GET" and "/interactions/" in request.path:
            uri = f"{self.url}/v1beta/files/abc123:download?alt=media"
            return Response.json({"id": request.path.rsplit("/", 1)[-1], "status": "completed",
                                  "object": "interaction", "model": "gemini-omni-1.2-flash", "steps": [
                                      {"type": "model_output",
                                       "content": [{"type": "video", "mime_type": "video/mp4", "uri": uri}]}]})
        if request.method == "GET" and request.path.endswith(":download"):
            return Response(body=sample_mp4(3.0), headers={"content-type": "video/mp4"})
        return Response.json({"error": {"code": 404, "message": "no such path", "status": "NOT_FOUND"}}, 404)


def seen(request: Request) -> dict[str, Any]:
    """What is compared of one request."""
    headers = {h: request.headers.get(h) for h in HEADERS}
    if request.body:
        headers["content-type"] = request.headers.get("content-type")
    return {"method": request.method, "path": request.path, "query": request.query, "headers": headers,
            "json": request.json() if request.body else None}


@pytest.fixture
def images(tmp_path: Path) -> dict[str, InputFile]:
    out = {}
    for i, name in enumerate(("first", "last", "sheet-mei", "sheet-kai")):
        path = tmp_path / f"{name}.png"
        path.write_bytes(sample_png(8 + i, 8, (20 * i, 40, 90)))
        out[name] = InputFile(path=path, digest=name, mime="image/png")
    return out


def b64(image: InputFile) -> str:
    return base64.b64encode(image.path.read_bytes()).decode()


@pytest.fixture
def servers() -> Iterator[tuple[Recorder, Recorder]]:
    with Recorder() as sdk_side, Recorder() as ours:
        yield sdk_side, ours


def sdk_client(server: Recorder) -> genai.Client:
    return genai.Client(api_key=KEY, http_options={"base_url": server.url, "api_version": "v1beta"})


def video_format(duration: str, resolution: str = "720p", aspect: str = "16:9") -> dict[str, str]:
    return {"type": "video", "aspect_ratio": aspect, "resolution": resolution, "duration": duration,
            "delivery": "uri"}


def cases(images: dict[str, InputFile], tmp_path: Path) -> list[tuple[str, str, RenderRequest, dict[str, Any]]]:
    """(name, route, shotmake's request, the SDK's create arguments) for text, references, frames, extension.

    ``model=""`` is the route's model; a request's model is a model id, never a route name.
    """
    base = {"node_id": "clip:a", "key": "k", "kind": "clip", "prompt": PROMPT}
    first, last, mei, kai = (images[n] for n in ("first", "last", "sheet-mei", "sheet-kai"))
    source = InputFile(path=tmp_path / "a.mp4", digest="a", mime="video/mp4",
                       meta={"interaction": "v1_rec1", "remote_uri": ""})
    refs_text = f"{PROMPT}\n\n[# References <IMAGE_REF_0>@Image1 <IMAGE_REF_1>@Image2]"
    frames_text = (f"{PROMPT}\n\n[# Sources <FIRST_FRAME>@Image1 <LAST_FRAME>@Image2] "
                   "[# References <IMAGE_REF_0>@Image3]")
    return [
        ("text", "gemini-omni", RenderRequest(**base, model="", duration=8.0, seed=42), {
            "model": "gemini-omni-1.2-flash", "input": [{"type": "text", "text": PROMPT}],
            "generation_config": {"seed": 42, "video_config": {"task": "text_to_video"}},
            "response_format": video_format("8s"), "background": True, "store": True}),
        ("references", "gemini-omni-1.1", RenderRequest(**base, model="", duration=10.0, resolution="1080p",
                                                        aspect="9:16", references=(mei, kai)), {
            "model": "gemini-omni-1.1-flash",
            "input": [{"type": "text", "text": refs_text},
                      {"type": "image", "data": b64(mei), "mime_type": "image/png"},
                      {"type": "image", "data": b64(kai), "mime_type": "image/png"}],
            "generation_config": {"video_config": {"task": "reference_to_video"}},
            "response_format": video_format("10s", "1080p", "9:16"), "background": True, "store": True}),
        ("frames", "gemini-omni", RenderRequest(**base, model="", duration=5.0, resolution="4k", first_frame=first,
                                 last_frame=last, references=(mei,)), {
            "model": "gemini-omni-1.2-flash",
            "input": [{"type": "text", "text": frames_text},
                      {"type": "image", "data": b64(first), "mime_type": "image/png"},
                      {"type": "image", "data": b64(last), "mime_type": "image/png"},
                      {"type": "image", "data": b64(mei), "mime_type": "image/png"}],
            "generation_config": {"video_config": {"task": "image_to_video"}},
            "response_format": video_format("5s", "4k"), "background": True, "store": True}),
        ("extension", "gemini-omni", RenderRequest(**base, model="", duration=4.0, seed=3, extends=source), {
            "model": "gemini-omni-1.2-flash", "input": [{"type": "text", "text": PROMPT}],
            "previous_interaction_id": "v1_rec1",
            "generation_config": {"seed": 3, "video_config": {"task": "extend"}},
            "response_format": video_format("4s"), "background": True, "store": True}),
        ("pinned model", "gemini-omni", RenderRequest(**base, model="gemini-omni-flash-preview", duration=6.0), {
            "model": "gemini-omni-flash-preview", "input": [{"type": "text", "text": PROMPT}],
            "generation_config": {"video_config": {"task": "text_to_video"}},
            "response_format": video_format("6s"), "background": True, "store": True}),
    ]


def test_creates_polls_and_downloads_match_the_official_sdk(
    servers: tuple[Recorder, Recorder], images: dict[str, InputFile], tmp_path: Path
) -> None:
    sdk_side, ours = servers
    client = sdk_client(sdk_side)
    with httpx.Client(timeout=10.0) as http_client:
        adapters = {route: GeminiInteractions(KEY, route=route, base_url=ours.url, client=http_client)
                    for route in ("gemini-omni", "gemini-omni-1.1")}
        omni = adapters["gemini-omni"]
        for name, route, request, kwargs in cases(images, tmp_path):
            before = (len(sdk_side.requests), len(ours.requests))
            interaction = client.interactions.create(**kwargs)
            client.interactions.get(interaction.id)
            adapter = adapters[route]
            job = adapter.submit(request)
            adapter.poll(job)
            assert job == interaction.id  # both sides got the recorder's n-th id
            sdk_log = [seen(r) for r in sdk_side.requests[before[0]:]]
            our_log = [seen(r) for r in ours.requests[before[1]:]]
            assert our_log == sdk_log, name
        # The download: the SDK's files.download for the file the interaction's URI names, and ours
        # (the SDK takes the id after ``files/``; it reads loopback URIs wrongly, so it gets the name).
        status = omni.poll("v1_rec1")
        assert status.meta["uri"] == f"{ours.url}/v1beta/files/abc123:download?alt=media"
        client.files.download(file="files/abc123")
        omni.download("v1_rec1", tmp_path / "out.mp4", status)
    assert seen(ours.requests[-1]) == seen(sdk_side.requests[-1])
    assert ours.requests[-1].path == "/v1beta/files/abc123:download" and ours.requests[-1].query == {"alt": ["media"]}


def test_the_sdk_wraps_a_content_list_in_one_user_input_step(servers: tuple[Recorder, Recorder]) -> None:
    """Why shotmake sends ``input: [{"type": "user_input", ...}]``: it is what the SDK puts on the wire."""
    sdk_side, _ = servers
    client = sdk_client(sdk_side)  # held: a dropped client closes its connection pool
    client.interactions.create(model="gemini-omni-1.2-flash", input=[{"type": "text", "text": "x"}],
                               response_format={"type": "video"}, background=True)
    assert sdk_side.requests[0].json()["input"] == [{"type": "user_input", "content": [{"type": "text", "text": "x"}]}]
