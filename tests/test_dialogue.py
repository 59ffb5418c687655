"""Dialogue and voices: prompt text per route and language, cue timing, voice samples in the plan,
invalidation, and the shipped example built offline."""

from __future__ import annotations

import json
import re
import shutil
import wave
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from shotmake.cache import file_digest
from shotmake.cli import cli
from shotmake.dialogue import convention, labels, line_spans, measure, needed_seconds, render_line
from shotmake.model import Line
from shotmake.plan import Plan, build_plan
from shotmake.spec import episode_from_text, load_episode

REPO = Path(__file__).resolve().parents[1]


def write_wav(path: Path, seconds: float = 1.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(1)
        out.setframerate(8000)
        out.writeframes(b"\x80" * int(seconds * 8000))
    return path


def episode_text(provider: str = "local", language: str = "", mei_voice: str = "a bright, quick voice",
                 sample: str | None = None, extra_shots: str = "") -> str:
    voice: dict[str, Any] = {"description": mei_voice}
    if sample:
        voice["sample"] = sample
    return f"""\
episode: talk
{f"language: {language}" if language else ""}
style: {{look: ink wash, palette: grey and red}}
defaults: {{provider: {provider}, duration: 5}}
characters:
  mei:
    name: {"美" if language == "zh" else "Mei"}
    description: {"穿黄色雨衣的女孩" if language == "zh" else "a girl in a yellow raincoat"}
    sheet: true
    voice: {json.dumps(voice, ensure_ascii=False)}
  kai:
    name: Kai
    description: a boy with a green scarf
    sheet: true
    voice: {{description: a low calm voice}}
shots:
  - id: a
    prompt: "{{mei}} waves at {{kai}}"
    dialogue:
      - {{speaker: mei, line: "{"你好，凯！" if language == "zh" else "Hello, {Kai}!"}", delivery: {"大声" if language == "zh" else "shouting"}}}
      - {{speaker: kai, line: "{"嗯。" if language == "zh" else "Hm."}"}}
  - id: b
    prompt: "{{kai}} alone, fixing a radio"
    dialogue: [{{speaker: kai, line: "{"又坏了。" if language == "zh" else "Broken again."}"}}]
  - id: c
    prompt: "{{mei}} climbs the stairs"
    dialogue: [{{speaker: mei, line: "{"等等我！" if language == "zh" else "Wait for me!"}"}}]
  - id: d
    prompt: "{{mei}} and {{kai}} look at the sea"
{extra_shots}sequences:
  - id: q
    shots: [a, b, c, d]
"""


def plan_of(text: str, root: Path | None = None) -> Plan:
    file = str(root / "ep.yaml") if root else "ep.yaml"
    return build_plan(episode_from_text(text, file, root), file_digest)


# -- prompt text -------------------------------------------------------------------------------


@pytest.mark.parametrize(("provider", "expected"), [
    ("local", 'Mei says, shouting: "Hello, {Kai}!"\nKai says: "Hm."'),         # the Veo/Omni guide form
    ("gemini-omni", 'Mei says, shouting: "Hello, {Kai}!"\nKai says: "Hm."'),
    ("seedance-2.0", 'Mei (shouting): "Hello, {Kai}!"\nKai: "Hm."'),
    ("wan-2.7", 'Mei, shouting, says: "Hello, {Kai}!"\nKai says: "Hm."'),
])
def test_each_route_gets_the_lines_in_its_convention_words_untouched(provider: str, expected: str) -> None:
    prompt = plan_of(episode_text(provider)).node("clip:a").manifest["prompt"]
    assert "Dialogue:\n" + expected in prompt
    # The braces in a line are words, not a placeholder: never expanded.
    assert "Hello, {Kai}!" in prompt


def test_voice_descriptions_only_where_the_character_speaks_and_verbatim() -> None:
    plan = plan_of(episode_text())
    prompts = {s: plan.node(f"clip:{s}").manifest["prompt"] for s in "abcd"}
    assert "Voices:\n- Mei: a bright, quick voice\n- Kai: a low calm voice" in prompts["a"]
    assert "Voices:\n- Kai: a low calm voice" in prompts["b"] and "bright" not in prompts["b"]
    assert "a bright, quick voice" in prompts["c"] and "low calm" not in prompts["c"]
    assert "Voices:" not in prompts["d"] and "Dialogue:" not in prompts["d"]


def test_a_chinese_episode_prompt_is_chinese_throughout() -> None:
    prompt = plan_of(episode_text("seedance-2.0", language="zh")).node("clip:a").manifest["prompt"]
    assert prompt == (
        "美 waves at Kai\n\n"
        "角色：\n- 美：穿黄色雨衣的女孩\n- Kai：a boy with a green scarf\n\n"
        "声音：\n- 美：a bright, quick voice\n- Kai：a low calm voice\n\n"
        "对白：\n美（大声）：“你好，凯！”\nKai：“嗯。”\n\n"
        "风格：ink wash\n色调：grey and red")
    for english in ("Characters:", "Voices:", "Dialogue:", "Style:", "Palette:", "says"):
        assert english not in prompt


def test_a_language_tag_uses_its_language_and_an_unknown_one_is_a_spec_error() -> None:
    from shotmake.errors import SpecError

    prompt = plan_of(episode_text("wan-2.7", language="zh-CN")).node("clip:b").manifest["prompt"]
    assert "Kai说：“Broken again.”" in prompt and "对白：" in prompt
    with pytest.raises(SpecError) as err:
        episode_from_text(episode_text(language="xx"), "ep.yaml")
    assert err.value.field == "language" and "en, zh, ja" in err.value.hint


def test_a_series_language_applies_unless_the_episode_sets_its_own(tmp_path: Path) -> None:
    (tmp_path / "bible.yaml").write_text("language: zh\n", encoding="utf-8")
    text = "include: [bible.yaml]\n" + episode_text()
    (tmp_path / "ep.yaml").write_text(text, encoding="utf-8")
    assert load_episode(tmp_path / "ep.yaml", tmp_path).language == "zh"
    (tmp_path / "ep.yaml").write_text("include: [bible.yaml]\n" + episode_text(language="ja"), encoding="utf-8")
    assert load_episode(tmp_path / "ep.yaml", tmp_path).language == "ja"


def test_english_labels_keep_the_keys_of_shots_without_dialogue() -> None:
    # The labels became data; a shot without dialogue must compile exactly as before.
    prompt = plan_of(episode_text()).node("clip:d").manifest["prompt"]
    assert prompt == ("Mei and Kai look at the sea\n\nCharacters:\n- Mei: a girl in a yellow raincoat\n"
                      "- Kai: a boy with a green scarf\n\nStyle: ink wash\nPalette: grey and red")


def test_render_line_and_conventions_as_data() -> None:
    line = Line("mei", 'He said "{x}" twice', "quietly")
    assert render_line(line, "Mei", convention("seedance", "en")) == 'Mei (quietly): "He said "{x}" twice"'
    assert render_line(Line("mei", "走吧"), "美", convention("wan", "zh")) == "美说：“走吧”"
    assert convention("no-such", "en") == convention("quoted", "en")
    assert labels("ja").dialogue == "台詞："


# -- timing -------------------------------------------------------------------------------------


def test_measure_counts_words_and_cjk_characters() -> None:
    assert measure("Hello there, Kai!") == (3, 0)
    assert measure("你好，凯！") == (0, 3)
    assert measure("OK 我们走") == (1, 3)
    assert needed_seconds([Line("a", " ".join(["w"] * 6)), Line("b", "w w w")]) == pytest.approx(3.25)


def test_untimed_lines_spread_across_the_shot_by_length() -> None:
    spans = line_spans([Line("a", "one two three"), Line("b", "four")], 8.0)
    assert spans == [(0.0, 6.0), (6.0, 8.0)]


def test_timed_lines_anchor_and_untimed_ones_fill_the_gaps() -> None:
    lines = [Line("a", "one"), Line("b", "two", start=3.0, end=4.0), Line("a", "three four"), Line("b", "x")]
    assert line_spans(lines, 10.0) == [(0.0, 3.0), (3.0, 4.0), (4.0, 8.0), (8.0, 10.0)]


def test_dialogue_becomes_subtitle_cues_and_an_explicit_subtitle_wins() -> None:
    text = episode_text().replace('  - id: d\n', '  - id: d\n    subtitle: "The sea."\n')
    text = text.replace("shots: [a, b, c, d]", "shots: [a, b, c, d]").replace(
        '    prompt: "{kai} alone, fixing a radio"\n',
        '    prompt: "{kai} alone, fixing a radio"\n    trim: {in: 1.0}\n')
    node = plan_of(text).node("subtitles:talk")
    a, b, _, d = node.manifest["text"][0]
    assert a == [[0.0, 3.333, "Hello, {Kai}!"], [3.333, 5.0, "Hm."]]  # 2 words, then 1
    assert b == [[0.0, 4.0, "Broken again."]]  # timed on the clip, shown from trim.in
    assert d == "The sea."


def test_subtitle_cues_land_inside_each_clip_window() -> None:
    from fractions import Fraction

    from shotmake.timeline import Window, shot_cues

    windows = [Window(Fraction(0), Fraction(5)), Window(Fraction(5), Fraction(9))]
    cues = shot_cues(windows, [[[0.0, 3.0, "one"], [3.0, 6.0, "two"]], "whole"])
    assert [(float(c.start), float(c.end), c.text) for c in cues] == [(0, 3, "one"), (3, 5, "two"), (5, 9, "whole")]


# -- voice samples in the plan --------------------------------------------------------------------


@pytest.mark.parametrize(("provider", "sample", "sent"), [
    ("seedance-2.0", "voices/mei.wav", True),     # reference audio
    ("wan-3.0", "voices/mei.wav", True),
    ("wan-2.7", "voices/mei.wav", False),         # takes a clip, not a recording
    ("gemini-omni", "voices/mei.wav", False),     # description only
    ("local", "voices/mei.wav", False),
])
def test_a_voice_sample_reaches_only_the_routes_that_take_its_kind(tmp_path: Path, provider: str, sample: str,
                                                                    sent: bool) -> None:
    wav = write_wav(tmp_path / sample)
    plan = plan_of(episode_text(provider, sample=sample), tmp_path)
    digest = file_digest(wav)
    speaking, silent = plan.node("clip:c"), plan.node("clip:b")
    assert (digest in speaking.manifest["references"]) is sent
    assert digest not in silent.manifest["references"]  # Mei does not speak in b
    if sent:
        assert speaking.labels["voice_samples"] == [["mei", str(wav.resolve())]]
        assert "Mei speaks" in speaking.manifest["prompt"] or "Mei's voice" in speaking.manifest["prompt"]
        assert "audio 1" in speaking.manifest["prompt"].lower()


def test_a_voice_clip_goes_to_wan_27_as_its_reference_video(tmp_path: Path) -> None:
    (tmp_path / "voices").mkdir()
    clip = tmp_path / "voices" / "mei.mp4"
    clip.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    node = plan_of(episode_text("wan-2.7", sample="voices/mei.mp4"), tmp_path).node("clip:c")
    assert file_digest(clip) in node.manifest["references"]
    assert "Mei speaks in the voice of Video 1." in node.manifest["prompt"]


# -- invalidation ---------------------------------------------------------------------------------


def changed(old: Plan, new: Plan, kind: str = "clip") -> set[str]:
    return {nid for nid in new.order if nid.startswith(kind + ":") and old.node(nid).key != new.node(nid).key}


def test_a_voice_edit_re_renders_exactly_that_characters_speaking_shots(tmp_path: Path) -> None:
    before = plan_of(episode_text())
    after = plan_of(episode_text(mei_voice="a soft, slow voice"))
    assert changed(before, after) == {"clip:a", "clip:c"}
    assert changed(before, after, "sheet") == set()  # the look is unchanged


def test_a_voice_sample_edit_re_renders_exactly_the_shots_that_send_it(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "voices" / "mei.wav", 1.0)
    before = plan_of(episode_text("seedance-2.0", sample="voices/mei.wav"), tmp_path)
    write_wav(wav, 1.5)
    after = plan_of(episode_text("seedance-2.0", sample="voices/mei.wav"), tmp_path)
    assert changed(before, after) == {"clip:a", "clip:c"}
    # On a route that cannot take it, the sample is in no key: editing it re-renders nothing.
    omni_before = plan_of(episode_text("gemini-omni", sample="voices/mei.wav"), tmp_path)
    write_wav(wav, 2.0)
    assert changed(omni_before, plan_of(episode_text("gemini-omni", sample="voices/mei.wav"), tmp_path)) == set()


def test_a_line_edit_re_renders_that_shot_only() -> None:
    before = plan_of(episode_text())
    after = plan_of(episode_text().replace("Broken again.", "Broken, again."))
    assert changed(before, after) == {"clip:b"}


# -- the shipped example --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("talk")
    shutil.copytree(REPO / "episodes", root / "episodes")
    (root / "shotmake.toml").write_text("")
    return root


def test_the_example_prompts_show_one_voice_text_per_character_and_what_is_sent(
        example: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(example)
    result = CliRunner().invoke(cli, ["prompts", "episodes/harbour-talk.yaml"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    blocks = [b for b in result.output.split("== ") if b.startswith("clip:")]
    episode = load_episode(example / "episodes" / "harbour-talk.yaml")
    for cid, char in episode.characters.items():
        speaking = [b for b in blocks if f'{char.name} says' in b]
        assert len(speaking) == 2
        assert char.voice is not None
        voice_lines = {ln for b in speaking for ln in b.splitlines() if ln.startswith(f"- {char.name}: ")
                       and char.voice.description in ln}
        assert voice_lines == {f"- {char.name}: {char.voice.description}"}, cid


def test_the_example_prompts_list_the_voice_sample_on_a_route_that_takes_it(
        example: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(example)
    source = (example / "episodes" / "harbour-talk.yaml").read_text(encoding="utf-8")
    (example / "episodes" / "talk-seedance.yaml").write_text(
        source.replace("provider: local ", "provider: seedance-2.0 "), encoding="utf-8")
    result = CliRunner().invoke(cli, ["prompts", "episodes/talk-seedance.yaml", "pier"], catch_exceptions=False)
    (example / "episodes" / "talk-seedance.yaml").unlink()
    assert result.exit_code == 0, result.output
    assert re.search(r"-- sends: .*voice of mei: \S*voices/mei\.wav", result.output)
    assert "Mei speaks with the voice in audio 1." in result.output
    assert 'Mei: "Kai! The lamp went out again."' in result.output


def test_the_example_builds_offline_and_its_srt_has_every_line(example: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(example)
    result = CliRunner().invoke(cli, ["build", "episodes/harbour-talk.yaml", "-q"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    srt = (example / "build" / "harbour-talk.srt").read_text(encoding="utf-8")
    episode = load_episode(example / "episodes" / "harbour-talk.yaml")
    lines = [ln.line for shot in episode.shots.values() for ln in shot.dialogue]
    assert len(lines) == 4
    blocks = srt.strip().split("\n\n")
    assert [b.splitlines()[2] for b in blocks] == lines


def test_route_tables_name_known_conventions_and_sample_kinds() -> None:
    from shotmake.providers.catalog import PROTOCOLS, ROUTES, CatalogError, route_from_table

    base = ROUTES["seedance-2.0"]
    assert route_from_table("x", {"dialogue": "wan"}, base=base, protocols=PROTOCOLS).dialogue == "wan"
    with pytest.raises(CatalogError, match="unknown dialogue convention 'wann'"):
        route_from_table("x", {"dialogue": "wann"}, base=base, protocols=PROTOCOLS)
    with pytest.raises(CatalogError, match="unknown voice sample kind"):
        route_from_table("x", {"voice_samples": ["voice"]}, base=base, protocols=PROTOCOLS)


def test_a_voice_sample_must_be_a_recording_or_a_clip(tmp_path: Path) -> None:
    from shotmake.errors import SpecError

    (tmp_path / "voices").mkdir()
    (tmp_path / "voices" / "mei.flac").write_bytes(b"fLaC")
    with pytest.raises(SpecError) as err:
        episode_from_text(episode_text(sample="voices/mei.flac"), str(tmp_path / "ep.yaml"), tmp_path)
    assert "characters.mei.voice.sample" in str(err.value) and ".wav, .mp3, .mp4, .mov" in str(err.value)


def test_explain_names_a_voice_change_and_a_dialogue_change() -> None:
    from shotmake.reasons import Context, describe_changes

    before, after = plan_of(episode_text()), plan_of(episode_text(mei_voice="a soft, slow voice"))
    node = after.node("clip:a")
    context = Context({}, {"Mei": "mei", "Kai": "kai"})
    assert describe_changes(before.node("clip:a").manifest, node.manifest, {}, node=node, context=context) == [
        "character mei: voice changed"]
    edited = plan_of(episode_text().replace("Broken again.", "Broken, again.")).node("clip:b")
    assert describe_changes(before.node("clip:b").manifest, edited.manifest, {}, node=edited,
                            context=context) == ["dialogue changed"]
    zh_before, zh_after = plan_of(episode_text(language="zh")), plan_of(episode_text(language="zh", mei_voice="x"))
    node = zh_after.node("clip:c")
    assert describe_changes(zh_before.node("clip:c").manifest, node.manifest, {}, node=node,
                            context=Context({}, {"美": "mei"})) == ["character mei: voice changed"]


def test_a_series_bible_voice_sample_is_relative_to_the_bible(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "series" / "voices" / "mei.wav")
    (tmp_path / "series" / "bible.yaml").write_text(
        "characters:\n  mei:\n    description: a girl\n    sheet: true\n"
        "    voice: {description: bright, sample: voices/mei.wav}\n", encoding="utf-8")
    (tmp_path / "ep.yaml").write_text(
        "episode: e\ninclude: [series/bible.yaml]\ndefaults: {provider: seedance-2.0, duration: 5}\n"
        "shots:\n  - id: a\n    prompt: '{mei} waves'\n    dialogue: [{speaker: mei, line: Hi}]\n"
        "sequences:\n  - id: q\n    shots: [a]\n", encoding="utf-8")
    episode = load_episode(tmp_path / "ep.yaml", tmp_path)
    assert episode.characters["mei"].voice is not None
    assert episode.characters["mei"].voice.sample == str(wav.resolve())
    node = build_plan(episode, file_digest).node("clip:a")
    assert file_digest(wav) in node.manifest["references"]


def test_routes_json_shows_how_each_route_takes_voices(example: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(example)
    result = CliRunner().invoke(cli, ["routes", "--json"], catch_exceptions=False)
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert (rows["seedance-2.0"]["voice_samples"], rows["seedance-2.0"]["max_voice_seconds"]) == (["audio"], 15.0)
    assert (rows["wan-3.0"]["voice_samples"], rows["wan-3.0"]["dialogue"]) == (["audio", "video"], "wan")
    assert rows["gemini-omni"]["voice_samples"] == [] and rows["gemini-omni"]["dialogue"] == "quoted"
