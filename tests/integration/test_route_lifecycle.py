"""Routes through the CLI: retired ones refuse to render before any request, yet their cached renders
keep building (and --frozen reproduces the old cut); a route added in shotmake.toml reaches the wire.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.fakes.google_server import GEMINI_IMAGE_MODELS, FakeGemini, ModelCaps
from tests.fakes.harness import FAST_CONFIG, LEGACY_ROUTES_LIVE, RemoteFakes, summary

EPISODE = """\
version: 1
episode: old
defaults: {provider: veo-3.1, sheet_provider: gemini-3-pro-image, resolution: 720p, duration: 8}
characters:
  mei:
    description: a girl in a yellow raincoat
    sheet: {model: gemini-3-pro-image-preview}
shots:
  - id: cliffs
    provider: sora-2
    prompt: Wide shot of a lighthouse on black cliffs at dusk.
    duration: 4
  - id: lamp
    prompt: "{mei} polishes the great lamp."
sequences:
  - id: all
    shots: [cliffs, lamp]
delivery:
  format: {resolution: 480p, fps: 12}
"""


def project(root: Path, config: str) -> Path:
    spec = root / "old.yaml"
    spec.write_text(EPISODE)
    (root / "shotmake.toml").write_text(config)
    return spec


def test_retired_routes_refuse_before_any_request_and_cached_renders_keep_building(tmp_path: Path) -> None:
    spec = project(tmp_path, FAST_CONFIG)
    with RemoteFakes() as fakes:
        # The fakes still serve the retired models: only shotmake's catalog can stop the spend.
        fakes.gemini.image_models = (*GEMINI_IMAGE_MODELS, "gemini-3-pro-image-preview")
        for command in (["validate", spec.name], ["lint", spec.name], ["plan", spec.name], ["build", spec.name]):
            done = fakes.run(command, tmp_path)
            assert done.returncode == 2, (command, done.stderr)
            assert "SM120 error" in done.stderr and "Traceback" not in done.stderr
            assert "sora-2 (sora-2) was retired on 2026-09-24; it has no successor" in done.stderr
            assert "veo-3.1 (veo-3.1-generate-preview) was retired on 2026-10-22; its successor is gemini-omni" \
                in done.stderr
            assert "gemini-3-pro-image-preview (gemini-3-pro-image-preview) was retired on 2026-06-25" in done.stderr
        assert fakes.request_count() == 0

        # A gateway still served them when the project was built (declared live in shotmake.toml)...
        (tmp_path / "shotmake.toml").write_text(
            FAST_CONFIG + LEGACY_ROUTES_LIVE + '[routes."gemini-3-pro-image-preview"]\nstatus = "live"\n')
        built = fakes.run(["build", spec.name, "--json", "-q"], tmp_path)
        assert built.returncode == 0, built.stderr
        lock = (tmp_path / "old.lock").read_text()
        paid = fakes.request_count()
        assert paid > 0

    # ...and now it is gone: the same spec builds from the cache, renders and requests nothing.
    (tmp_path / "shotmake.toml").write_text(FAST_CONFIG)
    with RemoteFakes() as gone:
        again = gone.run(["build", spec.name, "--json", "-q"], tmp_path)
        assert again.returncode == 0, again.stderr
        assert summary(again)["rendered"] == [] and gone.request_count() == 0
        frozen = gone.run(["build", spec.name, "--frozen", "-q"], tmp_path)
        assert frozen.returncode == 0, frozen.stderr
        assert (tmp_path / "old.lock").read_text() == lock
        # Editing one retired shot is refused again, naming what is still cached.
        spec.write_text(EPISODE.replace("polishes the great lamp", "lights the great lamp"))
        edited = gone.run(["plan", spec.name], tmp_path)
        assert edited.returncode == 2 and "1 node would render on it (clip:lamp)" in edited.stderr
        assert gone.request_count() == 0


GATEWAY = """\
[routes."veo-gateway"]
like = "veo-3.1-fast"
status = "live"
model = "gw-veo-7"
base_url = "{url}"
key_env = ["GATEWAY_KEY"]
price = {{ "*" = 0.05 }}
"""

ONE_SHOT = """\
version: 1
episode: gw
defaults: {provider: veo-gateway, resolution: 720p, duration: 8}
shots:
  - id: sea
    prompt: A grey sea under rain clouds.
sequences:
  - id: all
    shots: [sea]
delivery:
  format: {resolution: 480p, fps: 12}
"""


def test_a_route_added_in_shotmake_toml_renders_with_its_model_and_base_url(tmp_path: Path) -> None:
    with FakeGemini(api_key="gw-secret-key-0123456789", polls_until_done=1) as gateway, RemoteFakes() as vendor:
        gateway.models = {"gw-veo-7": ModelCaps()}
        (tmp_path / "gw.yaml").write_text(ONE_SHOT)
        (tmp_path / "shotmake.toml").write_text(FAST_CONFIG + GATEWAY.format(url=gateway.url))
        routes = json.loads(vendor.run(["routes", "--json"], tmp_path).stdout)
        row = next(r for r in routes if r["name"] == "veo-gateway")
        assert (row["model"], row["status"], row["key_env"], row["base_url"]) == (
            "gw-veo-7", "live", ["GATEWAY_KEY"], gateway.url)
        plan = vendor.run(["plan", "gw.yaml", "--json"], tmp_path, GATEWAY_KEY=gateway.api_key)
        assert plan.returncode == 0, plan.stderr
        assert json.loads(plan.stdout)["cost_usd"] == 0.4  # the route's own price: 8 s at $0.05
        built = vendor.run(["build", "gw.yaml", "-q"], tmp_path, GATEWAY_KEY=gateway.api_key)
        assert built.returncode == 0, built.stderr
        creates = [r for r in gateway.requests if r.method == "POST"]
        assert [r.path for r in creates] == ["/v1beta/models/gw-veo-7:predictLongRunning"]
        assert all(r.headers.get("x-goog-api-key") == gateway.api_key for r in gateway.requests
                   if "/blob/" not in r.path)
        assert vendor.request_count() == 0  # the vendor's own host (and its key) never heard of it
        assert "provider: veo-gateway" in (tmp_path / "gw.lock").read_text()
