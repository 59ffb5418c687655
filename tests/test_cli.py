"""The CLI end to end on the local provider: the issue's acceptance checks, through CliRunner."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from shotmake.media import probe

Run = Callable[..., Result]
SPEC = "episodes/tiny.yaml"


def build_json(run: Run, *args: str) -> dict:
    result = run("build", SPEC, "--json", "-q", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_build_then_null_rebuild(project: Path, run: Run) -> None:
    first = build_json(run)
    assert {e["id"] for e in first["rendered"]} == {
        "sheet:mei", "clip:a", "clip:b", "clip:c", "frame:a", "conform:a", "conform:b", "conform:c",
        "sequence:one", "sequence:two", "episode:tiny", "poster:tiny"}
    assert first["cached"] == [] and first["failed"] == [] and first["cost_usd"] == 0
    assert all(set(e) == {"id", "kind", "key"} for e in first["rendered"])
    out = project / "build" / "tiny.mp4"
    info = probe(out)
    assert info.video is not None and info.audio is not None
    assert abs(info.duration - 4.0) <= 0.1

    assert (project / "build" / "tiny.poster.png").exists()
    second = build_json(run)
    assert second["rendered"] == [] and len(second["cached"]) == 12
    text = run("build", SPEC)
    assert "nothing to do" in text.stderr


def test_edit_plan_explain_build_revert(project: Path, run: Run) -> None:
    build_json(run)
    spec = project / SPEC
    original = spec.read_text()
    spec.write_text(original.replace("A lighthouse at dusk.", "A lighthouse at night."))

    planned = json.loads(run("plan", SPEC, "--json").stdout)
    assert [e["id"] for e in planned["rendered"]] == ["clip:b", "conform:b", "sequence:one", "episode:tiny",
                                                      "poster:tiny"]
    assert planned["rendered"][0]["reasons"][0].startswith("prompt changed")

    explained = run("explain", SPEC, "b")
    assert explained.exit_code == 0
    assert "clip:b" in explained.stdout and "dirty: prompt changed: 'A lighthouse at dusk." in explained.stdout
    assert "up to date" in run("explain", SPEC, "clip:a").stdout

    rebuilt = build_json(run)
    assert [e["id"] for e in rebuilt["rendered"]] == ["clip:b", "conform:b", "sequence:one", "episode:tiny",
                                                      "poster:tiny"]

    spec.write_text(original)
    reverted = build_json(run)
    assert reverted["rendered"] == []


def test_renaming_a_shot_renders_no_clip(project: Path, run: Run) -> None:
    build_json(run)
    spec = project / SPEC
    spec.write_text(spec.read_text().replace("id: b\n", "id: beacon\n").replace("shots: [a, b]", "shots: [a, beacon]"))
    assert build_json(run)["rendered"] == []


def test_bad_spec_exits_2_with_location_and_writes_nothing(project: Path, run: Run) -> None:
    spec = project / SPEC
    spec.write_text(spec.read_text().replace("characters: [kai]", "characters: [kia]"))
    for command in ("validate", "plan", "build"):
        result = run(command, SPEC)
        assert result.exit_code == 2
        assert f"{SPEC}:26:18: shots[2].characters[0]: unknown character 'kia' (did you mean 'kai'?)" in result.stderr
    assert not (project / ".shotmake").exists() and not (project / "build").exists()


def test_validate_status_graph_dry_run(project: Path, run: Run) -> None:
    assert "ok: 2 characters, 3 shots, 2 sequences, 4.0s" in run("validate", SPEC).stdout
    dry = run("build", SPEC, "--dry-run")
    assert dry.exit_code == 0 and "12 of 12 nodes to build" in dry.stdout
    assert not (project / "build").exists()
    dot = run("graph", SPEC).stdout
    assert '"clip:a" -> "frame:a";' in dot and dot.startswith('digraph "tiny"')
    mermaid = run("graph", SPEC, "--format", "mermaid").stdout
    assert mermaid.startswith("graph LR") and "-->" in mermaid
    assert "0 cached, 12 dirty" in run("status", SPEC).stdout
    build_json(run)
    status = run("status", SPEC).stdout
    assert "12 cached, 0 dirty" in status and "up to date" in status


def test_unknown_node_is_a_usage_error(project: Path, run: Run) -> None:
    result = run("explain", SPEC, "bb")
    assert result.exit_code == 2 and "no node 'bb'" in result.stderr and "did you mean 'b'" in result.stderr


def test_clean_keeps_the_cache_and_gc_keeps_referenced(project: Path, run: Run) -> None:
    build_json(run)
    assert "removed build/" in run("clean").stdout
    assert run("gc").stdout.startswith("gc: removed 0 files")
    again = build_json(run)
    assert again["rendered"] == [] and (project / "build" / "tiny.mp4").exists()


def test_help_teaches(run: Run) -> None:
    text = run("--help").stdout
    for command in ("build", "plan", "explain", "graph", "status", "validate", "gc", "clean", "jobs"):
        assert command in text
    assert "--keep-going" in run("build", "--help").stdout


def test_plan_reasons_compare_with_what_is_cached_after_a_revert(project: Path, run: Run) -> None:
    """Dusk, then night; back to dusk with a longer shot: the prompt is not a reason (dusk is cached)."""
    build_json(run)
    spec = project / SPEC
    original = spec.read_text()
    spec.write_text(original.replace("A lighthouse at dusk.", "A lighthouse at night."))
    build_json(run)
    spec.write_text(original.replace("    duration: 2\n", "    duration: 3\n"))
    planned = json.loads(run("plan", SPEC, "--json").stdout)
    reasons = {e["id"]: e["reasons"] for e in planned["rendered"]}
    assert reasons["clip:b"] == ["duration changed: 2 -> 3 s"]
    explained = run("explain", SPEC, "b").stdout
    assert "dirty: duration changed: 2 -> 3 s" in explained and "prompt" not in explained
