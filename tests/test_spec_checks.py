"""What validate must refuse before anything renders, and how its messages read.

Each row is a spec that used to pass validation and then crash ``plan`` with a traceback or
fail at the end of a build (after every paid clip), or whose message did not say how to fix
it. ``tests/reliability/test_hostile_specs.py`` holds the property that ties them together:
whenever ``validate`` says ok, ``plan`` plans.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shotmake.errors import SpecError
from shotmake.spec import episode_from_text
from shotmake.spec_schema import schema

GOOD = """\
episode: ep
characters:
  mei: {description: a girl}
shots:
  - id: s1
    prompt: "{mei} waves"
    duration: 4
  - id: s2
    prompt: the sea
    after: s1
    duration: 4
sequences:
  - id: q
    shots: [s1, s2]
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        episode_from_text(text, "ep.yaml")
    return info.value.render().splitlines()


def with_delivery(block: str) -> str:
    return GOOD + "delivery:\n" + "".join(f"  {line}\n" for line in block.splitlines())


# -- item 14: delivery is closed and checked ------------------------------------------------

@pytest.mark.parametrize(("block", "expected"), [
    ("renditons: [vertical]", "delivery.renditons: unknown field 'renditons' (did you mean 'renditions'?)"),
    ("subtitles: {brun: true}", "delivery.subtitles.brun: unknown field 'brun' (did you mean 'burn'?)"),
    ("format: {resolution: 8k}", "delivery.format.resolution: '8k' is not allowed"),
    ("format: {aspect: '4:3'}", "delivery.format.aspect: '4:3' is not allowed"),
    ("format: {fps: abc}", "delivery.format.fps: expected integer, got str 'abc'"),
    ("format: {fps: 0}", "delivery.format.fps:"),
    ("format: 720p", "delivery.format: expected object, got str '720p'"),
    ("format: {size: 4k}", "delivery.format.size: unknown field 'size'"),
    ("renditions: vertical", "delivery.renditions: expected array, got str 'vertical'"),
    ("renditions: [vertical, square]", "delivery.renditions[1]: 'square' is not allowed"),
    ("renditions: [proxy, proxy]", "delivery.renditions[1]: rendition 'proxy' is listed twice"),
    ("music_gain_db: loud", "delivery.music_gain_db: expected number, got str 'loud'"),
    ("loudness: 3", "delivery.loudness:"),
    ("poster_at: 999", "delivery.poster_at: the poster at 999 s is past the end of the episode (8 s)"),
    ("poster_at: -1", "delivery.poster_at:"),
    ("subtitles: true", "delivery.subtitles: expected object, got bool True"),
])
def test_delivery_mistakes_are_spec_errors(block: str, expected: str) -> None:
    lines = errors_of(with_delivery(block))
    assert any(expected in line for line in lines), lines
    assert all(line.startswith("ep.yaml:") for line in lines), lines


def test_every_delivery_key_the_code_reads_is_accepted() -> None:
    episode = episode_from_text(with_delivery(
        "format: {resolution: 480p, aspect: '16:9', fps: 12}\nloudness: -23\nmusic_gain_db: -10\n"
        "subtitles: {burn: false}\nposter_at: 2.5\nrenditions: [vertical, proxy]"), "ep.yaml")
    assert episode.delivery["renditions"] == ["vertical", "proxy"]


def _objects(node: Any, path: str = "#") -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        if "properties" in node:
            found.append((path, node))
        for key, value in node.items():
            found.extend(_objects(value, f"{path}/{key}"))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(_objects(value, f"{path}/{i}"))
    return found


def _described(node: dict[str, Any]) -> bool:
    root = schema()
    while "description" not in node and "$ref" in node:
        for part in node["$ref"][2:].split("/"):
            root = root[part]
        node, root = root, schema()
    return "description" in node


def test_every_mapping_in_the_schema_is_closed_and_every_field_described() -> None:
    for path, node in _objects(schema()):
        assert node.get("additionalProperties") is False, f"{path} accepts unknown fields"
        for name, sub in node["properties"].items():
            assert _described(sub), f"{path}/properties/{name} has no description"


