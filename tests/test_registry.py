"""The registry: adapters from the environment, configured prices and backends, unavailable routes."""

from __future__ import annotations

import datetime

import pytest

from shotmake.errors import ProviderUnavailable
from shotmake.providers.base import RenderRequest
from shotmake.providers.registry import EnvironmentRegistry

KEYS = {"OPENAI_API_KEY": "sk-test-registry-0123456789", "GEMINI_API_KEY": "AIza-test-registry-0123456789",
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "GOOGLE_GEMINI_BASE_URL": "http://127.0.0.1:9"}


def request(resolution: str = "720p", duration: float = 8.0, width: int = 1280, height: int = 720) -> RenderRequest:
    return RenderRequest(node_id="clip:a", key="k", kind="clip", model="", prompt="p", duration=duration,
                         width=width, height=height, resolution=resolution)


#: A day when the Veo previews and Sora still answered, to test the key checks on their routes.
BEFORE_SHUTDOWNS = datetime.date(2026, 9, 1)


def test_unavailable_names_the_missing_variable() -> None:
    empty = EnvironmentRegistry(env={}, today=BEFORE_SHUTDOWNS)
    assert empty.unavailable("local") is None and empty.unavailable("local-image") is None
    assert empty.unavailable("sora-2") == "OPENAI_API_KEY is not set"
    assert empty.unavailable("veo-3.1") == "GEMINI_API_KEY (or GOOGLE_API_KEY) is not set"
    assert empty.unavailable("gemini-3-pro-image") == "GEMINI_API_KEY (or GOOGLE_API_KEY) is not set"
    assert empty.unavailable("nope") == "unknown provider 'nope' (see `shotmake routes`)"
    assert EnvironmentRegistry(env={"GOOGLE_API_KEY": "x" * 12}, today=BEFORE_SHUTDOWNS).unavailable("veo-3.1") is None
    vertex = EnvironmentRegistry(env={"GOOGLE_CLOUD_PROJECT": "p"}, backends={"veo-3.1": "vertex"})
    assert vertex.unavailable("veo-3.1") == "GOOGLE_OAUTH_ACCESS_TOKEN is not set"  # Vertex: deprecated, not retired
    assert vertex.unavailable("veo-3.1-fast") == "veo-3.1-fast was retired on 2026-10-22"  # not moved to Vertex
    assert EnvironmentRegistry(env=KEYS, today=BEFORE_SHUTDOWNS).unavailable("sora-2") is None


def test_a_retired_route_is_unavailable_even_with_its_key() -> None:
    registry = EnvironmentRegistry(env=KEYS, today=datetime.date(2026, 11, 28))
    assert registry.unavailable("sora-2") == "sora-2 was retired on 2026-09-24"
    assert registry.unavailable("veo-3.1") == "veo-3.1 was retired on 2026-10-22"
    assert registry.unavailable("gpt-image-1.5") is None  # deprecated: shuts down on 2026-12-01
    assert EnvironmentRegistry(env=KEYS, today=datetime.date(2026, 12, 1)).unavailable("gpt-image-1.5") == (
        "gpt-image-1.5 was retired on 2026-12-01")


@pytest.mark.parametrize("route", ["sora-2", "veo-3.1", "gemini-3-pro-image", "gpt-image-1"])
def test_a_missing_key_is_provider_unavailable(route: str) -> None:
    registry = EnvironmentRegistry(env={})
    with pytest.raises(ProviderUnavailable):
        registry.get(route)


def test_configured_prices_reach_every_adapter() -> None:
    prices = {"veo-3.1": {"720p": 0.25}, "sora-2": {"*": 0.2}, "gemini-3-pro-image": {"*": 0.05},
              "gpt-image-1": {"*": 0.07}}
    registry = EnvironmentRegistry(env=KEYS, prices=prices)
    try:
        assert registry.get("veo-3.1").estimate_cost(request()) == pytest.approx(2.0)
        assert registry.get("veo-3.1-fast").estimate_cost(request()) == pytest.approx(0.8)  # catalog default
        assert registry.get("sora-2").estimate_cost(request(duration=4)) == pytest.approx(0.8)
        sheet = RenderRequest(node_id="sheet:m", key="k", kind="sheet", model="", prompt="p", resolution="2K")
        assert registry.get("gemini-3-pro-image").estimate_cost(sheet) == pytest.approx(0.05)
        assert registry.get("gpt-image-1").estimate_cost(sheet) == pytest.approx(0.07)
    finally:
        registry.close()


def test_the_configured_backend_selects_vertex() -> None:
    env = {**KEYS, "GOOGLE_CLOUD_PROJECT": "proj", "GOOGLE_OAUTH_ACCESS_TOKEN": "ya29.test-token-0123456789"}
    registry = EnvironmentRegistry(env=env, backends={"veo-3.1": "vertex"}, prices={"veo-3.1": {"*": 0.3}})
    try:
        assert type(registry.get("veo-3.1")).__name__ == "VertexVeo"
        assert registry.get("veo-3.1").estimate_cost(request()) == pytest.approx(2.4)
        assert type(registry.get("veo-3.1-fast")).__name__ == "GeminiVeo"
    finally:
        registry.close()
