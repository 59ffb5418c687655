"""Lint: every rule has a failing and a passing example; findings point at file:line:col of the field."""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
from pathlib import Path
from typing import Any

import pytest

from shotmake.errors import SourceLocation
from shotmake.lifecycle import lifecycle
from shotmake.lint import RULES, Finding, has_errors, lint
from shotmake.model import Episode
from shotmake.plan import build_plan
from shotmake.providers.catalog import ROUTES
from shotmake.spec import episode_from_text
from shotmake.spec_secrets import find_secret, redact

GATEWAY = {"OPENAI_BASE_URL": "https://gateway.example/v1"}
TODAY = datetime.date(2026, 8, 1)

CHARACTERS = """\
characters:
  mei:
    description: a girl in a yellow raincoat
    sheet: true
  kai:
    description: a boy with a green scarf
    sheet: true
  ren:
    description: a woman with a red umbrella
  ana:
    description: an old fisherman
  bo:
    description: a small boy with a kite
"""

PLATES = """\
plates:
  harbour: {prompt: an empty harbour at dawn}
  lamp: {prompt: the great lamp of the lighthouse}
"""


def shot(sid: str, prompt: str = "a quiet harbour", **fields: Any) -> str:
    """One block-style shot; values are written as JSON (valid YAML flow)."""
    lines = [f"  - id: {sid}", f"    prompt: {json.dumps(prompt)}"]
    lines += [f"    {key}: {json.dumps(value)}" for key, value in fields.items()]
    return "\n".join(lines) + "\n"


def spec(*shots: str, characters: str = CHARACTERS, plates: str = PLATES, sequences: str | None = None,
         head: str = "") -> str:
    """A whole episode; by default one sequence holds every shot."""
    if sequences is None:
        ids = [re.match(r"  - id: (\S+)", s).group(1) for s in shots]  # type: ignore[union-attr]
        sequences = f"  - id: q\n    shots: [{', '.join(ids)}]\n"
    return f"episode: ep\n{head}{characters}{plates}shots:\n{''.join(shots)}sequences:\n{sequences}"


def check(text: str, rule: str, *, root: Path | None = None, env: dict[str, str] | None = None,
          today: datetime.date = TODAY, routes: Any = ROUTES) -> list[Finding]:
    """Lint ``text`` and return the findings of ``rule`` (each checked against the rule's severity)."""
    episode = episode_from_text(text, str(root / "ep.yaml") if root else "ep.yaml", root)
    found = [f for f in lint(episode, env=GATEWAY if env is None else env, today=today, routes=routes)
             if f.rule == rule]
    assert all(f.severity == RULES[rule].severity for f in found)
    return found


def at(text: str, needle: str, token: str | None = None, nth: int = 0, file: str = "ep.yaml") -> SourceLocation:
    """Where ``token`` (default: the value after ``key: ``) sits on the nth line containing ``needle``."""
    lines = [(i, line) for i, line in enumerate(text.splitlines()) if needle in line]
    index, line = lines[nth]
    column = line.index(token) if token is not None else line.index(needle) + len(needle.split(": ")[0]) + 2
    return SourceLocation(file, index + 1, column + 1)


def one(found: list[Finding]) -> Finding:
    assert len(found) == 1, [f.render() for f in found]
    return found[0]


# --------------------------------------------------------------------------------------------
# SM1xx: provider facts


def test_sm101_character_sheet_sent_to_sora_is_an_error() -> None:
    text = spec(shot("s1", "{mei} waves", provider="sora-2", duration=8, characters=["mei"]))
    finding = one(check(text, "SM101"))
    assert finding.severity == "error" and finding.field == "shots[0].characters[0]"
    assert finding.location == at(text, 'characters: ["mei"]', '"mei"')
    assert "human face" in finding.message and "gemini-omni" in finding.hint


def test_sm101_character_reference_image_sent_to_sora_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "ren.png").write_bytes(b"png")
    chars = CHARACTERS.replace("a woman with a red umbrella", "a woman with a red umbrella\n    references: [ren.png]")
    text = spec(shot("s1", "{ren} opens her umbrella", provider="sora-2", duration=4), characters=chars)
    finding = one(check(text, "SM101", root=tmp_path))
    assert finding.field == "shots[0].prompt" and "1 reference image" in finding.message
    assert finding.location == at(text, 'prompt: "{ren}', file=str(tmp_path / "ep.yaml"))


def test_sm101_passes_on_veo_and_for_declared_sora_characters(tmp_path: Path) -> None:
    assert check(spec(shot("s1", provider="veo-3.1", duration=8, characters=["mei"])), "SM101") == []
    (tmp_path / "mei.mp4").write_bytes(b"mp4")
    chars = CHARACTERS.replace("    sheet: true\n  kai", "    sheet: true\n    sora_character: mei.mp4\n  kai")
    text = spec(shot("s1", provider="sora-2", duration=8, characters=["mei"]), characters=chars)
    assert check(text, "SM101", root=tmp_path) == []


