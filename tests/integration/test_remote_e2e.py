"""A mixed Veo + Sora episode built end to end through the CLI a user runs, against the fakes.

Veo shots carry a character sheet (drawn by gemini-3-pro-image) as a reference image and one
extends another; Sora renders the character-free establishing shots. ``plan`` shows the cost
first; the build pays for each node exactly once; the second build pays for nothing.
"""

from __future__ import annotations

import base64
import json
import textwrap
from pathlib import Path

from shotmake.cache import Cache
from shotmake.media import probe
from tests.fakes.harness import RemoteFakes, files_containing, node_prompts, summary, write_fast_config
from tests.fakes.openai_server import decoded_form

EPISODE = """\
version: 1
episode: keepers
style:
  look: hand-drawn anime, soft cel shading
  negative: text, watermark
defaults:
  provider: veo-3.1
  sheet_provider: gemini-3-pro-image
  resolution: 720p
  duration: 8
characters:
  mei:
    name: Mei
    description: a 16-year-old girl with a short black bob and a yellow raincoat
    sheet: true
shots:
  - id: cliffs
    provider: sora-2
    prompt: Wide establishing shot of a lighthouse on black cliffs at dusk.
    duration: 4
  - id: lamp
    prompt: "{mei} polishes the great lamp."
  - id: lamp-on
    prompt: The camera pulls back as the great lamp blazes over the sea.
    extends: lamp
    duration: 7          # what a Veo extension adds (the result is lamp + 7 s)
  - id: harbour
    provider: sora-2
    prompt: Establishing shot of an empty harbour at night, one lantern swinging.
    duration: 4
sequences:
  - id: opening
    shots: [cliffs, lamp, lamp-on]
  - id: night
    shots: [harbour]
delivery:
  format: {resolution: 480p, fps: 12}  # a small master: conforming is not what this test is about
"""


def write_project(root: Path) -> Path:
    spec = root / "keepers.yaml"
    spec.write_text(textwrap.dedent(EPISODE))
    write_fast_config(root)  # poll every 10 ms: the fakes' jobs take a few polls, not minutes
    return spec


