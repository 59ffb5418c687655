"""After a shot edit, the snapshot serves the episode and plan through spec_delta: equal to a full load and plan."""

from __future__ import annotations

import datetime
import os
import random
import shutil
import time
from pathlib import Path

import pytest

from shotmake.cache import file_digest
from shotmake.config import load_config
from shotmake.lint import lint
from shotmake.plan import build_plan
from shotmake.snapshot import SpecCache
from shotmake.spec import load_episode

REPO = Path(__file__).resolve().parent.parent

SPEC = """\
version: 1
episode: delta
include:
  - series/lighthouse-bible.yaml
delivery:
  renditions: [vertical, proxy]
  subtitles: {burn: true}
shots:
  - id: a
    prompt: "{mei} lights the lamp."
    duration: 4
  - id: b
    prompt: "{mei} turns to the sea."
    after: a
    duration: 4
    trim: {in: 0.5, out: 3.5}
    subtitle: "The sea again."
  - id: c
    prompt: "{kai} runs up the stairs."
    after: b
    takes: 2
    pick: 1
    duration: 4
  - id: d
    prompt: "The storm rolls in."
    provider: gemini-omni
    duration: 4
    seed: 7
  - id: e
    prompt: "The storm goes on."
    extends: d
    provider: gemini-omni
    duration: 4
  - id: f
    prompt: "{kai} waves from the quay."
    title: "Wave"
    duration: 4
  - id: g
    prompt: "The quay at night."
    provider: seedance-2.0
    duration: 4.5
  - id: h
    prompt: "The quay at dawn."
    after: g
    provider: wan-2.7
    duration: 4
  - id: i
    prompt: "Gulls over the quay."
    after: g
    provider: sora-2
    duration: 4
sequences:
  - id: one
    shots: [a, b, c]
    transition: {kind: crossfade, seconds: 0.5}
  - id: two
    shots: [d, e, f, a, g, h, i]
"""

#: Same-line edits of one shot's field: (shot, field, new value).
EDITS = [
    ("a", "prompt", '"{mei} lights the old lamp."'),
    ("a", "duration", "5"),
    ("b", "trim", "{in: 0.5, out: 3.0}"),
    ("b", "subtitle", '"The sea, once more."'),
    ("c", "pick", "2"),
    ("c", "prompt", '"{kai} runs down the stairs."'),
    ("d", "seed", "8"),
    ("d", "prompt", '"The storm rolls in fast."'),
    ("e", "prompt", '"The storm goes on and on."'),
    ("f", "title", '"A wave"'),
    ("f", "prompt", '"{kai} waves from the boat."'),
    ("g", "duration", "5"),
    ("h", "duration", "4.5"),
    ("g", "prompt", '"{mei} on the quay at night."'),  # SM102 of i, which continues g on Sora
    ("d", "provider", "local"),  # SM113 of e, which extends d on another route
]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(REPO / "episodes" / "series", tmp_path / "series")
    (tmp_path / "shotmake.toml").write_text("")
    (tmp_path / "delta.yaml").write_text(SPEC)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def settle(root: Path) -> None:
    """Date files back: a snapshot is only saved for files that have settled."""
    when = time.time() - 3600
    for path in root.rglob("*"):
        if path.is_file() and ".shotmake" not in path.parts:
            os.utime(path, (when, when))


def edit(text: str, shot: str, field: str, value: str) -> str:
    lines = text.split("\n")
    start = lines.index(f"  - id: {shot}")
    at = next(i for i in range(start + 1, len(lines)) if lines[i].startswith(f"    {field}:"))
    lines[at] = f"    {field}: {value}"
    return "\n".join(lines)


TODAY = datetime.date(2026, 11, 29)


def saved(project: Path) -> None:
    """Load, lint and plan as ``build`` does, saving the snapshot (and its lint findings)."""
    settle(project)
    specs = SpecCache(project / ".shotmake")
    episode = specs.load("delta.yaml")
    specs.lint(episode, {}, TODAY, load_config(project).catalog)
    specs.plan(episode, file_digest, load_config(project).catalog)
    assert (project / ".shotmake" / "specs").exists()


def assert_same_plan(served: object, expected: object) -> None:
    assert served.order == expected.order  # type: ignore[attr-defined]
    assert served.added == expected.added  # type: ignore[attr-defined]
    for nid in expected.order:  # type: ignore[attr-defined]
        assert served.node(nid) == expected.node(nid), nid  # type: ignore[attr-defined]
        assert served.pieces_of(nid) == expected.pieces_of(nid), nid  # type: ignore[attr-defined]


@pytest.mark.parametrize("shot,field,value", EDITS)
def test_an_edited_shot_is_served_as_a_full_load_and_plan_would(project: Path, shot: str, field: str,
                                                                 value: str) -> None:
    saved(project)
    spec = project / "delta.yaml"
    spec.write_text(edit(spec.read_text(), shot, field, value))
    specs = SpecCache(project / ".shotmake", save=False)
    episode = specs.load("delta.yaml")
    assert specs.last == "delta"
    routes = load_config(project).catalog
    plan = specs.plan(episode, file_digest, routes)
    expected_episode = load_episode("delta.yaml")
    assert episode == expected_episode
    assert_same_plan(plan, build_plan(expected_episode, file_digest, routes))
    assert specs.lint(episode, {}, TODAY, routes) == lint(expected_episode, env={}, today=TODAY, routes=routes)