def test_sm102_sora_after_a_shot_with_characters() -> None:
    text = spec(shot("s1", "{mei} waves", provider="veo-3.1", duration=8),
                shot("s2", "the boat leaves", provider="sora-2", duration=4, after="s1"))
    finding = one(check(text, "SM102"))
    assert finding.field == "shots[1].after" and finding.location == at(text, 'after: "s1"')
    assert "mei" in finding.message
    assert check(text.replace('"{mei} waves"', '"waves crash"'), "SM102") == []


def test_sm103_plates_sent_to_sora_are_a_warning() -> None:
    text = spec(shot("s1", provider="sora-2", duration=4, first_frame="harbour"),
                shot("s2", provider="sora-2", duration=4, references=["lamp"]))
    first, ref = check(text, "SM103")
    assert (first.severity, first.field, first.location) == ("warning", "shots[0].first_frame",
                                                              at(text, 'first_frame: "harbour"'))
    assert ref.field == "shots[1].references[0]" and ref.location == at(text, 'references: ["lamp"]', '"lamp"')
    assert check(text.replace("sora-2", "veo-3.1").replace("duration: 4", "duration: 8"), "SM103") == []


def test_sm104_cameo_is_an_error() -> None:
    chars = CHARACTERS.replace("a girl in a yellow raincoat", "a girl in a yellow raincoat\n    cameo: '@mei.chan'")
    text = spec(shot("s1", "{mei} waves"), characters=chars)
    finding = one(check(text, "SM104"))
    assert finding.field == "characters.mei.cameo" and finding.location == at(text, "cameo: ")
    assert "sora_character" in finding.hint and "gemini-omni" in finding.hint
    assert check(spec(shot("s1", "{mei} waves")), "SM104") == []


def test_sm105_a_deprecated_route_warns_with_its_shutdown_date_and_successor() -> None:
    text = spec(shot("s1", provider="veo-3.1-vertex", duration=8))
    finding = one(check(text, "SM105", env={}))
    assert finding.field == "shots[0].provider" and finding.location == at(text, 'provider: "veo-3.1-vertex"')
    assert "veo-3.1-vertex is deprecated" in finding.message and "gemini-omni" in finding.hint
    assert check(spec(shot("s1", provider="local", duration=8)), "SM105", env={}) == []


def test_sm106_text_only_characters_on_sora_and_lite() -> None:
    text = spec(shot("s1", "{ren} walks", provider="sora-2", duration=4, characters=["ren"]))
    finding = one(check(text, "SM106"))
    assert finding.field == "shots[0].characters[0]" and "70 %" in finding.message and "80-85 %" in finding.message
    lite = one(check(spec(shot("s1", "{mei} waves", provider="veo-3.1-lite", duration=8)), "SM106"))
    assert "sends no reference images" in lite.message
    assert check(spec(shot("s1", "{mei} waves", provider="veo-3.1", duration=8)), "SM106") == []


def test_sm107_duration_the_route_does_not_accept() -> None:
    text = spec(shot("s1", provider="veo-3.1", duration=5))
    finding = one(check(text, "SM107"))
    assert finding.location == at(text, "duration: 5") and "veo-3.1 accepts 4, 6 or 8 s" in finding.message
    sora = one(check(spec(shot("s1", provider="sora-2", duration=6)), "SM107"))
    assert "sora-2 accepts 4, 8 or 12 s" in sora.message
    assert check(spec(shot("s1", provider="veo-3.1", duration=6)), "SM107") == []


def test_sm107_names_an_inherited_default() -> None:
    text = spec(shot("s1", provider="veo-3.1"), head="defaults:\n  duration: 5\n")
    finding = one(check(text, "SM107"))
    assert finding.location == at(text, "- id: s1", "id")
    assert "inherited from defaults.duration at ep.yaml:3:13" in finding.hint


def test_sm108_resolution_the_route_does_not_render() -> None:
    text = spec(shot("s1", provider="sora-2", duration=4, resolution="1080p"))
    finding = one(check(text, "SM108"))
    assert finding.location == at(text, 'resolution: "1080p"') and "sora-2 renders 720p" in finding.message
    lite = one(check(spec(shot("s1", provider="veo-3.1-lite", duration=8, resolution="4k")), "SM108"))
    assert "720p or 1080p" in lite.message and "veo-3.1" in lite.hint
    assert check(spec(shot("s1", provider="sora-2", duration=4, resolution="720p")), "SM108") == []


def test_sm109_aspect_the_route_does_not_render() -> None:
    landscape_only = {**ROUTES, "veo-3.1": dataclasses.replace(ROUTES["veo-3.1"], aspects=("16:9",))}
    text = spec(shot("s1", provider="veo-3.1", duration=8, aspect="9:16"))
    finding = one(check(text, "SM109", routes=landscape_only))
    assert finding.location == at(text, 'aspect: "9:16"') and "16:9" in finding.message
    assert check(text.replace("9:16", "16:9"), "SM109", routes=landscape_only) == []


