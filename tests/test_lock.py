"""The lock file records the exact cut; --frozen reproduces it or fails without rendering."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import yaml
from click.testing import Result

SPEC = "episodes/tiny.yaml"
LOCK = "episodes/tiny.lock"


def test_build_writes_lock_and_frozen_reproduces(project: Path, run: Callable[..., Result]) -> None:
    assert run("build", SPEC, "-q").exit_code == 0
    lock = yaml.safe_load((project / LOCK).read_text())
    assert lock["episode"] == "tiny" and set(lock["nodes"]) >= {"clip:a", "sequence:one", "episode:tiny"}
    assert lock["nodes"]["clip:a"]["provider"] == "local" and len(lock["nodes"]["clip:a"]["digest"]) == 64
    before = (project / LOCK).read_text()

    frozen = run("build", SPEC, "--frozen", "--json", "-q")
    assert frozen.exit_code == 0 and json.loads(frozen.stdout)["rendered"] == []
    assert (project / LOCK).read_text() == before


def test_frozen_refuses_to_render_after_an_edit(project: Path, run: Callable[..., Result]) -> None:
    assert run("build", SPEC, "-q").exit_code == 0
    spec = project / SPEC
    spec.write_text(spec.read_text().replace("A lighthouse at dusk.", "A lighthouse at night."))
    result = run("build", SPEC, "--frozen")
    assert result.exit_code == 1
    assert "clip:b: the spec changed since the lock was written" in result.stderr
    objects = list((project / ".shotmake" / "objects").rglob("*.*"))
    assert run("build", SPEC, "--frozen").exit_code == 1
    assert list((project / ".shotmake" / "objects").rglob("*.*")) == objects  # rendered nothing


def test_frozen_needs_the_renders_in_this_cache(project: Path, run: Callable[..., Result]) -> None:
    assert run("build", SPEC, "-q").exit_code == 0
    result = run("--cache-dir", "other-cache", "build", SPEC, "--frozen")
    assert result.exit_code == 1 and "not in this cache" in result.stderr


def test_frozen_without_lock_is_a_usage_error(project: Path, run: Callable[..., Result]) -> None:
    result = run("build", SPEC, "--frozen")
    assert result.exit_code == 2 and "build once without --frozen" in result.stderr


def test_prompts_shows_descriptions_verbatim_and_what_is_sent(project: Path, run: Callable[..., Result]) -> None:
    out = run("prompts", SPEC).stdout
    assert out.count("- Mei: a girl in a yellow raincoat") == 1  # only shot a has Mei
    assert "== clip:c" in out and "-- sends: first frame: frame:a" in out
    assert "-- sends: reference: sheet:mei" in out
    single = run("prompts", SPEC, "b").stdout
    assert single.startswith("== clip:b") and "text only" in single and "clip:a" not in single


def test_frozen_names_a_changed_pick_and_explain_follows_the_picked_take(
        project: Path, run: Callable[..., Result]) -> None:
    spec = project / SPEC
    spec.write_text(spec.read_text().replace("    prompt: A lighthouse at dusk.\n",
                                             "    prompt: A lighthouse at dusk.\n    takes: 2\n"))
    assert run("build", SPEC, "-q").exit_code == 0
    spec.write_text(spec.read_text().replace("    takes: 2\n", "    takes: 2\n    pick: 2\n"))
    result = run("build", SPEC, "--frozen")
    assert result.exit_code == 1
    assert "shot b: the pick changed from take 1 to take 2 since the lock was written" in result.stderr, result.stderr
    explained = run("explain", SPEC, "b")
    assert explained.exit_code == 0 and explained.stdout.startswith("clip:b@2 "), explained.stdout
