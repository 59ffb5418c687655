"""Lint of voices and dialogue (SM160-SM165): each rule fires on a bad spec and stays quiet on a good one."""

from __future__ import annotations

import dataclasses
import json
import wave
from pathlib import Path
from typing import Any

import pytest

from shotmake.errors import SpecError
from shotmake.lint import RULES
from shotmake.providers.catalog import ROUTES
from shotmake.spec import episode_from_text
from tests.test_lint import at, check


def write_wav(path: Path, seconds: float, rate: int = 8000) -> Path:
    """A silent mono WAV of ``seconds`` (the standard library writes it; ffmpeg reads its length)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(1)
        out.setframerate(rate)
        out.writeframes(b"\x80" * int(seconds * rate))
    return path


def voiced(mei_voice: dict[str, Any] | None = None, kai_voice: dict[str, Any] | None = None) -> str:
    text = "characters:\n  mei:\n    description: a girl in a yellow raincoat\n    sheet: true\n"
    if mei_voice is not None:
        text += f"    voice: {json.dumps(mei_voice)}\n"
    text += "  kai:\n    description: a boy with a green scarf\n    sheet: true\n"
    if kai_voice is not None:
        text += f"    voice: {json.dumps(kai_voice)}\n"
    return text


def talk(*shots: str, characters: str | None = None, head: str = "") -> str:
    ids = [s.split("\n", 1)[0].split("id: ", 1)[1] for s in shots]
    chars = characters if characters is not None else voiced({"description": "bright"}, {"description": "low"})
    return (f"episode: ep\n{head}{chars}shots:\n{''.join(shots)}sequences:\n  - id: q\n"
            f"    shots: [{', '.join(ids)}]\n")


def shot(sid: str, lines: list[dict[str, Any]], **fields: Any) -> str:
    out = [f"  - id: {sid}", '    prompt: "{mei} and {kai} on the pier"']
    out += [f"    {key}: {json.dumps(value)}" for key, value in fields.items()]
    out.append(f"    dialogue: {json.dumps(lines, ensure_ascii=False)}")
    return "\n".join(out) + "\n"


HELLO = [{"speaker": "mei", "line": "Hello."}]


def test_every_voice_rule_is_in_the_catalog_with_its_severity() -> None:
    assert {r for r in RULES if "SM160" <= r <= "SM179"} == {"SM160", "SM161", "SM162", "SM163", "SM164", "SM165",
                                                                     "SM166"}
    assert RULES["SM162"].severity == "error" and RULES["SM165"].severity == "error"


def test_a_line_spoken_by_a_character_not_in_the_shot_is_a_spec_error_with_the_fix() -> None:
    text = talk("  - id: s1\n    prompt: \"{mei} alone\"\n    dialogue: [{speaker: kai, line: \"Hi\"}]\n")
    with pytest.raises(SpecError) as err:
        episode_from_text(text, "ep.yaml")
    assert err.value.field == "shots[0].dialogue[0].speaker"
    assert "'kai' speaks but is not in the shot" in err.value.message and "characters: [mei, kai]" in err.value.hint
    assert err.value.location is not None and err.value.location.line == text.splitlines().index(
        next(ln for ln in text.splitlines() if "dialogue:" in ln)) + 1


def test_an_unknown_speaker_and_a_line_past_the_shot_are_spec_errors() -> None:
    text = talk(shot("s1", [{"speaker": "mai", "line": "Hi"}, {"speaker": "mei", "line": "x", "start": 9}],
                     duration=4))
    with pytest.raises(SpecError) as err:
        episode_from_text(text, "ep.yaml")
    shown = str(err.value)
    assert "unknown character 'mai'" in shown and "did you mean 'mei'?" in shown
    assert "starts at 9s, after the 4s shot ends" in shown


def test_sm160_a_speaker_without_a_voice_description_is_warned_about() -> None:
    text = talk(shot("s1", [{"speaker": "mei", "line": "Hi"}, {"speaker": "kai", "line": "Hey"}]),
                characters=voiced({"description": "bright"}, None))
    found = check(text, "SM160")
    assert [f.field for f in found] == ["shots[0].dialogue[1].speaker"]
    assert "kai speaks but has no voice description" in found[0].message
    assert check(talk(shot("s1", HELLO)), "SM160") == []


@pytest.mark.parametrize(("lines", "duration", "fires"), [
    ([{"speaker": "mei", "line": " ".join(["word"] * 13)}], 4, True),     # 13 words > 4 s x 3 words/s
    ([{"speaker": "mei", "line": " ".join(["word"] * 12)}], 4, False),    # exactly 4 s
    ([{"speaker": "mei", "line": "我" * 25}], 4, True),                   # 25 characters > 4 s x 6/s
    ([{"speaker": "mei", "line": "我" * 24}], 4, False),
    ([{"speaker": "mei", "line": " ".join(["w"] * 6)}, {"speaker": "kai", "line": " ".join(["w"] * 6)}], 4, True),
])
def test_sm161_dialogue_longer_than_the_shot_counts_words_or_cjk_characters(
        lines: list[dict[str, str]], duration: int, fires: bool) -> None:
    found = check(talk(shot("s1", lines, duration=duration)), "SM161")
    assert bool(found) is fires
    if fires:
        assert found[0].field == "shots[0].dialogue" and "the shot is 4 s" in found[0].message


def test_sm162_dialogue_on_a_route_without_native_audio_is_an_error() -> None:
    mute = {**ROUTES, "seedance-2.0": dataclasses.replace(ROUTES["seedance-2.0"], native_audio=False)}
    found = check(talk(shot("s1", HELLO, provider="seedance-2.0", duration=5)), "SM162", routes=mute)
    assert found and "seedance-2.0 renders no audio" in found[0].message
    assert check(talk(shot("s1", HELLO, provider="seedance-2.0", duration=5)), "SM162") == []
    assert check(talk(shot("s1", HELLO)), "SM162") == []  # the offline card sounds its lines


def test_sm163_dialogue_with_audio_off_is_warned_about() -> None:
    text = talk(shot("s1", HELLO, audio=False))
    found = check(text, "SM163")
    assert [f.field for f in found] == ["shots[0].audio"] and found[0].location == at(text, "audio: false")
    assert check(talk(shot("s1", HELLO)), "SM163") == []


def test_sm164_a_sample_the_route_cannot_take_says_the_voice_is_held_by_its_description(tmp_path: Path) -> None:
    write_wav(tmp_path / "voices" / "mei.wav", 2)
    chars = voiced({"description": "bright", "sample": "voices/mei.wav"}, {"description": "low"})
    text = talk(shot("s1", HELLO, provider="gemini-omni", duration=4), characters=chars)
    found = check(text, "SM164", root=tmp_path)
    assert len(found) == 1
    assert "gemini-omni takes no voice sample" in found[0].message
    assert "not the same voice" in found[0].message
    assert found[0].location is not None and found[0].location.line == at(text, "voice:").line
    # Seedance takes audio; Wan 2.7 takes a clip, not a recording.
    assert check(talk(shot("s1", HELLO, provider="seedance-2.0", duration=5), characters=chars),
                 "SM164", root=tmp_path) == []
    wan = check(talk(shot("s1", HELLO, provider="wan-2.7", duration=5), characters=chars), "SM164", root=tmp_path)
    assert wan and "wan-2.7 takes video, not audio" in wan[0].message


def test_sm165_a_sample_longer_than_the_route_accepts_is_an_error(tmp_path: Path) -> None:
    write_wav(tmp_path / "voices" / "mei.wav", 16)
    chars = voiced({"description": "bright", "sample": "voices/mei.wav"}, {"description": "low"})
    found = check(talk(shot("s1", HELLO, provider="seedance-2.0", duration=5), characters=chars), "SM165",
                  root=tmp_path)
    assert len(found) == 1 and found[0].field == "characters.mei.voice.sample"
    assert "lasts 16.0 s; seedance-2.0 accepts voice samples of at most 15 s" in found[0].message
    assert "ffmpeg -t 15" in found[0].hint
    write_wav(tmp_path / "voices" / "mei.wav", 10)
    assert check(talk(shot("s1", HELLO, provider="seedance-2.0", duration=5), characters=chars), "SM165",
                 root=tmp_path) == []


def test_sm165_a_sample_that_is_not_audio_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "voices").mkdir()
    (tmp_path / "voices" / "mei.wav").write_bytes(b"not a wave file at all")
    chars = voiced({"description": "bright", "sample": "voices/mei.wav"}, {"description": "low"})
    found = check(talk(shot("s1", HELLO, provider="seedance-2.0", duration=5), characters=chars), "SM165",
                  root=tmp_path)
    assert found and "cannot be read as audio" in found[0].message


def test_burned_dialogue_lines_are_checked_for_glyphs_like_subtitles(tmp_path: Path) -> None:
    text = talk(shot("s1", [{"speaker": "mei", "line": "Hello \U0001f99c"}]),
                head="delivery: {subtitles: {burn: true}}\n")
    found = check(text, "SM302")
    assert [f.field for f in found] == ["shots[0].dialogue"] and "U+1F99C" in found[0].message


def test_sm166_a_voice_sample_on_seedance_without_any_reference_image_is_an_error(tmp_path: Path) -> None:
    write_wav(tmp_path / "voices" / "mei.wav", 2)
    bare = ("characters:\n  mei:\n    description: a girl\n"
            '    voice: {description: bright, sample: voices/mei.wav}\n'
            "  kai:\n    description: a boy\n    voice: {description: low}\n")
    found = check(talk(shot("s1", HELLO, provider="seedance-2.0", duration=5), characters=bare), "SM166",
                  root=tmp_path)
    assert len(found) == 1 and "seedance-2.0 would get a voice sample and no reference image" in found[0].message
    with_sheet = voiced({"description": "bright", "sample": "voices/mei.wav"}, {"description": "low"})
    assert check(talk(shot("s1", HELLO, provider="seedance-2.0", duration=5), characters=with_sheet), "SM166",
                 root=tmp_path) == []