def test_sm110_veo_4k_at_4_seconds() -> None:
    text = spec(shot("s1", provider="veo-3.1", duration=4, resolution="4k"))
    finding = one(check(text, "SM110"))
    assert finding.field == "shots[0].duration" and finding.location == at(text, "duration: 4")
    assert "4k only in 8-second clips" in finding.message and "duration: 8" in finding.hint
    assert check(spec(shot("s1", provider="veo-3.1", duration=8, resolution="4k")), "SM110") == []


def test_sm110_reference_images_need_8_seconds() -> None:
    text = spec(shot("s1", "{mei} waves", provider="veo-3.1", duration=6))
    finding = one(check(text, "SM110"))
    assert "reference images (mei's sheet)" in finding.message
    assert check(spec(shot("s1", "{ren} waves", provider="veo-3.1", duration=6)), "SM110") == []


def test_sm111_five_reference_images(tmp_path: Path) -> None:
    (tmp_path / "ren.png").write_bytes(b"png")
    chars = CHARACTERS.replace("a woman with a red umbrella", "a woman with a red umbrella\n    references: [ren.png]")
    text = spec(shot("s1", "{mei}, {kai} and {ren} at the harbour", provider="veo-3.1", duration=8,
                     references=["harbour", "lamp"]), characters=chars)
    finding = one(check(text, "SM111", root=tmp_path))
    assert finding.message.startswith("5 reference images (") and "veo-3.1 takes at most 3" in finding.message
    assert finding.field == "shots[0].references"
    assert finding.location == at(text, "references: [\"harbour\"", file=str(tmp_path / "ep.yaml"))
    fewer = text.replace('["harbour", "lamp"]', "[]").replace("{kai} and ", "")
    assert check(fewer, "SM111", root=tmp_path) == []


def test_sm111_sora_takes_one_input_image_and_lite_none() -> None:
    text = spec(shot("s1", provider="sora-2", duration=4, first_frame="harbour", references=["lamp"]))
    finding = one(check(text, "SM111"))
    assert "2 input images" in finding.message and "sora-2 takes at most 1" in finding.message
    lite = one(check(spec(shot("s1", provider="veo-3.1-lite", duration=8, references=["lamp"])), "SM111"))
    assert "takes no reference images" in lite.message
    assert check(spec(shot("s1", provider="sora-2", duration=4, references=["lamp"])), "SM111") == []


def test_sm112_veo_refuses_references_with_a_first_frame() -> None:
    # Character sheets stay home when a Veo shot has a first frame (plan.character_references_sent);
    # a plate the user lists as a reference would still be sent, and Veo would refuse it.
    text = spec(shot("s1", "{mei} waves", provider="veo-3.1", duration=8),
                shot("s2", "{mei} turns", provider="veo-3.1", duration=8, after="s1", references=["lamp"]))
    finding = one(check(text, "SM112"))
    assert finding.field == "shots[1].after" and finding.location == at(text, 'after: "s1"')
    assert "plate 'lamp'" in finding.message and "mei's sheet" not in finding.message
    sheets_only = spec(shot("s1", "{mei} waves", provider="veo-3.1", duration=8),
                       shot("s2", "{mei} turns", provider="veo-3.1", duration=8, after="s1"))
    assert check(sheets_only, "SM112") == []
    assert check(text.replace("veo-3.1", "local"), "SM112") == []


def test_sm113_extension_the_route_cannot_do() -> None:
    lite = spec(shot("s1", provider="veo-3.1-lite", duration=8),
                shot("s2", provider="veo-3.1-lite", duration=7, extends="s1"))
    finding = one(check(lite, "SM113"))
    assert finding.field == "shots[1].extends" and finding.location == at(lite, 'extends: "s1"')
    assert "cannot extend" in finding.message
    other = spec(shot("s1", provider="local", duration=8), shot("s2", provider="veo-3.1", duration=7, extends="s1"))
    assert "renders on local" in one(check(other, "SM113")).message
    big = spec(shot("s1", provider="veo-3.1", duration=8, resolution="1080p"),
               shot("s2", provider="veo-3.1", duration=7, extends="s1"))
    assert "only 720p" in one(check(big, "SM113")).message
    good = spec(shot("s1", provider="veo-3.1", duration=8), shot("s2", provider="veo-3.1", duration=7, extends="s1"))
    assert check(good, "SM113") == []


def test_sm114_extension_step_and_chain_length() -> None:
    text = spec(shot("s1", provider="veo-3.1", duration=8), shot("s2", provider="veo-3.1", duration=8, extends="s1"))
    finding = one(check(text, "SM114"))
    assert finding.location == at(text, "duration: 8", nth=1) and "adds 7 s" in finding.message
    chain = [shot("e0", provider="veo-3.1", duration=8)]
    chain += [shot(f"e{i}", provider="veo-3.1", duration=7, extends=f"e{i - 1}") for i in range(1, 22)]
    too_long = one(check(spec(*chain), "SM114"))  # 8 + 21 x 7 = 155 s
    assert too_long.field == "shots[21].extends" and "155 s" in too_long.message and "148 s" in too_long.message
    assert check(spec(*chain[:21]), "SM114") == []  # 8 + 20 x 7 = 148 s


