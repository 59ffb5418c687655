"""``pick`` / ``reroll`` edit one line of the spec, keep everything else byte for byte."""

from __future__ import annotations

import dataclasses
import difflib
import shutil
from pathlib import Path

import pytest

from shotmake.errors import UsageError
from shotmake.picks import defining_file, pick, reroll, set_shot_field
from shotmake.providers.catalog import ROUTES
from shotmake.spec import load_episode

REPO = Path(__file__).resolve().parents[1]

SPEC = """\
# A spec with the things a rewrite would lose: comments, quotes, folded text, odd key order.
version: 1
episode: ep

defaults:
  provider: local   # offline
  duration: 1

characters:
  mei:
    name: 'Mei'
    description: >-
      a girl in a yellow raincoat
      with a brass telescope

shots:
  - id: a
    prompt: "{mei} looks at the sea."   # the opening
    takes: 3
    pick: 1
  - id: b
    prompt: A lighthouse at dusk.
    seed: 40
    takes: 2  # two tries

sequences:
  - {id: one, shots: [a, b]}
"""


def changed_lines(old: str, new: str) -> list[str]:
    return [line for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "ep.yaml"
    path.write_text(SPEC)
    (tmp_path / ".git").mkdir()  # the project root
    return path


def test_pick_changes_exactly_the_pick_line(spec: Path) -> None:
    edit = pick(load_episode(spec), "a", 2)
    assert edit is not None and edit.line == 20
    assert changed_lines(SPEC, spec.read_text()) == ["-    pick: 1", "+    pick: 2"]
    assert load_episode(spec).shots["a"].pick == 2


def test_pick_adds_one_line_where_the_shot_has_none(spec: Path) -> None:
    pick(load_episode(spec), "b", 2)
    assert changed_lines(SPEC, spec.read_text()) == ["+    pick: 2"]
    # Under the shot's last line, its comment kept there, and above the blank line that ends the shots.
    assert "    takes: 2  # two tries\n    pick: 2\n\nsequences:" in spec.read_text()
    assert load_episode(spec).shots["b"].pick == 2


def test_pick_of_the_current_take_writes_nothing(spec: Path) -> None:
    assert pick(load_episode(spec), "a", 1) is None
    assert spec.read_text() == SPEC


def test_pick_out_of_range_or_unknown_shot_is_a_usage_error(spec: Path) -> None:
    with pytest.raises(UsageError, match="between 1 and 3"):
        pick(load_episode(spec), "a", 4)
    with pytest.raises(UsageError, match="did you mean 'a'"):
        pick(load_episode(spec), "aa", 1)
    assert spec.read_text() == SPEC


def test_reroll_adds_a_take_under_the_next_seed(spec: Path) -> None:
    done = reroll(load_episode(spec), "b", ROUTES)
    assert changed_lines(SPEC, spec.read_text()) == ["-    takes: 2  # two tries", "+    takes: 3  # two tries"]
    assert done.take == 3 and done.seed == 42
    assert "under seed 42" in done.describe("b", "local")
    unseeded = dataclasses.replace(done, seeded=False)
    assert "the same request again" in unseeded.describe("b", "sora-2")  # a paid repeat is never silent


def test_reroll_of_a_single_take_shot_in_the_demo_episode(tmp_path: Path) -> None:
    (tmp_path / "episodes").mkdir()
    shutil.copy(REPO / "episodes" / "pilot.yaml", tmp_path / "episodes" / "pilot.yaml")
    (tmp_path / ".git").mkdir()
    path = tmp_path / "episodes" / "pilot.yaml"
    before = path.read_text()
    reroll(load_episode(path), "plan", ROUTES)  # the last shot: a blank line and `sequences:` follow it
    assert changed_lines(before, path.read_text()) == ["+    takes: 2"]
    pick(load_episode(path), "plan", 2)
    assert changed_lines(before, path.read_text()) == ["+    takes: 2", "+    pick: 2"]
    assert "    duration: 4\n    takes: 2\n    pick: 2\n\nsequences:" in path.read_text()  # above the blank line
    reroll(load_episode(path), "mei-sees", ROUTES)  # a shot whose last line ends in a comment
    assert "    duration: 4\n    takes: 2\n  - id: kai-radio" in path.read_text()
    assert "after: mei-lamp        # continuity" in path.read_text()


def test_a_file_that_would_be_reformatted_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "odd.yaml"
    text = "shots:\n  - id: a\n    prompt:    x\n    pick:   1\n"  # a dump would re-space the prompt too
    path.write_text(text)
    with pytest.raises(UsageError, match="by hand at line 4"):
        set_shot_field(path, "a", "pick", 2)
    assert path.read_text() == text


def test_the_defining_file_is_the_episode_even_with_a_series_bible(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    shutil.copytree(REPO / "episodes", tmp_path / "episodes")
    episode = load_episode(tmp_path / "episodes" / "storm.yaml")
    sid = next(iter(episode.shots))
    assert defining_file(episode, sid).resolve() == (tmp_path / "episodes" / "storm.yaml").resolve()
