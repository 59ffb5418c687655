"""spec_delta: an edited spec patched from its last load equals the full load of the new text, or is refused."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from shotmake import spec_delta
from shotmake.errors import SpecError
from shotmake.spec import episode_from_text, project_routes

REPO = Path(__file__).resolve().parent.parent
EPISODES = ["pilot.yaml", "storm.yaml", "harbour-talk.yaml"]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(REPO / "episodes", tmp_path / "episodes")
    (tmp_path / "shotmake.toml").write_text("")
    monkeypatch.chdir(tmp_path)  # specs name their files relative to themselves, as users run shotmake
    return tmp_path


def full(text: str, name: str, root: Path) -> object:
    """The full load of ``text``, or the SpecError it raises."""
    try:
        return episode_from_text(text, name, root)
    except SpecError as exc:
        return exc


def patched(text: str, new: str, name: str, root: Path) -> tuple[object, list[str]] | None:
    episode = episode_from_text(text, name, root)
    segments = spec_delta.segment(text)
    assert segments is not None and spec_delta.matches(segments, episode)
    return spec_delta.patch(episode, segments, text, new, project_routes(root))


def with_line(text: str, index: int, line: str) -> str:
    lines = text.split("\n")
    lines[index] = line
    return "\n".join(lines)


def line_of(text: str, shot: str, field: str) -> int:
    lines = text.split("\n")
    start = next(i for i, line in enumerate(lines) if line.strip() == f"- id: {shot}")
    return next(i for i in range(start + 1, len(lines)) if lines[i].strip().startswith(f"{field}:"))


@pytest.mark.parametrize("name", EPISODES)
def test_a_changed_prompt_is_patched_to_what_a_full_load_gives(project: Path, name: str) -> None:
    spec = f"episodes/{name}"
    text = (project / spec).read_text()
    shot = next(iter(episode_from_text(text, spec, project).shots))
    at = line_of(text, shot, "prompt")
    new = with_line(text, at, text.split("\n")[at].replace("prompt: ", "prompt: At dawn, ", 1))
    result = patched(text, new, spec, project)
    assert result is not None
    edited, changed, moves = result
    assert changed == [shot] and moves is None
    assert edited == full(new, spec, project)
    assert dict(edited.locations.items()) == dict(full(new, spec, project).locations.items())  # type: ignore[attr-defined]


def test_what_only_a_full_load_can_tell_is_refused(project: Path) -> None:
    spec = "episodes/pilot.yaml"
    text = (project / spec).read_text()
    episode = episode_from_text(text, spec, project)
    first, second = list(episode.shots)[:2]
    lines = text.split("\n")
    style = next(i for i, line in enumerate(lines) if line.startswith("style:")) + 1
    id_line = next(i for i, line in enumerate(lines) if line.strip() == f"- id: {first}")
    refused = {
        "a style line": with_line(text, style, lines[style] + " more"),
        "a new id": with_line(text, id_line, lines[id_line].replace(first, first + "x")),
        "a shot added": text.replace(f"  - id: {second}", f"  - id: new\n    prompt: x\n  - id: {second}", 1),
        "a shot removed": "\n".join(line for i, line in enumerate(lines) if i != id_line),
        "an anchor": with_line(text, line_of(text, first, "prompt"),
                               lines[line_of(text, first, "prompt")].replace("prompt: ", "prompt: &p ", 1)),
        "an unknown character": with_line(text, line_of(text, first, "prompt"),
                                          lines[line_of(text, first, "prompt")].replace("prompt: ", "prompt: {nobody} ", 1)),
        "a carriage return": text.replace("\n", "\r\n", 1),
    }
    for what, new in refused.items():
        assert patched(text, new, spec, project) is None, what


MUTATIONS = ['"', "'", "&a ", "*a", ": ", "- ", "#", "|", ">", "{", "[", "]", "}", "\\x00", "\\", "!!str ",
             "  ", "1", "x", "?", ",", "%", "@", "`", "- id: s9\n"[:-1], "  - ", "<<: "]


@pytest.mark.parametrize("name", EPISODES)
def test_lines_added_or_removed_move_the_rest_as_a_full_load_would(project: Path, name: str) -> None:
    spec = f"episodes/{name}"
    text = (project / spec).read_text()
    shots = list(episode_from_text(text, spec, project).shots)
    first = shots[0]
    at = next(i for i, line in enumerate(text.split("\n")) if line.strip() == f"- id: {first}")
    lines = text.split("\n")
    optional = next(i for i in range(at + 1, len(lines)) if lines[i].strip().startswith(("duration:", "characters:")))
    for new in (with_line(text, at, lines[at] + "\n    seed: 7\n    # two lines more"),
                "\n".join(line for i, line in enumerate(lines) if i != optional)):
        expected = full(new, spec, project)
        result = patched(text, new, spec, project)
        if isinstance(expected, SpecError):
            assert result is None
            continue
        assert result is not None and result[2] is not None  # lines moved
        assert result[0] == expected
        assert dict(result[0].locations.items()) == dict(expected.locations.items())  # type: ignore[attr-defined]
        assert [s.location for s in result[0].sequences] == [s.location for s in expected.sequences]  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", EPISODES)
def test_any_edit_inside_shots_is_a_full_load_or_refused(project: Path, name: str) -> None:
    """Random same-length-in-lines edits inside the shot items: the patch equals the full load of the
    new text, or is refused; never an episode the full load would not give."""
    spec = f"episodes/{name}"
    text = (project / spec).read_text()
    segments = spec_delta.segment(text)
    assert segments is not None
    lines = text.split("\n")
    rng = random.Random(f"delta-{name}")
    agreed = 0
    for _ in range(150):
        index = rng.randrange(segments.starts[0], segments.end)
        line = lines[index]
        cut = rng.randrange(len(line) + 1)
        choice = rng.random()
        if choice < 0.4:
            new_line = line[:cut] + rng.choice(MUTATIONS) + line[cut:]
        elif choice < 0.7:
            new_line = line[:cut] + line[cut + rng.randrange(1, 4):]
        elif choice < 0.85:
            new_line = " " * rng.randrange(0, 7) + line.lstrip(" ")
        elif choice < 0.93:
            new_line = line[:cut] + str(rng.randrange(100)) + line[cut:]
        elif choice < 0.97:
            new_line = line + "\n" + " " * rng.randrange(0, 7) + rng.choice(["seed: 4", "# note", "", "title: x"])
        else:
            new_line = None  # the line removed
        new = with_line(text, index, new_line) if new_line is not None else "\n".join(
            ln for i, ln in enumerate(lines) if i != index)
        expected = full(new, spec, project)
        result = patched(text, new, spec, project)
        if result is None:
            continue
        assert not isinstance(expected, SpecError), (new_line, expected)
        assert result[0] == expected, new_line
        agreed += 1
    assert agreed > 20  # the patch is taken, not refused every time


def test_segments_of_flow_style_or_two_shots_keys_are_none() -> None:
    assert spec_delta.segment("episode: e\nshots: [{id: a, prompt: x}]\n") is None
    assert spec_delta.segment("shots:\n  - id: a\nshots:\n  - id: b\n") is None
    found = spec_delta.segment("episode: e\nshots:\n# note\n- id: a\n  prompt: x\n\n- id: b\n  prompt: y\nsequences: []\n")
    assert found == spec_delta.Segments(0, (3, 6), 8)


def test_segments_round_trip_and_refuse_nonsense() -> None:
    segments = spec_delta.Segments(2, (3, 6), 9)
    assert spec_delta.Segments.from_json(segments.to_json()) == segments
    for bad in (None, [2, [6, 3], 9], [2, [], 9], [2, [3, 6], 5], "x", [1, 2]):
        assert spec_delta.Segments.from_json(bad) is None