def test_sm114_omni_extensions_add_the_shots_own_duration_within_the_route_range() -> None:
    good = spec(shot("s1", provider="gemini-omni", duration=10), shot("s2", provider="gemini-omni", duration=5,
                                                                        extends="s1"))
    assert check(good, "SM114") == []
    short = spec(shot("s1", provider="gemini-omni", duration=10), shot("s2", provider="gemini-omni", duration=2,
                                                                         extends="s1"))
    assert "adds 3-15 s, not 2 s" in one(check(short, "SM114")).message
    chain = [shot("e0", provider="gemini-omni", duration=15)]
    chain += [shot(f"e{i}", provider="gemini-omni", duration=10, extends=f"e{i - 1}") for i in range(1, 4)]
    assert "40 s" in one(check(spec(*chain), "SM114")).message  # 15 + 3 x 10 = 45 s


def test_sm111_omni_takes_three_reference_images(tmp_path: Path) -> None:
    (tmp_path / "ren.png").write_bytes(b"png")
    chars = CHARACTERS.replace("a woman with a red umbrella", "a woman with a red umbrella\n    references: [ren.png]")
    text = spec(shot("s1", "{mei}, {kai} and {ren} at the harbour", provider="gemini-omni", duration=8,
                     references=["harbour"]), characters=chars)
    assert "gemini-omni takes at most 3" in one(check(text, "SM111", root=tmp_path)).message
    assert check(text.replace('["harbour"]', "[]").replace("{kai} and ", ""), "SM111", root=tmp_path) == []


def test_sm115_frames_the_route_does_not_take() -> None:
    text = spec(shot("s1", provider="sora-2", duration=4, first_frame="harbour", last_frame="lamp"))
    finding = one(check(text, "SM115"))
    assert finding.field == "shots[0].last_frame" and finding.location == at(text, 'last_frame: "lamp"')
    assert "veo-3.1" in finding.hint
    assert check(text.replace("sora-2", "veo-3.1"), "SM115") == []
    no_first = {**ROUTES, "veo-3.1": dataclasses.replace(ROUTES["veo-3.1"], first_frame=False)}
    blind = spec(shot("s1", provider="veo-3.1", duration=8, first_frame="harbour"))
    assert one(check(blind, "SM115", routes=no_first)).field == "shots[0].first_frame"


def test_sm116_too_many_characters() -> None:
    text = spec(shot("s1", "{ren}, {ana} and {bo} on the pier", provider="sora-2", duration=4))
    finding = one(check(text, "SM116"))
    assert finding.severity == "warning" and finding.location == at(text, 'prompt: "{ren}')
    assert "sora-2 keeps about 2" in finding.message
    assert check(spec(shot("s1", "{ren} and {ana} on the pier", provider="sora-2", duration=4)), "SM116") == []


# --------------------------------------------------------------------------------------------
# SM2xx: hygiene


KEY = "sk-proj-" + "Ab3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF3hJ5"


def test_sm201_api_key_in_the_spec_is_an_error_and_never_printed() -> None:
    chars = CHARACTERS.replace("a boy with a green scarf", f"a boy with a green scarf {KEY}")
    text = spec(shot("s1", "{kai} waves"), characters=chars)
    finding = one(check(text, "SM201"))
    assert finding.field == "characters.kai.description" and finding.location == at(text, "description: a boy")
    rendered = finding.render()
    assert "sk-proj-…" in rendered and KEY not in rendered and KEY[8:20] not in rendered
    assert "environment" in finding.hint
    assert check(spec(shot("s1", "{kai} waves")), "SM201") == []


@pytest.mark.parametrize("secret", [
    "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
    "Bearer abcDEF123ghiJKL456mnoPQR789",
    "x9Kq2Lm7Pz4Rt8Vw3Ny6Bc1Df5Gh0Jk2Ls4Mn",  # a long random token with no known prefix
    # every shape of spec_secrets._SECRET_PATTERNS, through the one-search pre-check over the whole spec
    "ya29.a0AfH6SMBx1y2z3A4B5C6D7E8F9",
    "ghp_a1B2c3D4e5F6g7H8i9J0k1L2",
    "AKIAIOSFODNN7EXAMPLE",
    "sk-ant-a1B2c3D4e5F6g7H8i9J0k1",
    "bearer abcDEF123ghiJKL456",
])
def test_sm201_other_key_shapes(secret: str) -> None:
    text = spec(shot("s1", f"the harbour {secret}"))
    finding = one(check(text, "SM201"))
    assert finding.field == "shots[0].prompt" and secret not in finding.render()


def test_sm201_leaves_prose_paths_and_digests_alone() -> None:
    assert find_secret("a girl with a short black bob and round silver glasses") is None
    assert find_secret("assets/characters/Mei_Reference_Sheet_Final_v2.png") is None
    assert find_secret("3f9a0c5e7b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a") is None
    assert redact(f"key {KEY} here") == "key sk-proj-… here"


