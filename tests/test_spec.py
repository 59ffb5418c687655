"""Spec loading: YAML marks, schema errors and semantic checks all point at file:line:col."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from shotmake.errors import SpecError
from shotmake.spec import episode_from_text, find_cycle, load_episode

GOOD = """\
episode: ep
characters:
  mei: {description: a girl}
shots:
  - id: s1
    prompt: "{mei} waves"
  - id: s2
    prompt: the sea
    after: s1
sequences:
  - id: q
    shots: [s1, s2]
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        episode_from_text(text, "ep.yaml")
    return info.value.render().splitlines()


def test_loads_a_good_spec_with_defaults() -> None:
    episode = episode_from_text(GOOD, "ep.yaml")
    assert list(episode.shots) == ["s1", "s2"]
    s1 = episode.shots["s1"]
    assert (s1.provider, s1.duration, s1.resolution, s1.aspect, s1.fps) == ("local", 8.0, "720p", "16:9", 24)
    assert episode.shots["s2"].after == "s1"
    assert s1.location is not None and (s1.location.line, s1.location.column) == (5, 5)
    assert episode.output == "ep.mp4"


def test_pilot_is_valid() -> None:
    episode = load_episode(Path(__file__).parent.parent / "episodes" / "pilot.yaml")
    assert len(episode.characters) == 2 and len(episode.shots) >= 6 and len(episode.sequences) >= 2
    assert 35 <= sum(s.duration for s in episode.shots.values()) <= 45


def test_unknown_character_names_line_column_field_and_suggestion() -> None:
    text = GOOD.replace("prompt: the sea", "prompt: the sea\n    characters: [mai]")
    [line] = errors_of(text)
    assert line == "ep.yaml:9:18: shots[1].characters[0]: unknown character 'mai' (did you mean 'mei'?)"


def test_bad_yaml_points_at_the_problem() -> None:
    [line] = errors_of("episode: ep\nshots: [\n  - id: x\n")
    assert line.startswith("ep.yaml:3:") and "invalid YAML" in line


def test_schema_violation_unknown_field_suggests_the_right_one() -> None:
    text = GOOD.replace("prompt: the sea", "promt: the sea")
    lines = errors_of(text)
    assert "ep.yaml:8:5: shots[1].promt: unknown field 'promt' (did you mean 'prompt'?)" in lines
    assert any("missing required field 'prompt'" in line for line in lines)


def test_schema_enum_and_type_errors() -> None:
    text = GOOD.replace("prompt: the sea", "prompt: the sea\n    resolution: 720\n    aspect: '4:3'")
    lines = errors_of(text)
    assert any(line.startswith("ep.yaml:9:17: shots[1].resolution:") for line in lines)
    assert any("shots[1].aspect: '4:3' is not allowed" in line for line in lines)


def test_unknown_provider_suggests_closest_route() -> None:
    text = GOOD.replace("prompt: the sea", "prompt: the sea\n    provider: veo3.1")
    [line] = errors_of(text)
    # The closest name is a retired route: say so, with its successor, before the user follows the hint into SM120.
    assert line == ("ep.yaml:9:15: shots[1].provider: unknown provider 'veo3.1' (did you mean 'veo-3.1'? it was "
                    "retired on 2026-10-22; its successor is gemini-omni)")
    [line] = errors_of(GOOD.replace("prompt: the sea", "prompt: the sea\n    provider: sora"))
    assert line.endswith("(did you mean 'sora-2'? it was retired on 2026-09-24, with no successor; "
                         "`shotmake routes` lists the live routes)")
    [line] = errors_of(GOOD.replace("prompt: the sea", "prompt: the sea\n    provider: gemini-omny"))
    assert line.endswith("(did you mean 'gemini-omni'?)")


def test_cycle_is_reported() -> None:
    text = GOOD.replace('prompt: "{mei} waves"', 'prompt: "{mei} waves"\n    after: s2')
    [line] = errors_of(text)
    assert "dependency cycle" in line and "s1" in line and "s2" in line


def test_cycle_message_names_the_ring_and_the_link_that_closes_it() -> None:
    text = GOOD.replace('prompt: "{mei} waves"', 'prompt: "{mei} waves"\n    after: s2')
    [line] = errors_of(text)
    assert line.startswith("ep.yaml:7:12: shots[0].after: dependency cycle: s2 -> s1 -> s2")


def test_find_cycle_finds_what_networkx_finds() -> None:
    """spec.find_cycle replaced networkx.find_cycle (its import cost ~90 ms per plan): same loop, same order."""
    import random

    import networkx as nx

    for trial in range(3000):
        rnd = random.Random(trial)
        ids = [f"s{i}" for i in range(rnd.randint(1, 8))]
        graph: nx.DiGraph[str] = nx.DiGraph()
        edges: dict[str, dict[str, str]] = {}
        for sid in ids:
            for field_name in ("after", "extends"):
                source = rnd.choice(ids)
                if rnd.random() < 0.5 and source != sid:
                    graph.add_edge(source, sid, field=field_name)
                    edges.setdefault(source, {})[sid] = field_name
                    edges.setdefault(sid, {})
        try:
            want = [tuple(edge) for edge in nx.find_cycle(graph)]
        except nx.NetworkXNoCycle:
            want = []
        assert find_cycle(edges) == want, (trial, edges)


def test_duplicate_ids_and_keys() -> None:
    lines = errors_of(GOOD.replace("id: s2", "id: s1"))
    assert any("duplicate shot id 's1'" in line for line in lines)
    [line] = errors_of(GOOD.replace("episode: ep\n", "episode: ep\nepisode: again\n"))
    assert line.startswith("ep.yaml:2:1: episode: duplicate key 'episode'")


def test_unknown_shot_in_sequence_and_bad_placeholder() -> None:
    lines = errors_of(GOOD.replace("shots: [s1, s2]", "shots: [s1, s3]").replace("{mei} waves", "{mie} waves"))
    assert any("sequences[0].shots[1]: unknown shot 's3'" in line for line in lines)
    assert any("shots[0].prompt: placeholder '{mie}' names no character (did you mean 'mei'?)" in line
               for line in lines)


def test_object_constructing_tags_and_alias_bombs_are_refused() -> None:
    [line] = errors_of("episode: !!python/object/apply:os.system ['true']\nshots: []\nsequences: []\n")
    assert "unsupported YAML tag" in line
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8)
    )
    [line] = errors_of(bomb)
    assert "more than" in line and "billion laughs" in line


def test_non_utf8_file(write_spec: Callable[[str, str], Path]) -> None:
    path = write_spec("episode: ep\n", "bad.yaml")
    path.write_bytes(b"episode: ep\ntitle: \xff\xfe\n")
    with pytest.raises(SpecError) as info:
        load_episode(path)
    assert info.value.render() == f"{path}:2:1: file is not valid UTF-8 (save the spec as UTF-8)"