def test_the_packaged_schema_is_the_published_one() -> None:
    root = Path(__file__).parent.parent
    published = json.loads((root / "schemas" / "episode.schema.json").read_text())
    assert published == schema()


@pytest.mark.parametrize("text", ['"s1\\n"', '"SM104\\n"'])
def test_a_trailing_newline_does_not_pass_an_anchored_pattern(text: str) -> None:
    spec = GOOD.replace("  - id: s2", f"  - id: {text}") if text.startswith('"s') else \
        GOOD.replace("    after: s1", f"    after: s1\n    ignore: [{text}]")
    lines = errors_of(spec)
    assert any("line break" in line for line in lines), lines


def test_a_trailing_newline_in_the_output_name_is_refused() -> None:
    lines = errors_of(GOOD.replace("episode: ep\n", 'episode: ep\noutput: "ep.mp4\\n"\n'))
    assert any(line.startswith("ep.yaml:2:9: output:") for line in lines), lines


@pytest.mark.parametrize(("escape", "shown"), [("\\0", "U+0000"), ("\\x07", "U+0007"), ("\\e", "U+001B")])
def test_control_characters_in_strings_are_refused(escape: str, shown: str) -> None:
    [line] = errors_of(GOOD.replace("prompt: the sea", f'prompt: "the{escape} sea"'))
    assert line.startswith("ep.yaml:9:13: shots[1].prompt:") and shown in line, line


def test_tabs_and_line_breaks_in_strings_are_fine() -> None:
    episode = episode_from_text(GOOD.replace("prompt: the sea", 'prompt: "the\\tsea\\nat night"'), "ep.yaml")
    assert episode.shots["s2"].prompt == "the\tsea\nat night"


@pytest.mark.parametrize(("transition", "shots", "expected"), [
    ("{kind: crossfade, seconds: 5}", "[s1, s2]", "sequences[0].transition: a 5 s crossfade is longer than shot 's1'"),
    ("{kind: fade, seconds: 2.5}", "[s1, s2, s3]", "shot 's2' shows 4 s, less than the 5.5 s two 2.5 s fades"),
])
def test_a_transition_longer_than_its_shots_is_refused(transition: str, shots: str, expected: str) -> None:
    text = GOOD.replace("    shots: [s1, s2]", f"    shots: {shots}\n    transition: {transition}").replace(
        "sequences:", "  - {id: s3, prompt: a boat, duration: 4}\nsequences:")
    lines = errors_of(text)
    assert any(expected in line for line in lines), lines


def test_a_transition_that_fits_is_fine() -> None:
    text = GOOD.replace("    shots: [s1, s2]", "    shots: [s1, s2]\n    transition: {kind: crossfade, seconds: 3.5}")
    assert episode_from_text(text, "ep.yaml").sequences[0].transition.seconds == 3.5


@pytest.mark.parametrize(("fields", "expected"), [
    ("seed: -1", "shots[1].seed: -1 is less than the minimum of 0"),
    ("seed: 4294967296", "shots[1].seed: 4294967296 is greater than the maximum of 4294967295"),
    ("seed: 4294967295\n    takes: 2", "shots[1].seed: take 2 would use seed 4294967296, past 4294967295"),
])
def test_seeds_fit_what_providers_take(fields: str, expected: str) -> None:
    lines = errors_of(GOOD.replace("    after: s1\n", f"    after: s1\n    {fields}\n"))
    assert any(expected in line for line in lines), lines


def test_an_extension_is_trimmed_within_its_whole_clip() -> None:
    base = GOOD.replace("    after: s1\n    duration: 4\n", "    extends: s1\n    duration: 7\n    trim: {TRIM}\n")
    assert episode_from_text(base.replace("{TRIM}", "{in: 1, out: 10}"), "ep.yaml").shots["s2"].trim_out == 10
    lines = errors_of(base.replace("{TRIM}", "{out: 12}"))
    assert any("shots[1].trim: trim falls outside the 11s extended clip" in line for line in lines), lines