def test_sm202_unused_character(tmp_path: Path) -> None:
    text = spec(shot("s1", "{mei} and {kai} wave", characters=["ren", "ana"]))
    finding = one(check(text, "SM202"))
    assert finding.field == "characters.bo"
    assert finding.location == at(text, "description: a small boy", "description")  # the character's mapping
    assert check(text.replace("wave", "wave at {bo}"), "SM202") == []
    (tmp_path / "bible.yaml").write_text("characters:\n  gran: {description: the lighthouse keeper}\n")
    used = text.replace("wave", "wave at {bo}").replace("episode: ep\n", "episode: ep\ninclude: [bible.yaml]\n")
    assert check(used, "SM202", root=tmp_path) == []  # series-bible characters need not appear


def test_sm203_shot_in_no_sequence() -> None:
    text = spec(shot("s1"), shot("s2"), sequences="  - id: q\n    shots: [s1]\n")
    finding = one(check(text, "SM203"))
    assert finding.field == "shots[1].id" and finding.location == at(text, "- id: s2")
    needed = spec(shot("s1"), shot("s2", after="s1"), sequences="  - id: q\n    shots: [s2]\n")
    assert check(needed, "SM203") == []  # s1's last frame feeds s2


def test_sm204_shot_in_two_sequences() -> None:
    text = spec(shot("s1"), shot("s2"), sequences="  - id: q\n    shots: [s1, s2]\n  - id: r\n    shots: [s1]\n")
    finding = one(check(text, "SM204"))
    assert finding.field == "sequences[1].shots[0]" and finding.location == at(text, "shots: [s1]", "s1")
    assert check(spec(shot("s1"), sequences="  - id: q\n    shots: [s1, s1]\n"), "SM204") == []


def test_sm205_sequence_longer_than_the_maximum() -> None:
    head = "lint:\n  max_sequence_seconds: 12\n"
    text = spec(shot("s1", duration=8), shot("s2", duration=8), head=head)
    finding = one(check(text, "SM205"))
    assert finding.field == "sequences[0]" and finding.location == at(text, "- id: q", "id")
    assert "16 s" in finding.message and "12 s" in finding.message
    trimmed = spec(shot("s1", duration=8, trim={"out": 4}), shot("s2", duration=8), head=head)
    assert check(trimmed, "SM205") == []
    assert check(spec(shot("s1", duration=8), shot("s2", duration=8)), "SM205") == []  # default 300 s


# --------------------------------------------------------------------------------------------
# What a route honours (SM117, SM118) and lifecycle (SM120)


def test_sm117_a_seed_negative_or_silence_the_route_ignores_is_named() -> None:
    fields = {"seed": 7, "negative": "rain", "audio": False}
    found = check(spec(shot("s1", provider="gemini-omni", duration=8, **fields)), "SM117")
    # Omni takes a seed; it has no negative prompt and always generates sound.
    assert [f.field for f in found] == ["shots[0].negative", "shots[0].audio"]
    assert found[0].message == "gemini-omni does not take a negative prompt"
    assert found[0].location == at(spec(shot("s1", provider="gemini-omni", duration=8, **fields)), 'negative: "rain"')
    assert check(spec(shot("s1", provider="local", duration=8, **fields)), "SM117") == []


def test_sm118_the_style_negative_is_named_once_for_routes_without_one() -> None:
    head = "style:\n  negative: text, watermark\n"
    text = spec(shot("s1", provider="gemini-omni", duration=8), shot("s2", provider="gemini-omni", duration=4),
                shot("s3", provider="wan-2.7", duration=5), head=head)
    found = one(check(text, "SM118"))
    assert found.field == "style.negative" and "gemini-omni" in found.message and "wan-2.7" not in found.message
    assert check(spec(shot("s1", provider="wan-2.7", duration=5), head=head), "SM118") == []
def lifecycle_of(text: str, today: datetime.date, cached: tuple[str, ...] = ()) -> list[Finding]:
    """SM120 findings for ``text`` with every rendered node dirty except ``cached`` (node ids)."""
    episode = episode_from_text(text, "ep.yaml")
    plan = build_plan(episode, lambda path: "0" * 64)
    return lifecycle(plan, [nid for nid in plan.order if nid not in cached], ROUTES, today)


def test_sm120_a_dirty_node_on_a_retired_route_names_date_successor_and_cached_count() -> None:
    text = spec(shot("s1", provider="veo-3.1", duration=8), shot("s2", provider="veo-3.1", duration=8),
                shot("s3", provider="local", duration=4), characters="", plates="")
    today = datetime.date(2026, 11, 28)
    finding = one(lifecycle_of(text, today, cached=("clip:s1",)))
    assert finding.rule == "SM120" and finding.severity == RULES["SM120"].severity == "error"
    assert finding.field == "clip:s2" and finding.location == episode_from_text(text, "ep.yaml").shots["s2"].location
    assert "veo-3.1 (veo-3.1-generate-preview) was retired on 2026-10-22" in finding.message
    assert "successor is gemini-omni" in finding.message and "1 node would render on it (clip:s2)" in finding.message
    assert "1 of the episode's 2 nodes on it are cached" in finding.message and "gemini-omni" in finding.hint
    assert lifecycle_of(text, today, cached=("clip:s1", "clip:s2")) == []  # all cached: builds, renders nothing
    assert lifecycle_of(text, datetime.date(2026, 10, 21)) == []  # the day before the shutdown


