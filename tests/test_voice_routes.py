"""A speaking character's voice sample, planned and sent through each adapter to its loopback fake:
it reaches the routes that take it, as each one's wire protocol carries it, and no other."""

from __future__ import annotations

import base64
import json
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shotmake.cache import file_digest
from shotmake.execute import Executor
from shotmake.plan import build_plan
from shotmake.providers.ark_tasks import ArkTasks
from shotmake.providers.base import RenderRequest
from shotmake.providers.dashscope_video import DashScopeVideo
from shotmake.providers.gemini_interactions import GeminiInteractions
from shotmake.providers.local import LocalProvider
from shotmake.spec import episode_from_text
from tests.fakes.ark_server import FakeArk, sent_content
from tests.fakes.dashscope_server import DEFAULT_KEY, FakeDashScope
from tests.fakes.gemini_interactions_server import FakeInteractions
from tests.fakes.openai_server import fake_png

KEY = "gemini-test-key-voice"


def project(root: Path, provider: str, sample: str = "voices/mei.wav") -> RenderRequest:
    """Plan a two-character episode routed to ``provider`` and return the request of its speaking shot."""
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "mei.png").write_bytes(fake_png(640, 360, (200, 40, 40)))
    (root / "refs" / "kai.png").write_bytes(fake_png(640, 360, (40, 200, 40)))
    text = f"""\
episode: talk
defaults: {{provider: {provider}, duration: 5}}
characters:
  mei:
    name: Mei
    description: a girl in a yellow raincoat
    references: [refs/mei.png]
    voice: {{description: a bright quick voice, sample: {sample}}}
  kai:
    name: Kai
    description: a boy with a green scarf
    references: [refs/kai.png]
    voice: {{description: a low calm voice}}
shots:
  - id: talk
    prompt: "{{mei}} and {{kai}} on the pier"
    dialogue:
      - {{speaker: mei, line: "The lamp went out."}}
      - {{speaker: kai, line: "Again?"}}
sequences:
  - id: q
    shots: [talk]
"""
    (root / "ep.yaml").write_text(text, encoding="utf-8")
    plan = build_plan(episode_from_text(text, str(root / "ep.yaml"), root), file_digest)
    executor = Executor(plan, None, None, None)  # type: ignore[arg-type]  # only request_for is used
    return executor.request_for(plan.node("clip:talk"))


def write_wav(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(1)
        out.setframerate(8000)
        out.writeframes(bytes(range(256)) * 20)
    return path.read_bytes()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as c:
        yield c


def test_seedance_gets_the_sample_as_reference_audio_after_the_images(tmp_path: Path, client: httpx.Client) -> None:
    wav = write_wav(tmp_path / "voices" / "mei.wav")
    request = project(tmp_path, "seedance-2.0")
    # Base64 audio is unconfirmed on Seedance: this fake is told to take it (video_data_urls).
    with FakeArk(video_data_urls=True) as fake:
        ark = ArkTasks("seedance-2.0", api_key=fake.api_key, base_url=fake.base_url, client=client)
        ark.submit(request)
        (create,) = fake.creates()
    content = sent_content(create)
    assert [(c["type"], c.get("role")) for c in content] == [
        ("text", None), ("image_url", "reference_image"), ("image_url", "reference_image"),
        ("audio_url", "reference_audio")]
    url = content[-1]["audio_url"]["url"]
    assert url.startswith("data:audio/wav;base64,") and base64.b64decode(url.split(",", 1)[1]) == wav
    assert "Mei speaks with the voice in audio 1." in content[0]["text"]
    assert 'Mei: "The lamp went out."' in content[0]["text"]


def test_seedance_refusing_inline_audio_is_a_terminal_error_with_the_vendors_reason(
        tmp_path: Path, client: httpx.Client) -> None:
    from shotmake.errors import TerminalError

    write_wav(tmp_path / "voices" / "mei.wav")
    request = project(tmp_path, "seedance-2.0")
    with FakeArk() as fake:  # the documented default: base64 only for images
        ark = ArkTasks("seedance-2.0", api_key=fake.api_key, base_url=fake.base_url, client=client)
        with pytest.raises(TerminalError, match="does not accept base64 data"):
            ark.submit(request)


def test_wan_30_gets_the_sample_uploaded_as_reference_audio(tmp_path: Path, client: httpx.Client) -> None:
    wav = write_wav(tmp_path / "voices" / "mei.wav")
    request = project(tmp_path, "wan-3.0")
    with FakeDashScope() as fake:
        wan = DashScopeVideo("wan-3.0", api_key=DEFAULT_KEY, base_url=fake.base_url, client=client,
                             upload_dir=tmp_path / "uploads")
        wan.submit(request)
        (create,) = fake.creates()
        stored = [data for data, _, _ in fake.storage.objects.values()]
    body = json.loads(create.body)
    assert [m["type"] for m in body["input"]["media"]] == ["reference_image", "reference_image", "reference_audio"]
    assert body["input"]["media"][-1]["url"].startswith("oss://")
    assert wav in stored
    assert "Mei speaks in the voice of Audio 1." in body["input"]["prompt"]


def test_wan_27_gets_a_voice_clip_as_a_reference_video_and_not_a_recording(tmp_path: Path,
                                                                          client: httpx.Client) -> None:
    clip = tmp_path / "voices" / "mei.mp4"
    clip.parent.mkdir(parents=True)
    LocalProvider().render(RenderRequest(node_id="v", key="voice", kind="clip", model="", prompt="Mei talks",
                                         duration=1.0, width=160, height=90), clip)
    request = project(tmp_path, "wan-2.7", sample="voices/mei.mp4")
    with FakeDashScope() as fake:
        wan = DashScopeVideo("wan-2.7", api_key=DEFAULT_KEY, base_url=fake.base_url, client=client,
                             upload_dir=tmp_path / "uploads")
        wan.submit(request)
        (create,) = fake.creates()
        stored = [data for data, _, _ in fake.storage.objects.values()]
    body = json.loads(create.body)
    assert body["model"] == "wan2.7-r2v"
    assert [m["type"] for m in body["input"]["media"]] == ["reference_image", "reference_image", "reference_video"]
    assert clip.read_bytes() in stored
    # A recording is not what Wan 2.7 takes: the plan leaves it home (lint SM164 says so).
    write_wav(tmp_path / "voices" / "mei.wav")
    assert all(r.mime.startswith("image/") for r in project(tmp_path, "wan-2.7").references)


def test_gemini_omni_gets_no_sample_only_the_voice_description(tmp_path: Path, client: httpx.Client) -> None:
    wav = write_wav(tmp_path / "voices" / "mei.wav")
    request = project(tmp_path, "gemini-omni")
    with FakeInteractions(api_key=KEY, polls_until_done=1) as fake:
        omni = GeminiInteractions(KEY, client=client, base_url=fake.url)
        omni.submit(request)
        creates = [r for r in fake.requests if r.method == "POST" and r.path.endswith("/interactions")]
    (create,) = creates
    body: dict[str, Any] = json.loads(create.body)
    blocks = [b for step in body["input"] for b in step.get("content", [])] if isinstance(body["input"], list) \
        else []
    assert all(b["type"] != "audio" for b in blocks)
    assert base64.b64encode(wav).decode()[:40] not in create.body.decode()
    text = json.dumps(body, ensure_ascii=False)
    assert "a bright quick voice" in text and "audio 1" not in text