def test_a_deep_extends_chain_loads_and_plans() -> None:
    from shotmake.lint import lint
    from shotmake.plan import build_plan

    shots = "".join(f"  - {{id: s{i}, prompt: x, duration: 1, extends: s{i - 1}}}\n" for i in range(1, 3000))
    text = f"episode: deep\nshots:\n  - {{id: s0, prompt: x, duration: 1}}\n{shots}" \
           "sequences:\n  - {id: q, shots: [s2999]}\n"
    episode = episode_from_text(text, "deep.yaml")
    lint(episode)
    assert "episode:deep" in build_plan(episode, lambda p: "0" * 64).order


# -- item 15: messages that say how to fix it ------------------------------------------------

def test_an_unquoted_aspect_read_as_sexagesimal_says_to_quote_it() -> None:
    [line] = errors_of(GOOD.replace("prompt: the sea", "prompt: the sea\n    aspect: 16:9"))
    assert "shots[1].aspect: 969 is not allowed" in line and "quote it" in line and '"16:9"' in line, line


def test_a_wrong_transition_lists_the_kinds() -> None:
    [line] = errors_of(GOOD.replace("    shots: [s1, s2]", "    shots: [s1, s2]\n    transition: wipe"))
    assert "sequences[0].transition: 'wipe' is not allowed" in line and "cut, crossfade, fade" in line, line
    assert "valid under" not in line
    [line] = errors_of(GOOD.replace("    shots: [s1, s2]", "    shots: [s1, s2]\n    transition: {kind: wipe}"))
    assert "sequences[0].transition.kind: 'wipe' is not allowed" in line, line
    [line] = errors_of(GOOD.replace("    shots: [s1, s2]", "    shots: [s1, s2]\n    transition: 5"))
    assert "cut, crossfade, fade" in line and "mapping" in line and "valid under" not in line, line


def test_a_plate_needs_exactly_one_source() -> None:
    [line] = errors_of(GOOD.replace("shots:", "plates:\n  p: {model: x}\nshots:", 1))
    assert "plates.p: needs 'file' or 'prompt'" in line, line
    [line] = errors_of(GOOD.replace("shots:", "plates:\n  p: {file: a.png, prompt: x}\nshots:", 1))
    assert "plates.p: set only one of 'file' and 'prompt'" in line, line


def test_a_non_ascii_id_says_ascii_letters() -> None:
    line = errors_of(GOOD.replace("id: s2", "id: café").replace("[s1, s2]", "[s1, café]"))[0]
    assert line.startswith("ep.yaml:8:9: shots[1].id: 'café' is not a valid id") and "ASCII letters" in line, line


def test_a_windows_path_hints_at_slashes(tmp_path: Path) -> None:
    (tmp_path / "vo").mkdir()
    (tmp_path / "vo" / "line.wav").write_bytes(b"RIFF")
    for value in ("vo\\\\line.wav", "C:\\\\proj\\\\vo\\\\line.wav", "C:/proj/vo/line.wav"):
        text = GOOD.replace("prompt: the sea", f'prompt: the sea\n    voiceover: "{value}"')
        with pytest.raises(SpecError) as info:
            episode_from_text(text, str(tmp_path / "ep.yaml"), root=tmp_path)
        line = info.value.render()
        assert "shots[1].voiceover" in line and "'/'" in line, line


def test_a_series_file_included_twice_is_read_once(tmp_path: Path) -> None:
    (tmp_path / "series").mkdir()
    (tmp_path / "series" / "bible.yaml").write_text("characters:\n  ren: {description: a boy}\n")
    for name in ("a", "b"):
        (tmp_path / "series" / f"{name}.yaml").write_text("include: [bible.yaml]\n")
    text = GOOD.replace("episode: ep\n", "episode: ep\ninclude: [series/a.yaml, series/b.yaml]\n")
    episode = episode_from_text(text, str(tmp_path / "ep.yaml"), root=tmp_path)
    assert "ren" in episode.characters


def test_the_readme_documents_every_delivery_key() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    for key in schema()["$defs"]["delivery"]["properties"]:
        assert f"`delivery.{key}" in readme or f"delivery: {{{key}" in readme, key


def test_the_transition_margin_is_the_conform_keyframe_interval() -> None:
    from shotmake.conform import DeliveryFormat
    from shotmake.spec import CONFORM_GOP_SECONDS

    assert DeliveryFormat().gop == CONFORM_GOP_SECONDS
