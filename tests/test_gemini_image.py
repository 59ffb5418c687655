"""GeminiImage against the loopback generateContent fake: body shape, thoughts, safety, faults."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shotmake.errors import ProviderError, RetryableError, TerminalError
from shotmake.providers.base import InputFile, RenderRequest
from shotmake.providers.gemini_image import GeminiImage, from_env, image_size
from tests.fakes.google_server import (
    FakeGemini,
    http_error,
    image_safety,
    overloaded,
    prompt_blocked,
    rate_limited,
    sample_png,
    text_only,
)

KEY = "AIzaSy-image-key-0123456789-never-leak"


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    with FakeGemini(api_key=KEY) as server:
        assert isinstance(server, FakeGemini)
        yield server


@pytest.fixture
def make_image(fake: FakeGemini) -> Iterator[Callable[..., GeminiImage]]:
    made: list[GeminiImage] = []

    def make(**kwargs: Any) -> GeminiImage:
        kwargs.setdefault("base_url", fake.url)
        adapter = GeminiImage(KEY, **kwargs)  # owns its client: close() must release it
        made.append(adapter)
        return adapter

    yield make
    for adapter in made:
        adapter.close()


def sheet(**kwargs: Any) -> RenderRequest:
    base: dict[str, Any] = {"node_id": "sheet:mei", "key": "k", "kind": "sheet", "model": "gemini-3-pro-image",
                                "prompt": "Character turnaround sheet of Mei.", "aspect": "16:9", "resolution": "2K"}
    base.update(kwargs)
    return RenderRequest(**base)


def reference(tmp_path: Path, name: str, mime: str = "image/png") -> InputFile:
    path = tmp_path / f"{name}.png"
    path.write_bytes(sample_png(12, 12, (9, 9, 9)))
    return InputFile(path=path, digest=name, mime=mime)


def test_sheet_body_skips_thoughts_and_writes_the_final_png(
    fake: FakeGemini, make_image: Callable[..., GeminiImage], tmp_path: Path
) -> None:
    refs = (reference(tmp_path, "a"), reference(tmp_path, "b"))
    seen: list[float] = []
    dest = tmp_path / "mei.png"
    meta = make_image().render(sheet(references=refs, negative_prompt="text", seed=7), dest, seen.append)

    assert len(fake.requests) == 1
    req = fake.requests[0]
    assert req.path == "/v1beta/models/gemini-3-pro-image:generateContent"
    assert req.headers["x-goog-api-key"] == KEY and "key" not in req.query
    data = base64.b64encode(refs[0].path.read_bytes()).decode()
    assert req.json() == {
        "contents": [{"role": "user", "parts": [
            {"text": "Character turnaround sheet of Mei.\n\nAvoid: text"},
            {"inlineData": {"mimeType": "image/png", "data": data}},
            {"inlineData": {"mimeType": "image/png", "data": data}},
        ]}],
        "generationConfig": {"responseModalities": ["TEXT", "IMAGE"],
                             "imageConfig": {"aspectRatio": "16:9", "imageSize": "2K"}, "seed": 7},
    }
    assert dest.read_bytes() == fake.last_image  # the final image, not the thought draft
    assert dest.read_bytes() != sample_png(16, 16, (250, 10, 10))
    assert dest.read_bytes().startswith(b"\x89PNG")
    assert not list(tmp_path.glob("*.part"))
    assert seen == [0.0, 1.0]
    assert meta["mime"] == "image/png" and meta["model"] == "gemini-3-pro-image"
    assert meta["text"] == "Here is the character sheet." and meta["finish_reason"] == "STOP"
    assert KEY not in repr(meta)


def test_flash_route_uses_its_model(fake: FakeGemini, make_image: Callable[..., GeminiImage], tmp_path: Path) -> None:
    make_image(route="gemini-3.1-flash-image").render(sheet(model="", aspect="1:1", resolution="1K"),
                                                      tmp_path / "x.png")
    assert fake.requests[0].path == "/v1beta/models/gemini-3.1-flash-image:generateContent"


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        (image_safety(), "blocked by Google's safety filters \\(IMAGE_SAFETY\\)"),
        (image_safety("IMAGE_PROHIBITED_CONTENT"), "IMAGE_PROHIBITED_CONTENT"),
        (prompt_blocked("PROHIBITED_CONTENT"), "prompt was blocked: PROHIBITED_CONTENT"),
        (http_error("generate", 400, "INVALID_ARGUMENT", "Unsupported image size."), "INVALID_ARGUMENT: Unsupported"),
    ],
)
def test_refusals_are_terminal_with_the_reason(
    fake: FakeGemini, make_image: Callable[..., GeminiImage], tmp_path: Path, fault: Any, words: str
) -> None:
    fake.faults.append(fault)
    with pytest.raises(TerminalError, match=words) as info:
        make_image().render(sheet(), tmp_path / "x.png")
    assert info.value.node == "sheet:mei" and KEY not in str(info.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("fault", "retry_after"),
    [(rate_limited("generate", retry_after=4), 4.0), (overloaded("generate"), None), (text_only(), None)],
)
def test_transient_outcomes_are_retryable(
    fake: FakeGemini, make_image: Callable[..., GeminiImage], tmp_path: Path, fault: Any, retry_after: float | None
) -> None:
    fake.faults.append(fault)
    adapter = make_image()
    with pytest.raises(RetryableError) as info:
        adapter.render(sheet(), tmp_path / "x.png")
    assert info.value.retry_after == retry_after
    assert not (tmp_path / "x.png").exists()
    adapter.render(sheet(), tmp_path / "x.png")
    assert (tmp_path / "x.png").read_bytes() == fake.last_image


def test_limits_are_refused_before_any_request(
    fake: FakeGemini, make_image: Callable[..., GeminiImage], tmp_path: Path
) -> None:
    adapter = make_image()
    many = tuple(reference(tmp_path, f"r{i}") for i in range(15))
    cases = [
        (sheet(references=many), "at most 14 reference images"),
        (sheet(aspect="5:1"), "use one of 1:1, 2:3"),
        (sheet(prompt=" "), "prompt is required"),
        (sheet(first_frame=many[0]), "no frames or extension"),
        (sheet(references=(reference(tmp_path, "g", "image/gif"),)), "image/gif"),
    ]
    for req, words in cases:
        with pytest.raises(TerminalError, match=words):
            adapter.render(req, tmp_path / "x.png")
    assert fake.requests == []


def test_wrong_key_is_terminal_and_never_echoed(fake: FakeGemini, tmp_path: Path) -> None:
    wrong = "AIzaSy-wrong-image-key-77"
    adapter = GeminiImage(wrong, base_url=fake.url)
    try:
        with pytest.raises(TerminalError, match="API key not valid.*GEMINI_API_KEY") as info:
            adapter.render(sheet(), tmp_path / "x.png")
        assert wrong not in str(info.value)
    finally:
        adapter.close()


def test_image_size_from_names_and_pixels() -> None:
    assert image_size(sheet(resolution="4k")) == "4K"
    assert image_size(sheet(resolution="1536x1024")) == "2K"
    assert image_size(sheet(resolution="", width=1024, height=1024)) == "1K"
    assert image_size(sheet(resolution="", width=4096, height=2304)) == "4K"


def test_from_env_and_costs(fake: FakeGemini, tmp_path: Path) -> None:
    with httpx.Client() as client:
        adapter = from_env("gemini-3-pro-image", {"GEMINI_API_KEY": KEY, "GOOGLE_GEMINI_BASE_URL": fake.url}, client)
        adapter.render(sheet(), tmp_path / "x.png")
        assert adapter.estimate_cost(sheet(resolution="2K")) == pytest.approx(0.134)
        assert adapter.estimate_cost(sheet(resolution="4K")) == pytest.approx(0.24)
        cheap = GeminiImage(KEY, client=client, prices={"4K": 0.2})
        assert cheap.estimate_cost(sheet(resolution="4K")) == pytest.approx(0.2)
        with pytest.raises(TerminalError, match="GEMINI_API_KEY"):
            from_env("gemini-3-pro-image", {}, client)
        with pytest.raises(ProviderError, match="cannot serve route 'gpt-image-1'"):
            GeminiImage(KEY, route="gpt-image-1", client=client)


def test_fake_generate_content_is_strict_where_the_api_is(fake: FakeGemini) -> None:
    url = f"{fake.url}/v1beta/models/gemini-3-pro-image:generateContent"
    headers = {"x-goog-api-key": KEY}
    data = base64.b64encode(sample_png(4, 4)).decode()
    with httpx.Client() as client:
        snake = client.post(url, headers=headers, json={
            "contents": [{"parts": [{"text": "x"}, {"inline_data": {"mime_type": "image/png", "data": data}}]}],
            "generation_config": {"response_modalities": ["IMAGE"], "image_config": {"aspect_ratio": "3:2"}}})
        assert snake.status_code == 200
        bad = [
            {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"responseModalities": ["TEXT"]}},
            {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {
                "responseModalities": ["IMAGE"], "imageConfig": {"personGeneration": "allow_all"}}},
            {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {
                "responseModalities": ["IMAGE"], "imageConfig": {"imageSize": "2k"}}},
            {"contents": [{"parts": [{"inlineData": {"mimeType": "image/png", "data": data}}]}],
             "generationConfig": {"responseModalities": ["IMAGE"]}},
        ]
        assert [client.post(url, headers=headers, json=b).status_code for b in bad] == [400] * 4


@pytest.mark.parametrize(("mime", "codec"), [("image/jpeg", "mjpeg"), ("image/webp", "libwebp")])
def test_a_sheet_answered_as_jpeg_or_webp_is_stored_as_the_png_its_node_promises(
    fake: FakeGemini, tmp_path: Path, mime: str, codec: str
) -> None:
    from shotmake import media

    answer = tmp_path / f"answer.{codec}"
    try:
        media.run(["-f", "lavfi", "-i", "testsrc=size=64x36", "-frames:v", "1", "-c:v", codec, "-f", "image2",
                   str(answer)])
    except media.MediaError:
        pytest.skip(f"this ffmpeg cannot encode {codec}")
    fake.answer_image = (mime, answer.read_bytes())
    with httpx.Client() as client:
        adapter = GeminiImage(KEY, route="gemini-3-pro-image", base_url=fake.url, client=client)
        meta = adapter.render(sheet(), tmp_path / "sheet.png")
    assert (tmp_path / "sheet.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert meta["mime"] == "image/png" and meta["answered_mime"] == mime
    info = media.probe(tmp_path / "sheet.png")
    assert info.video is not None and (info.video.width, info.video.height) == (64, 36)
    assert not list(tmp_path.glob(".answer-*"))  # no leftover of the answer
