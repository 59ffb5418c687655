"""Series includes: shared bibles, relative paths, errors in the right file, no escaping the project."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from shotmake.errors import SpecError
from shotmake.spec import load_episode

EPISODE = """\
episode: ep
include: [series/bible.yaml]
shots:
  - id: s1
    prompt: "{mei} waves"
sequences:
  - id: q
    shots: [s1]
"""
BIBLE = """\
style:
  look: watercolour
characters:
  mei:
    description: a girl in a yellow raincoat
    references: [refs/mei.png]
"""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "shotmake.toml").write_text("")
    (tmp_path / "episodes" / "series" / "refs").mkdir(parents=True)
    (tmp_path / "episodes" / "series" / "refs" / "mei.png").write_bytes(b"png")
    (tmp_path / "episodes" / "series" / "bible.yaml").write_text(BIBLE)
    (tmp_path / "episodes" / "ep.yaml").write_text(EPISODE)
    return tmp_path


def error_of(path: Path) -> str:
    with pytest.raises(SpecError) as info:
        load_episode(path)
    return info.value.render()


def test_included_characters_and_style_with_paths_relative_to_the_bible(tree: Path) -> None:
    episode = load_episode(tree / "episodes" / "ep.yaml")
    assert episode.style.look == "watercolour"
    assert episode.characters["mei"].references == (str(tree / "episodes/series/refs/mei.png"),)
    assert episode.includes == (str(tree / "episodes/series/bible.yaml"),)
    assert Path(episode.root) == tree.resolve()


def test_episode_style_overrides_the_bible(tree: Path) -> None:
    (tree / "episodes" / "ep.yaml").write_text(EPISODE.replace("episode: ep\n", "episode: ep\nstyle: {look: ink}\n"))
    assert load_episode(tree / "episodes" / "ep.yaml").style.look == "ink"


def test_error_in_an_included_file_points_into_that_file(tree: Path) -> None:
    (tree / "episodes" / "series" / "bible.yaml").write_text(BIBLE.replace("description:", "descripton:"))
    message = error_of(tree / "episodes" / "ep.yaml")
    assert f"{tree}/episodes/series/bible.yaml:5:5: characters.mei.descripton: unknown field" in message


def test_missing_reference_in_the_bible_is_reported_there(tree: Path) -> None:
    (tree / "episodes" / "series" / "refs" / "mei.png").unlink()
    message = error_of(tree / "episodes" / "ep.yaml")
    assert message.startswith(f"{tree}/episodes/series/bible.yaml:6:18: characters.mei.references[0]: "
                              "file 'refs/mei.png' does not exist")


def test_duplicate_character_across_files(tree: Path) -> None:
    (tree / "episodes" / "ep.yaml").write_text(EPISODE + "characters:\n  mei: {description: someone else}\n")
    message = error_of(tree / "episodes" / "ep.yaml")
    assert "ep.yaml:10:3: characters.mei: character 'mei' is defined twice (first defined at" in message
    assert "bible.yaml:4:3)" in message


@pytest.mark.parametrize("target", ["../../outside.yaml", "/etc/passwd"])
def test_includes_cannot_escape_the_project(tree: Path, target: str) -> None:
    (tree.parent / "outside.yaml").write_text("style: {look: x}\n")
    (tree / "episodes" / "ep.yaml").write_text(EPISODE.replace("series/bible.yaml", target))
    assert "is outside the project" in error_of(tree / "episodes" / "ep.yaml")


def test_symlink_escape_is_refused(tree: Path) -> None:
    outside = tree.parent / "secret.png"
    outside.write_bytes(b"x")
    link = tree / "episodes" / "series" / "refs" / "mei.png"
    link.unlink()
    link.symlink_to(outside)
    assert "'refs/mei.png' is outside the project" in error_of(tree / "episodes" / "ep.yaml")


def test_include_cycle(tree: Path) -> None:
    (tree / "episodes" / "series" / "bible.yaml").write_text("include: [../ep.yaml]\n" + BIBLE)
    # ep.yaml is not a valid series file, but the cycle is found first
    message = error_of(tree / "episodes" / "ep.yaml")
    assert "include cycle" in message


def test_missing_include(tree: Path) -> None:
    (tree / "episodes" / "ep.yaml").write_text(EPISODE.replace("series/bible.yaml", "series/nope.yaml"))
    assert error_of(tree / "episodes" / "ep.yaml").startswith(
        f"{tree}/episodes/ep.yaml:2:11: include[0]: included file 'series/nope.yaml' does not exist")


def test_shipped_series_episode_shares_the_pilot_bible_text() -> None:
    root = Path(__file__).parent.parent
    storm = load_episode(root / "episodes" / "storm.yaml")
    pilot = load_episode(root / "episodes" / "pilot.yaml")
    assert storm.characters["mei"].description == pilot.characters["mei"].description
    assert textwrap.dedent(storm.style.look) == pilot.style.look
