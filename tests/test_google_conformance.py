"""Veo (Gemini API and Vertex AI) and Gemini images as google-genai speaks them: the official SDK
drives one recording fake, shotmake's adapters another, for the same renders; method, path, the
headers that matter and the JSON body must match.

Free to differ, and so left out: user-agent / ``x-goog-api-client`` telemetry, ``accept-encoding``
(shotmake asks for identity encoding on purpose), and the proto3 JSON mapping's free choices (base64
alphabet, snake or camel field names), which the API reads either way. The SDK sends ``sampleCount``
only when asked for a number of videos, so it is asked for one, as shotmake always sends.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shotmake.providers.base import InputFile, RenderRequest
from shotmake.providers.gemini_image import GeminiImage
from shotmake.providers.vertex_veo import VertexVeo
from tests.fakes.google_server import FakeGemini, proto_bytes, sample_png
from tests.fakes.server import Request
from tests.fakes.vertex_server import FakeVertex

genai = pytest.importorskip("google.genai")  # the [test] extra installs it; never imported by shotmake
types = pytest.importorskip("google.genai.types")

KEEP_HEADERS = ("x-goog-api-key", "authorization", "content-type")


def shape(request: Request) -> dict[str, Any]:
    headers = {k: request.headers.get(k, "").split(";")[0] for k in KEEP_HEADERS if k in request.headers}
    return {"method": request.method, "path": request.path, "headers": headers,
            "body": _bytes_decoded(json.loads(request.body)) if request.body else None}


def _bytes_decoded(value: Any) -> Any:
    """The proto3 JSON mapping's free choices made one way: base64 ``bytes`` decoded (the SDK writes them
    URL-safe, shotmake standard) and field names camelCase (the SDK writes ``mime_type`` inside
    ``inlineData``); the API reads both forms, so the bytes and names must be the same."""
    if isinstance(value, dict):
        return {_camel(k): (proto_bytes(v) if k in ("data", "bytesBase64Encoded") and isinstance(v, str)
                            else _bytes_decoded(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_bytes_decoded(v) for v in value]
    return value


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def png(tmp_path: Path, name: str, rgb: tuple[int, int, int]) -> InputFile:
    path = tmp_path / name
    path.write_bytes(sample_png(32, 18, rgb))
    return InputFile(path=path, digest="d" * 64, mime="image/png")


def sdk_image(image: InputFile) -> Any:
    return types.Image(image_bytes=image.path.read_bytes(), mime_type=image.mime)


@pytest.fixture
def gemini_pair() -> Iterator[tuple[FakeGemini, FakeGemini]]:
    with FakeGemini(polls_until_done=0) as sdk_side, FakeGemini(polls_until_done=0) as our_side:
        yield sdk_side, our_side


def gemini_sdk(fake: FakeGemini) -> Any:
    return genai.Client(api_key=fake.api_key, http_options=types.HttpOptions(base_url=fake.url, api_version="v1beta"))


def test_the_sdk_no_longer_speaks_veo_on_the_gemini_api(gemini_pair: tuple[FakeGemini, FakeGemini]) -> None:
    """google-genai 3.x removed Veo from the Gemini Developer API (shut down there on 2026-10-22): its
    generate_videos refuses before sending. The retired veo-3.1 routes keep their wire format, which was
    checked against google-genai 2.34 (images as bytesBase64Encoded, referenceType ASSET); if a new SDK
    speaks it again, this fails and a conformance test belongs here."""
    sdk_side, _ = gemini_pair
    client = gemini_sdk(sdk_side)
    with pytest.raises(ValueError, match="only supported in Gemini Enterprise Agent Platform mode"):
        client.models.generate_videos(model="veo-3.1-fast-generate-preview",
                                       source=types.GenerateVideosSource(prompt="x"),
                                       config=types.GenerateVideosConfig(number_of_videos=1))
    assert sdk_side.requests == []


def test_gemini_image_generation_matches_the_sdk(gemini_pair: tuple[FakeGemini, FakeGemini], tmp_path: Path) -> None:
    sdk_side, our_side = gemini_pair
    ref = png(tmp_path, "mei.png", (9, 9, 9))
    prompt = "Character turnaround sheet of Mei."
    client = gemini_sdk(sdk_side)
    client.models.generate_content(
        model="gemini-3-pro-image",
        contents=[prompt, types.Part.from_bytes(data=ref.path.read_bytes(), mime_type="image/png")],
        config=types.GenerateContentConfig(response_modalities=["TEXT", "IMAGE"],
                                           image_config=types.ImageConfig(aspect_ratio="1:1", image_size="1K")))
    with httpx.Client() as http:
        GeminiImage(our_side.api_key, route="gemini-3-pro-image", base_url=our_side.url, client=http).render(
            RenderRequest(node_id="sheet:mei", key="s", kind="sheet", model="", prompt=prompt, width=1024,
                          height=1024, aspect="1:1", resolution="1K", references=(ref,)), tmp_path / "sheet.png")
    ours, theirs = shape(our_side.requests[0]), shape(sdk_side.requests[0])
    assert ours == theirs
    assert ours["body"]["contents"][0]["parts"][1]["inlineData"]["data"] == ref.path.read_bytes()


def test_veo_on_vertex_matches_the_sdk(tmp_path: Path) -> None:
    google_credentials = pytest.importorskip("google.oauth2.credentials")
    refs = (png(tmp_path, "mei.png", (1, 2, 3)),)
    prompt = "A lighthouse keeper polishes the great lamp."
    with FakeVertex(polls_until_done=0) as sdk_side, FakeVertex(polls_until_done=0) as our_side:
        client = genai.Client(
            vertexai=True, project=sdk_side.project, location="us-central1",
            credentials=google_credentials.Credentials(token=sdk_side.token),
            http_options=types.HttpOptions(base_url=sdk_side.url, api_version="v1"))
        client.models.generate_videos(
            model="veo-3.1-generate-001", source=types.GenerateVideosSource(prompt=prompt),
            config=types.GenerateVideosConfig(
                number_of_videos=1, aspect_ratio="16:9", resolution="720p", duration_seconds=8, seed=7,
                generate_audio=True,
                reference_images=[types.VideoGenerationReferenceImage(image=sdk_image(refs[0]),
                                                                      reference_type="ASSET")]))
        with httpx.Client() as http:
            vertex = VertexVeo(our_side.project, token=our_side.token, route="veo-3.1-vertex",
                               location="us-central1", base_url=our_side.url, client=http)
            vertex.submit(RenderRequest(node_id="clip:lamp", key="k", kind="clip", model="", prompt=prompt,
                                        duration=8.0, seed=7, references=refs))
        ours, theirs = shape(our_side.requests[0]), shape(sdk_side.requests[0])
    assert ours == theirs
    assert ours["path"].endswith("/publishers/google/models/veo-3.1-generate-001:predictLongRunning")
