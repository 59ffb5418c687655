"""OpenAIImages (gpt-image-1 family) against the loopback FakeOpenAI; malformed answers via MockTransport."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from shotmake.errors import ProviderError, ProviderUnavailable, RetryableError, TerminalError
from shotmake.providers.base import InputFile, RenderRequest
from shotmake.providers.openai_images import OpenAIImages, from_env
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI, Fault, decoded_form, fake_png, image_dimensions

Inject = Callable[[FakeOpenAI], None]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def images(fake: FakeOpenAI, client: httpx.Client) -> Iterator[OpenAIImages]:
    adapter = OpenAIImages("gpt-image-1", api_key=fake.api_key, base_url=fake.base_url, client=client)
    yield adapter
    adapter.close()


def sheet(prompt: str = "turnaround sheet of Mira, a fox courier", **kw: object) -> RenderRequest:
    base: dict[str, object] = {
        "node_id": "sheet-mira",
        "key": "k",
        "kind": "sheet",
        "model": "",  # the route's model, as the plan sends when a sheet names none
        "prompt": prompt,
        "width": 1024,
        "height": 1024,
        "aspect": "1:1",
        "resolution": "1K",
    }
    base.update(kw)
    return RenderRequest(**base)  # type: ignore[arg-type]


def ref(tmp_path: Path, name: str, size: tuple[int, int] = (256, 256)) -> InputFile:
    path = tmp_path / name
    path.write_bytes(fake_png(*size))
    return InputFile(path=path, digest=name, mime="image/png")


def test_generation_without_references_posts_json_and_writes_a_png(
    fake: FakeOpenAI, images: OpenAIImages, tmp_path: Path
) -> None:
    seen: list[float] = []
    dest = tmp_path / "sheet.png"
    meta = images.render(sheet(), dest, seen.append)

    assert [(r.method, r.path) for r in fake.requests] == [("POST", "/v1/images/generations")]
    request = fake.requests[0]
    assert request.headers["authorization"] == f"Bearer {DEFAULT_KEY}"
    assert json.loads(request.body) == {
        "model": "gpt-image-1",
        "prompt": "turnaround sheet of Mira, a fox courier",
        "n": 1,
        "size": "1024x1024",
        "quality": "high",
        "output_format": "png",
    }
    assert image_dimensions(dest.read_bytes()) == (1024, 1024)
    assert meta["bytes"] == dest.stat().st_size and meta["model"] == "gpt-image-1" and meta["references"] == 0
    assert meta["usage"]["total_tokens"] > 0
    assert seen == [0.0, 1.0]
    assert not list(tmp_path.glob("*.part"))


def test_references_go_to_edits_as_image_array_parts(
    fake: FakeOpenAI, images: OpenAIImages, tmp_path: Path
) -> None:
    refs = (ref(tmp_path, "face.png"), ref(tmp_path, "outfit.png", (300, 200)))
    dest = tmp_path / "sheet.png"
    images.render(sheet(aspect="3:2", width=1536, height=1024, references=refs), dest)

    assert [(r.method, r.path) for r in fake.requests] == [("POST", "/v1/images/edits")]
    form = decoded_form(fake.requests[0])
    assert [p.filename for p in form["image[]"]] == ["face.png", "outfit.png"]
    assert [p.data for p in form["image[]"]] == [r.path.read_bytes() for r in refs]
    assert {k: v[0].text for k, v in form.items() if k != "image[]"} == {
        "model": "gpt-image-1",
        "prompt": "turnaround sheet of Mira, a fox courier",
        "n": "1",
        "size": "1536x1024",
        "quality": "high",
        "output_format": "png",
        "input_fidelity": "high",
    }
    assert image_dimensions(dest.read_bytes()) == (1536, 1024)


@pytest.mark.parametrize(
    ("aspect", "size"), [("2:3", "1024x1536"), ("3:2", "1536x1024"), ("1:1", "1024x1024")]
)
def test_size_follows_the_aspect_when_pixels_are_not_a_model_size(
    fake: FakeOpenAI, images: OpenAIImages, tmp_path: Path, aspect: str, size: str
) -> None:
    images.render(sheet(aspect=aspect, width=2000, height=2000), tmp_path / "s.png")
    assert json.loads(fake.requests[0].body)["size"] == size


def test_requests_the_model_cannot_serve_are_refused_before_any_request(
    fake: FakeOpenAI, images: OpenAIImages, tmp_path: Path
) -> None:
    with pytest.raises(TerminalError, match=r"aspect 16:9 .* use 1:1 \(1024x1024\)"):
        images.render(sheet(aspect="16:9", width=1920, height=1080), tmp_path / "s.png")
    with pytest.raises(TerminalError, match="character sheets, not clips"):
        images.render(sheet(kind="clip"), tmp_path / "s.png")
    with pytest.raises(TerminalError, match="at most 16"):
        images.render(
            sheet(references=tuple(ref(tmp_path, f"{i}.png") for i in range(17))), tmp_path / "s.png"
        )
    gif = InputFile(path=tmp_path / "0.png", digest="g", mime="image/gif")
    with pytest.raises(TerminalError, match="PNG, JPEG or WebP"):
        images.render(sheet(references=(gif,)), tmp_path / "s.png")
    assert fake.requests == []


@pytest.mark.parametrize(
    ("route", "inject"),
    [
        ("image_generate", lambda f: f.moderate_next("image_generate")),
        (
            "image_generate",
            lambda f: f.inject(
                Fault(
                    "image_generate",
                    "status",
                    status=400,
                    type="invalid_request_error",
                    code="content_policy_violation",
                    message="Your request was rejected as a result of our safety system.",
                )
            ),
        ),
        ("image_edit", lambda f: f.moderate_next("image_edit")),
    ],
)
def test_moderation_is_terminal_and_leaves_no_file(
    fake: FakeOpenAI, images: OpenAIImages, tmp_path: Path, route: str, inject: Inject
) -> None:
    inject(fake)
    refs = (ref(tmp_path, "r.png"),) if route == "image_edit" else ()
    dest = tmp_path / "out.png"
    with pytest.raises(
        TerminalError, match="rejected by content moderation.*(moderation_blocked|content_policy)"
    ):
        images.render(sheet(references=refs), dest)
    assert not dest.exists() and not list(tmp_path.glob("*.part"))


def test_blocked_terms_apply_to_images(fake: FakeOpenAI, images: OpenAIImages, tmp_path: Path) -> None:
    fake.blocked_terms = {"weapon": "sync"}
    with pytest.raises(TerminalError, match="safety system"):
        images.render(sheet("a character holding a weapon"), tmp_path / "o.png")


@pytest.mark.parametrize(
    ("inject", "retry_after"),
    [
        (lambda f: f.rate_limit("image_generate", retry_after="4"), 4.0),
        (lambda f: f.rate_limit("image_generate", retry_after=None, retry_after_ms="250"), 0.25),
        (lambda f: f.server_error("image_generate", 502), None),
        (lambda f: f.overload("image_generate"), None),
        (lambda f: f.lose_next_response("image_generate"), None),
    ],
)
def test_transient_faults_are_retryable_then_succeed(
    fake: FakeOpenAI, images: OpenAIImages, tmp_path: Path, inject: Inject, retry_after: float | None
) -> None:
    inject(fake)
    dest = tmp_path / "o.png"
    with pytest.raises(RetryableError) as info:
        images.render(sheet(), dest)
    assert info.value.retry_after == retry_after and not dest.exists()
    images.render(sheet(), dest)
    assert dest.read_bytes().startswith(b"\x89PNG")
    assert fake.count("POST", "/v1/images/generations") == 2


def test_quota_and_auth_failures_are_terminal_without_the_key(tmp_path: Path) -> None:
    secret = "sk-images-secret-never-shown-77"
    with FakeOpenAI(echo_key_in_errors=True) as fake, httpx.Client() as client:
        wrong = OpenAIImages("gpt-image-1.5", api_key=secret, base_url=fake.base_url, client=client)
        with pytest.raises(TerminalError) as auth:
            wrong.render(sheet(), tmp_path / "o.png")
        right = OpenAIImages("gpt-image-1.5", api_key=fake.api_key, base_url=fake.base_url, client=client)
        fake.quota_exhausted("image_generate")
        with pytest.raises(TerminalError, match="out of quota"):
            right.render(sheet(), tmp_path / "o.png")
    assert "HTTP 401" in str(auth.value) and "[redacted]" in str(auth.value)
    assert secret not in str(auth.value) and secret not in repr(wrong)
    # About the account, not the sheet: the route is unavailable (a fallback may render it) and the
    # sheet is not remembered as refused, so the build after the key is fixed sends it.
    assert isinstance(auth.value, ProviderUnavailable)


@pytest.mark.parametrize(
    "body",
    [
        {"data": []},
        {"data": [{"b64_json": "!!not base64!!"}]},
        {"data": [{"b64_json": base64.b64encode(b"GIF89a-not-a-png").decode()}]},
        {"data": [{"url": "https://example.invalid/x.png"}]},
    ],
)
def test_malformed_answers_are_retryable(tmp_path: Path, body: dict[str, object]) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=body))
    with httpx.Client(transport=transport) as client:
        adapter = OpenAIImages("gpt-image-1", api_key="k", client=client)
        with pytest.raises(RetryableError):
            adapter.render(sheet(), tmp_path / "o.png")
    assert not (tmp_path / "o.png").exists()


def test_from_env(fake: FakeOpenAI, tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match="OPENAI_API_KEY is not set"):
        from_env("gpt-image-1", {"OPENAI_BASE_URL": fake.base_url})
    adapter = from_env("gpt-image-1.5", {"OPENAI_API_KEY": fake.api_key, "OPENAI_BASE_URL": fake.base_url})
    try:
        meta = adapter.render(sheet(), tmp_path / "o.png")
    finally:
        adapter.close()
    assert meta["model"] == "gpt-image-1.5"
    assert adapter.estimate_cost(sheet()) == pytest.approx(0.133)
    with pytest.raises(ProviderError, match="cannot serve route 'sora-2'"):
        from_env("sora-2", {"OPENAI_API_KEY": "k"})