def test_edits_in_a_row_each_match_a_full_plan(project: Path) -> None:
    """Build-style loads save each edited snapshot, so the next edit is patched from a patched one."""
    rng = random.Random("delta-row")
    spec = project / "delta.yaml"
    routes = load_config(project).catalog
    for _ in range(8):
        saved(project)
        spec.write_text(edit(spec.read_text(), *rng.choice(EDITS)[:2], str(rng.randrange(2, 6))
                             if rng.random() < 0.3 else rng.choice(EDITS)[2]))
        specs = SpecCache(project / ".shotmake")
        try:
            expected_episode = load_episode("delta.yaml")
        except Exception:  # an edit the spec refuses (a prompt for a duration): the full path says so
            spec.write_text(SPEC)
            continue
        episode = specs.load("delta.yaml")
        assert episode == expected_episode
        assert specs.lint(episode, {}, TODAY, routes) == lint(expected_episode, env={}, today=TODAY, routes=routes)
        assert_same_plan(specs.plan(episode, file_digest, routes), build_plan(expected_episode, file_digest, routes))


def test_an_edit_outside_the_shots_or_to_an_asset_takes_the_full_path(project: Path) -> None:
    saved(project)
    spec = project / "delta.yaml"
    spec.write_text(spec.read_text().replace("burn: true", "burn: false"))
    specs = SpecCache(project / ".shotmake", save=False)
    specs.load("delta.yaml")
    assert specs.last == "miss"

    spec.write_text(SPEC)
    saved(project)
    spec.write_text(edit(SPEC, "a", "prompt", '"{mei} lights the old lamp."'))
    bible = project / "series" / "lighthouse-bible.yaml"
    bible.write_text(bible.read_text().replace("a yellow raincoat", "a red raincoat"))
    specs = SpecCache(project / ".shotmake", save=False)
    episode = specs.load("delta.yaml")
    assert specs.last == "miss"
    assert "red raincoat" in episode.characters["mei"].description


def test_the_previous_order_is_kept_only_for_the_same_nodes_and_inputs(project: Path) -> None:
    from dataclasses import replace

    from shotmake.plan_reuse import Reuse

    routes = load_config(project).catalog
    previous = build_plan(load_episode("delta.yaml"), file_digest, routes)
    fresh = Reuse(previous, [])
    nodes = {nid: previous.node(nid) for nid in previous.added}
    assert fresh.order(nodes) == previous.order
    clip = nodes["clip:e"]
    nodes["clip:e"] = replace(clip, inputs=("clip:a",))  # the same ids, one edge moved
    assert fresh.order(nodes) is None
    nodes["clip:e"] = replace(clip)  # an equal node made anew
    assert fresh.order(nodes) == previous.order
    del nodes["clip:e"]
    nodes["clip:e"] = clip  # added in another order
    assert fresh.order(nodes) is None


def test_what_the_decision_does_not_need_stays_undecoded(project: Path) -> None:
    """After an edit, the reused nodes' manifests and the spec's locations are kept as JSON text
    until something reads them (a dirty node's reasons, a message); they read as before."""
    from shotmake.snapshot import LazyJSON, Locations

    saved(project)
    spec = project / "delta.yaml"
    spec.write_text(edit(spec.read_text(), "f", "prompt", '"{kai} waves from the boat."'))
    specs = SpecCache(project / ".shotmake", save=False)
    episode = specs.load("delta.yaml")
    plan = specs.plan(episode, file_digest, load_config(project).catalog)
    kept = plan.node("clip:a").manifest
    assert isinstance(kept, LazyJSON) and kept._value is None
    assert not isinstance(plan.node("clip:f").manifest, LazyJSON)  # planned anew
    base = episode.locations._base  # type: ignore[attr-defined]
    assert isinstance(base, Locations) and base._raw is None
    expected = load_episode("delta.yaml")
    assert episode.where("shots[0].prompt") == expected.where("shots[0].prompt")
    assert kept == build_plan(expected, file_digest, load_config(project).catalog).node("clip:a").manifest


#: Edits that add or remove lines: everything after them moves.
LINE_EDITS = {
    "a seed added to a": lambda text: text.replace("  - id: a\n", "  - id: a\n    seed: 3\n", 1),
    "a comment and a seed in b": lambda text: text.replace("  - id: b\n", "  - id: b\n    # at dawn\n    seed: 9\n", 1),
    "f's title removed": lambda text: text.replace('    title: "Wave"\n', "", 1),
    "h's prompt on two lines": lambda text: text.replace('    prompt: "The quay at dawn."\n',
                                                          '    prompt: >-\n      The quay\n      at dawn.\n', 1),
}


@pytest.mark.parametrize("what", list(LINE_EDITS))
def test_an_edit_that_adds_or_removes_lines_moves_every_location_after_it(project: Path, what: str) -> None:
    saved(project)
    spec = project / "delta.yaml"
    spec.write_text(LINE_EDITS[what](spec.read_text()))
    specs = SpecCache(project / ".shotmake", save=False)
    episode = specs.load("delta.yaml")
    assert specs.last == "delta"
    routes = load_config(project).catalog
    expected = load_episode("delta.yaml")
    assert episode == expected
    assert [s.location for s in episode.sequences] == [s.location for s in expected.sequences]
    assert dict(episode.locations.items()) == dict(expected.locations.items())
    plan = specs.plan(episode, file_digest, routes)
    assert_same_plan(plan, build_plan(expected, file_digest, routes))  # nodes equal: their locations too
    assert specs.lint(episode, {}, TODAY, routes) == lint(expected, env={}, today=TODAY, routes=routes)