def test_sm120_a_deprecated_route_becomes_retired_on_its_date() -> None:
    text = spec(shot("s1", provider="local", duration=4), characters="", plates="",
                head="defaults:\n  sheet_provider: gpt-image-1.5\n") + ""
    text = text.replace("shots:\n", "characters:\n  mei:\n    description: a girl\n    sheet: true\nshots:\n", 1)
    text = text.replace('prompt: "a quiet harbour"', 'prompt: "{mei} in a quiet harbour"')
    assert lifecycle_of(text, datetime.date(2026, 11, 30)) == []
    finding = one(lifecycle_of(text, datetime.date(2026, 12, 1)))
    assert finding.field == "sheet:mei" and "gpt-image-1.5 (gpt-image-1.5) was retired on 2026-12-01" in finding.message


def test_sm120_a_pinned_model_takes_the_lifecycle_of_the_route_that_sends_it() -> None:
    pinned = spec(shot("s1", provider="local", duration=4), characters="", plates="").replace(
        "shots:\n", "characters:\n  mei:\n    description: a girl\n    sheet: {provider: gemini-3-pro-image, "
        "model: gemini-3-pro-image-preview}\nshots:\n", 1).replace('"a quiet harbour"', '"{mei} waves"')
    finding = one(lifecycle_of(pinned, datetime.date(2026, 11, 28)))
    assert "gemini-3-pro-image-preview (gemini-3-pro-image-preview) was retired on 2026-06-25" in finding.message
    assert "successor is gemini-3-pro-image" in finding.message
    assert lifecycle_of(pinned, datetime.date(2026, 11, 28), cached=("sheet:mei",)) == []


# --------------------------------------------------------------------------------------------
# Silencing, order, rendering, docs


def test_silence_per_shot_and_per_episode() -> None:
    shots = (shot("s1", "{mei} waves", provider="sora-2", duration=4, ignore=["SM101"]),
             shot("s2", "{mei} turns", provider="sora-2", duration=4))
    found = check(spec(*shots), "SM101")
    assert [f.field for f in found] == ["shots[1].prompt"]  # s1 silenced it, s2 did not
    assert check(spec(*shots, head="lint:\n  ignore: [SM101, SM105]\n"), "SM101") == []
    assert check(spec(*shots, head="lint:\n  ignore: [SM105]\n"), "SM105", env={}) == []


def test_findings_are_sorted_by_line_and_has_errors() -> None:
    text = spec(shot("s1", "{ren} walks", provider="sora-2", duration=5),
                shot("s2", provider="veo-3.1", duration=4, resolution="4k"),
                shot("s3", provider="veo-3.1-vertex", duration=8))
    findings = lint(episode_from_text(text, "ep.yaml"), env={}, today=TODAY)
    lines = [(f.location.line, f.location.column) for f in findings if f.location]
    assert lines == sorted(lines) and {"SM105", "SM106", "SM107", "SM110"} <= {f.rule for f in findings}
    assert has_errors(findings) and not has_errors([f for f in findings if f.severity == "warning"])


def test_render_format() -> None:
    finding = Finding("SM110", "error", "veo-3.1 takes 4k only in 8-second clips, not 4 s",
                      SourceLocation("episodes/pilot.yaml", 23, 7), "shots[3].duration", "set duration: 8")
    assert finding.render() == ("episodes/pilot.yaml:23:7: SM110 error: shots[3].duration: veo-3.1 takes 4k "
                                "only in 8-second clips, not 4 s (set duration: 8)")
    assert Finding("SM205", "warning", "too long", None, "", "").render() == "SM205 warning: too long"


def test_a_clean_spec_has_no_findings() -> None:
    text = spec(shot("s1", "{mei} and {kai} wave", provider="gemini-omni", duration=8, characters=["mei", "kai"]),
                shot("s2", "{ren}, {ana} and {bo} on the pier", provider="local", duration=3))
    assert lint(episode_from_text(text, "ep.yaml"), env={}, today=TODAY) == []


def test_pilot_lints_clean_offline() -> None:
    from shotmake.spec import load_episode

    episode: Episode = load_episode(Path(__file__).parent.parent / "episodes" / "pilot.yaml")
    assert [f.render() for f in lint(episode, env={}, today=TODAY)] == []


def test_every_rule_is_documented_and_every_documented_rule_exists() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "lint.md").read_text(encoding="utf-8")
    assert set(re.findall(r"\bSM\d{3}\b", doc)) == set(RULES)
    for rule in RULES.values():
        line = next(line for line in doc.splitlines() if line.startswith(f"| {rule.id} "))
        assert f"| {rule.severity} |" in line


def test_every_rule_has_its_own_test() -> None:
    # Rules of their own module are tested in their own file (test_lint_voice.py).
    source = "".join(p.read_text(encoding="utf-8") for p in sorted(Path(__file__).parent.glob("test_lint*.py")))
    assert [r for r in RULES if f"def test_{r.lower()}_" not in source] == []


