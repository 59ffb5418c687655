"""A shot's `model:` reaches the wire on every protocol (the key and the lock record it, so must the request).

Driven through the registry, as a build does, against the loopback fakes of each protocol.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from shotmake.providers.base import RenderRequest
from shotmake.providers.registry import EnvironmentRegistry
from tests.fakes.ark_server import FakeArk
from tests.fakes.dashscope_server import FakeDashScope
from tests.fakes.gemini_interactions_server import FakeInteractions
from tests.fakes.openai_server import FakeOpenAI, decoded_form
from tests.fakes.server import FakeServer
from tests.fakes.vertex_server import FakeVertex

#: The fakes serve the retired Veo previews and Sora: ask the registry on a day they were alive.
BEFORE_SHUTDOWNS = datetime.date(2026, 9, 1)


@pytest.fixture
def fakes() -> Iterator[dict[str, FakeServer]]:
    # FakeInteractions is the Gemini API with Omni's Interactions beside Veo and the image models.
    servers: dict[str, FakeServer] = {"openai": FakeOpenAI(), "gemini": FakeInteractions(), "vertex": FakeVertex(),
                                      "dashscope": FakeDashScope(), "ark": FakeArk()}
    for server in servers.values():
        server.start()
    yield servers
    for server in servers.values():
        server.stop()


def registry_for(fakes: dict[str, FakeServer]) -> EnvironmentRegistry:
    openai, gemini, vertex = fakes["openai"], fakes["gemini"], fakes["vertex"]
    env = {"OPENAI_API_KEY": openai.api_key, "OPENAI_BASE_URL": openai.base_url,  # type: ignore[attr-defined]
           "GEMINI_API_KEY": gemini.api_key, "GOOGLE_GEMINI_BASE_URL": gemini.url,  # type: ignore[attr-defined]
           "GOOGLE_CLOUD_PROJECT": vertex.project, "GOOGLE_OAUTH_ACCESS_TOKEN": vertex.token,  # type: ignore[attr-defined]
           "SHOTMAKE_VERTEX_BASE_URL": vertex.url,
           "DASHSCOPE_API_KEY": fakes["dashscope"].api_key,  # type: ignore[attr-defined]
           "DASHSCOPE_BASE_URL": fakes["dashscope"].base_url,  # type: ignore[attr-defined]
           "ARK_API_KEY": fakes["ark"].api_key, "ARK_BASE_URL": fakes["ark"].base_url}  # type: ignore[attr-defined]
    return EnvironmentRegistry(env=env, today=BEFORE_SHUTDOWNS)


def clip(model: str, duration: float = 8.0) -> RenderRequest:
    return RenderRequest(node_id="clip:s1", key="k" * 64, kind="clip", model=model, prompt="a grey sea",
                         duration=duration)


def sheet(model: str) -> RenderRequest:
    return RenderRequest(node_id="sheet:mei", key="s" * 64, kind="sheet", model=model, prompt="a turnaround sheet",
                         width=1024, height=1024, aspect="1:1", resolution="1K")


# (route, fake, the override, how to read the model id off the create request)
VIDEO_CASES = [
    ("sora-2", "openai", "sora-2-pro", lambda r: decoded_form(r)["model"][0].text),
    ("veo-3.1", "gemini", "veo-3.1-fast-generate-preview", lambda r: r.path.split("/models/")[1].split(":")[0]),
    ("veo-3.1-vertex", "vertex", "veo-3.1-fast-generate-001", lambda r: r.path.split("/models/")[1].split(":")[0]),
    ("gemini-omni", "gemini", "gemini-omni-1.1-flash", lambda r: json.loads(r.body)["model"]),
    ("wan-3.0", "dashscope", "wan2.7-t2v", lambda r: json.loads(r.body)["model"]),
    ("seedance-2.0", "ark", "dreamina-seedance-2-0-fast-260128", lambda r: json.loads(r.body)["model"]),
]


@pytest.mark.parametrize(("route", "server", "model", "sent"), VIDEO_CASES, ids=[c[0] for c in VIDEO_CASES])
def test_a_video_model_override_is_the_model_on_the_wire(fakes: dict[str, FakeServer], route: str, server: str,
                                                          model: str, sent: object) -> None:
    registry = registry_for(fakes)
    try:
        registry.get(route).submit(clip(model, duration=4.0 if route.startswith("sora") else 8.0))
    finally:
        registry.close()
    creates = [r for r in fakes[server].requests if r.method == "POST"]
    assert len(creates) == 1 and sent(creates[0]) == model  # type: ignore[operator]


IMAGE_CASES = [
    ("gpt-image-2", "openai", "gpt-image-1.5", lambda r: json.loads(r.body)["model"]),
    ("gemini-3-pro-image", "gemini", "gemini-nano-banana-2.1", lambda r: r.path.split("/models/")[1].split(":")[0]),
]


@pytest.mark.parametrize(("route", "server", "model", "sent"), IMAGE_CASES, ids=[c[0] for c in IMAGE_CASES])
def test_an_image_model_override_is_the_model_on_the_wire(fakes: dict[str, FakeServer], route: str, server: str,
                                                           model: str, sent: object, tmp_path: Path) -> None:
    registry = registry_for(fakes)
    try:
        meta = registry.get(route).render(sheet(model), tmp_path / "sheet.png")
    finally:
        registry.close()
    creates = [r for r in fakes[server].requests if r.method == "POST"]
    assert len(creates) == 1 and sent(creates[0]) == model  # type: ignore[operator]
    assert meta["model"] == model