def test_mixed_veo_and_sora_episode_builds_once_through_the_cli(tmp_path: Path) -> None:
    spec = write_project(tmp_path)
    prompts = node_prompts(spec)
    with RemoteFakes() as fakes:
        # 1. plan first: every node with its cost, and the total; nothing is sent anywhere.
        plan = fakes.run(["plan", spec.name], tmp_path)
        assert plan.returncode == 0, plan.stderr
        lines = plan.stdout.splitlines()
        as_json = json.loads(fakes.run(["plan", spec.name, "--json"], tmp_path).stdout)
        costs = {e["id"]: e["cost_usd"] for e in as_json["rendered"]}
        total = len(costs)
        assert as_json["cached"] == [] and set(prompts) <= set(costs)
        assert lines[0].startswith(f"keepers: {total} of {total} nodes to build") and "est. $" in lines[0]
        for nid in costs:  # per node: its id, provider and price
            assert any(line.split()[0] == nid and "$" in line for line in lines[1:]), (nid, plan.stdout)
        assert costs["clip:lamp"] == 3.2 and costs["clip:cliffs"] == 0.4 and costs["sheet:mei"] == 0.134
        assert as_json["cost_usd"] == round(sum(costs.values()), 4)
        assert f"est. ${as_json['cost_usd']:.2f}" in lines[0]
        assert fakes.request_count() == 0, "plan must not talk to providers"

        # 2. build: everything renders, the episode is a real MP4.
        build = fakes.run(["build", spec.name, "--json", "-j", "4"], tmp_path)
        result = summary(build)
        assert build.returncode == 0 and result["failed"] == [], build.stderr
        assert {e["id"] for e in result["rendered"]} == set(costs)
        out = tmp_path / "build" / "keepers.mp4"
        info = probe(out)
        assert info.video is not None and info.duration > 20  # 4 + 8 + 15 + 4 seconds, less trims

        # 3. exactly one paid create per rendered node: one job per clip, one image per sheet.
        clip_prompts = [p for nid, (_, p) in prompts.items() if nid.startswith("clip:")]
        assert fakes.video_jobs() == {p: 1 for p in clip_prompts}
        images = fakes.images()
        assert sum(images.values()) == 1 and prompts["sheet:mei"][1] in next(iter(images))

        # 4. the wire: the sheet went to Veo as a reference; the extension points at its
        #    source's video; Sora got no character images (input_reference) at all.
        cache = Cache(tmp_path / ".shotmake")
        try:
            keys = {e["id"]: e["key"] for e in result["rendered"]}
            metas = {nid: cache.lookup(key).meta for nid, key in keys.items()}  # type: ignore[union-attr]
            sheet_path = Path(cache.lookup(keys["sheet:mei"]).path)  # type: ignore[union-attr]
        finally:
            cache.close()
        veo_creates = [r.json() for r in fakes.gemini.route_requests("create")]
        by_prompt = {body["instances"][0]["prompt"]: body for body in veo_creates}
        lamp = by_prompt[prompts["clip:lamp"][1]]
        sent = lamp["instances"][0]["referenceImages"][0]["image"]["bytesBase64Encoded"]
        assert base64.b64decode(sent) == sheet_path.read_bytes()
        assert lamp["parameters"] == {"aspectRatio": "16:9", "resolution": "720p", "sampleCount": 1,
                                      "durationSeconds": 8, "negativePrompt": "text, watermark"}
        extension = by_prompt[prompts["clip:lamp-on"][1]]["instances"][0]
        assert extension["video"]["uri"] == metas["clip:lamp"]["remote_uri"]
        assert "referenceImages" not in extension
        for request in fakes.openai.creates():
            form = decoded_form(request)
            assert "input_reference" not in form and form["model"][0].text == "sora-2"

        # 5. cached metadata names the provider and the remote job of every rendered clip.
        for nid in ("clip:cliffs", "clip:harbour"):
            assert metas[nid]["provider"] == "sora-2"
            assert metas[nid]["job_id"] in fakes.openai.videos
        for nid in ("clip:lamp", "clip:lamp-on"):
            assert metas[nid]["provider"] == "veo-3.1"
            assert metas[nid]["job_id"] in fakes.gemini.operations
        assert metas["sheet:mei"]["provider"] == "gemini-3-pro-image"

        # 6. a second build creates nothing, and sends nothing at all.
        before = fakes.request_count()
        again = fakes.run(["build", spec.name, "--json"], tmp_path)
        second = summary(again)
        assert again.returncode == 0 and second["rendered"] == [] and len(second["cached"]) == total
        assert fakes.request_count() == before

        # 7. no key anywhere at rest or in what the user saw.
        outputs = [plan.stdout, plan.stderr, build.stdout, build.stderr, again.stdout, again.stderr]
        assert not [o for o in outputs for s in fakes.secrets if s in o]
        assert files_containing([tmp_path], fakes.secrets) == []


def test_a_wrong_openai_key_makes_the_image_route_unavailable_for_the_build(tmp_path: Path) -> None:
    """A 401 from OpenAI is about the account, not the sheet: the route's fallback draws it, and
    without one the sheet fails this build and the fixed key draws it in the next."""
    (tmp_path / "key.yaml").write_text(textwrap.dedent("""\
        version: 1
        episode: key
        defaults: {provider: local, sheet_provider: gpt-image-2, resolution: 480p, fps: 12, duration: 1}
        characters:
          mei: {name: Mei, description: a girl in a yellow raincoat, sheet: {aspect: "1:1"}}
        shots:
          - id: sea
            prompt: "{mei} looks at a grey sea."
        sequences:
          - id: all
            shots: [sea]
        """))
    write_fast_config(tmp_path)
    with RemoteFakes() as fakes:
        first = fakes.run(["build", "key.yaml", "--json"], tmp_path, OPENAI_API_KEY="sk-wrong-key-0000000000")
        assert first.returncode == 1 and "OPENAI_API_KEY" in first.stdout + first.stderr
        again = fakes.run(["build", "key.yaml", "--json"], tmp_path)
        assert again.returncode == 0 and summary(again)["failed"] == [], again.stdout + again.stderr
        assert "sheet:mei" in {n["id"] for n in json.loads(again.stdout)["rendered"]}
        assert fakes.openai.count("POST", "/v1/images/generations") == 2  # refused once, drawn once

        (tmp_path / "shotmake.toml").write_text((tmp_path / "shotmake.toml").read_text()
                                                + '\n[routes."gpt-image-2"]\nfallback = ["local-image"]\n')
        (tmp_path / "key.yaml").write_text((tmp_path / "key.yaml").read_text().replace("yellow", "red"))
        routed = fakes.run(["build", "key.yaml", "--json"], tmp_path, OPENAI_API_KEY="sk-wrong-key-0000000000")
        assert routed.returncode == 0, routed.stdout + routed.stderr
        assert "local-image" in routed.stdout + routed.stderr