def test_sm301_a_shot_of_another_aspect_than_the_master_is_named_with_the_fix() -> None:
    text = spec(shot("s1"), shot("s2", aspect="9:16"), shot("s3"), shot("s4", aspect="9:16"))
    found = check(text, "SM301")
    assert [f.field for f in found] == ["shots[1].aspect", "shots[3].aspect"]
    assert found[0].location == at(text, 'aspect: "9:16"')
    assert "'s2' is 9:16 but the master is 16:9" in found[0].message and "pillarboxed" in found[0].message
    assert 'aspect: "16:9"' in found[0].hint and 'delivery: {format: {aspect: "9:16"}}' in found[0].hint
    # A vertical episode says so; then the landscape shots are the odd ones out.
    vertical = check(text.replace("shots:\n", 'delivery: {format: {aspect: "9:16"}}\nshots:\n', 1), "SM301")
    assert [f.field for f in vertical] == ["shots[0].aspect", "shots[2].aspect"]
    assert "letterboxed" in vertical[0].message and "delivery.format.aspect at ep.yaml:" in vertical[0].message
    assert check(text.replace('"9:16"', '"16:9"'), "SM301") == []


def test_sm302_burned_subtitle_characters_the_font_lacks(tmp_path: Path) -> None:
    from shotmake import media

    burn = "delivery: {subtitles: {burn: true}}\n"
    text = spec(shot("s1") + '    subtitle: "你好 🦜"\n', shot("s2", subtitle="Hello"), head=burn)
    finding = one(check(text, "SM302", root=tmp_path))
    assert finding.field == "shots[0].subtitle" and "🦜 (U+1F99C)" in finding.message
    assert "Noto Sans CJK" in finding.message and "subtitles: {font: FILE}" in finding.hint
    assert check(text.replace(" 🦜", ""), "SM302", root=tmp_path) == []  # the bundled font covers Chinese
    assert check(text.replace(burn, ""), "SM302", root=tmp_path) == []  # a sidecar .srt is the player's business
    latin = media.find_font()
    if latin is None or "DejaVu" not in latin:
        pytest.skip("no DejaVu Sans to stand for a font without Chinese")
    (tmp_path / "latin.ttf").write_bytes(Path(latin).read_bytes())
    chosen = text.replace(burn, "delivery: {subtitles: {burn: true, font: latin.ttf}}\n").replace(" 🦜", "")
    finding = one(check(chosen, "SM302", root=tmp_path))
    assert "delivery.subtitles.font has no glyph for 你 (U+4F60) 好 (U+597D)" in finding.message
    (tmp_path / "latin.ttf").write_bytes(b"not a font")
    assert "not a usable font file" in one(check(chosen, "SM302", root=tmp_path)).message


def test_sm303_a_rendition_that_enlarges_part_of_the_master() -> None:
    text = spec(shot("s1"), head="delivery: {renditions: [proxy, vertical]}\n")
    finding = one(check(text, "SM303"))
    assert finding.field == "delivery.renditions[1]"
    assert "vertical rendition (720x1280) enlarges part of the 720p 16:9 master 1.78x" in finding.message
    vertical = text.replace("delivery: {", 'delivery: {format: {aspect: "9:16"}, ')
    assert check(vertical.replace("id: s1", 'id: s1\n    aspect: "9:16"'), "SM303") == []


# --------------------------------------------------------------------------------------------
# SM211: image aspects a route does not render


def test_sm211_an_aspect_the_image_route_does_not_render() -> None:
    chars = CHARACTERS.replace("    sheet: true\n  kai:", "    sheet: {provider: gpt-image-1, aspect: \"16:9\"}\n  kai:")
    plates = PLATES.replace("{prompt: the great lamp of the lighthouse}",
                            "{prompt: the great lamp, provider: gemini-3-pro-image, aspect: \"5:4\"}")
    found = check(spec(shot("s1", "{mei} waves")), "SM211") + check(
        spec(shot("s1", "{mei} waves"), characters=chars, plates=plates), "SM211")
    assert sorted(f.field for f in found) == ["characters.mei.sheet.aspect", "plates.lamp.aspect"]
    sheet = next(f for f in found if f.field.startswith("characters"))
    assert "gpt-image-1 renders 1:1, 3:2 or 2:3, not 16:9" in sheet.message
    # The local image renderer draws any aspect.
    local = PLATES.replace("{prompt: the great lamp of the lighthouse}", "{prompt: the lamp, aspect: \"5:4\"}")
    assert check(spec(shot("s1"), plates=local), "SM211") == []


# --------------------------------------------------------------------------------------------
# SM140-SM149: Seedance (Ark content-generation tasks)


def test_sm140_references_win_over_frames_on_seedance_and_the_frame_becomes_a_reference() -> None:
    text = spec(shot("s1", "{mei} waves", provider="seedance-2.0", duration=5),
                shot("s2", "{kai} runs", provider="seedance-2.0", duration=5, characters=["kai"], after="s1"),
                shot("s3", "{kai} runs", provider="seedance-2.0", duration=5, characters=["kai"],
                     first_frame="harbour"))
    found = check(text, "SM140")
    assert [f.field for f in found] == ["shots[1].after", "shots[2].first_frame"]
    assert "kai's sheet" in found[0].message and "sent as one more reference image" in found[0].message
    assert "ignore: [SM140]" in found[0].hint
    assert check(text, "SM112") == []  # Veo's refusal does not apply: Seedance sends the sheets all the same
    assert check(text.replace('"{kai} runs"', '"waves"').replace('["kai"]', "[]"), "SM140") == []


def test_sm141_frames_sent_as_references_count_against_the_limit() -> None:
    plates = "plates:\n" + "".join(f"  p{i}: {{prompt: plate {i}}}\n" for i in range(10))
    refs = [f"p{i}" for i in range(9)]
    text = spec(shot("s1", "the sea", provider="seedance-2.0", duration=5, references=refs, first_frame="p9"),
                plates=plates)
    finding = one(check(text, "SM141"))
    assert finding.field == "shots[0].first_frame" and "10 reference images" in finding.message
    assert check(spec(shot("s1", "the sea", provider="seedance-2.0", duration=5, references=refs[:8],
                           first_frame="p9"), plates=plates), "SM141") == []


def test_sm142_video_or_audio_references_cannot_be_sent_to_seedance(tmp_path: Path) -> None:
    (tmp_path / "voice.mp3").write_bytes(b"ID3")
    (tmp_path / "ren.png").write_bytes(b"png")
    chars = CHARACTERS.replace("a woman with a red umbrella", "a woman with a red umbrella\n"
                               "    references: [ren.png, voice.mp3]")
    text = spec(shot("s1", "{ren} sings", provider="seedance-2.0", duration=5, characters=["ren"]),
                characters=chars)
    finding = one(check(text, "SM142", root=tmp_path))
    assert finding.field == "characters.ren.references[1]" and "voice.mp3" in finding.message
    assert check(text.replace("provider: \"seedance-2.0\"", "provider: \"veo-3.1\""), "SM142",
                 root=tmp_path) == []


def test_sm143_seedance_takes_whole_seconds() -> None:
    text = spec(shot("s1", "the sea", provider="seedance-2.0", duration=4.5))
    finding = one(check(text, "SM143"))
    assert finding.field == "shots[0].duration" and "whole seconds, not 4.5 s" in finding.message
    assert "duration: 4 or 5" in finding.hint
    assert check(spec(shot("s1", "the sea", provider="seedance-2.0", duration=5)), "SM143") == []


def test_sm150_reference_clips_and_audio_beyond_the_routes_limits(tmp_path: Path) -> None:
    for name in ("a.mp4", "b.mp4", "c.mov", "d.mp4", "e.mp4", "f.mp4", "v.mp3"):
        (tmp_path / name).write_bytes(b"x")
    chars = CHARACTERS.replace("a woman with a red umbrella",
                               "a woman with a red umbrella\n    references: [a.mp4, b.mp4, c.mov, d.mp4, e.mp4, f.mp4]")
    six = spec(shot("s1", "{ren} waves", provider="wan-2.7", duration=5), characters=chars)
    finding = one(check(six, "SM150", root=tmp_path))
    assert "6 reference clips" in finding.message and "wan-2.7 takes at most 5" in finding.message
    assert finding.field == "shots[0].prompt"
    voice = spec(shot("s1", "{ren} sings", provider="wan-2.7", duration=5, characters=["ren"]),
                 characters=CHARACTERS.replace("a woman with a red umbrella",
                                               "a woman with a red umbrella\n    references: [a.mp4, v.mp3]"))
    finding = one(check(voice, "SM150", root=tmp_path))
    assert "1 reference audio file (ren's v.mp3)" in finding.message and "takes no reference audio files" \
        in finding.message and finding.field == "shots[0].characters"
    assert check(voice.replace("wan-2.7", "wan-3.0"), "SM150", root=tmp_path) == []


def test_sm151_wan_takes_whole_seconds() -> None:
    finding = one(check(spec(shot("s1", provider="wan-2.7", duration=4.5)), "SM151"))
    assert finding.field == "shots[0].duration" and "whole seconds, not 4.5 s" in finding.message
    assert check(spec(shot("s1", provider="wan-2.7", duration=5)), "SM151") == []
    assert check(spec(shot("s1", provider="local", duration=4.5)), "SM151") == []


def test_sm113_the_720p_extension_rule_is_the_routes_own() -> None:
    """Veo extends only 720p clips; a route whose catalog names no extension resolutions (Omni) extends any."""
    veo = spec(shot("s1", provider="veo-3.1", duration=8, resolution="1080p"),
               shot("s2", provider="veo-3.1", duration=7, resolution="1080p", extends="s1"))
    assert {f.field for f in check(veo, "SM113")} == {"shots[1].extends", "shots[1].resolution"}
    omni = spec(shot("s1", provider="gemini-omni", duration=8, resolution="1080p"),
                shot("s2", provider="gemini-omni", duration=5, resolution="1080p", extends="s1"))
    assert check(omni, "SM113") == []
