"""Spec snapshots: a loaded episode and its plan are reused only while nothing they came from changed."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from shotmake import freshness, snapshot
from shotmake.cache import Cache, file_digest
from shotmake.config import load_config
from shotmake.plan import build_plan
from shotmake.snapshot import SpecCache
from shotmake.spec import load_episode

EPISODES = Path(__file__).resolve().parent.parent / "episodes"
SPEC = "episodes/tiny.yaml"


def age(*paths: Path, seconds: float = 3600) -> None:
    """Date files an hour back: a snapshot is only saved for files that have settled."""
    when = time.time() - seconds
    for path in paths:
        os.utime(path, (when, when))


def settled(root: Path) -> None:
    age(*[p for p in root.rglob("*") if p.is_file() and ".shotmake" not in p.parts])


def load_and_plan(spec: Path | str, cache_dir: Path) -> tuple[SpecCache, object, object]:
    specs = SpecCache(cache_dir)
    episode = specs.load(spec)
    return specs, episode, specs.plan(episode, file_digest)


@pytest.mark.parametrize("name", ["pilot.yaml", "storm.yaml"])
def test_round_trip_keeps_every_field(name: str) -> None:
    episode = load_episode(EPISODES / name)
    plan = build_plan(episode, file_digest)
    data = json.loads(json.dumps(snapshot.encode(episode, plan)))
    again = snapshot.decode_episode(data)
    assert again == episode
    replan = snapshot.decode_plan(data, again)
    assert replan.order == plan.order
    assert all(replan.node(nid) == plan.node(nid) for nid in plan.order)
    assert all(replan.pieces_of(nid) == plan.pieces_of(nid) for nid in plan.order)
    assert sorted(replan.graph.edges) == sorted(plan.graph.edges)  # the lazily made graph is the same DAG


def test_second_load_is_a_hit_with_the_same_episode_and_plan(project: Path) -> None:
    settled(project)
    first, episode, plan = load_and_plan(SPEC, project / ".shotmake")
    assert first.last == "miss"
    second, again, replan = load_and_plan(SPEC, project / ".shotmake")
    assert second.last == "hit"
    assert again == episode
    assert [replan.node(n) for n in replan.order] == [plan.node(n) for n in plan.order]  # type: ignore[attr-defined]


def test_an_edit_of_the_same_size_and_mtime_is_seen(project: Path) -> None:
    spec = project / SPEC
    settled(project)
    load_and_plan(SPEC, project / ".shotmake")
    stat = spec.stat()
    spec.write_text(spec.read_text().replace("A lighthouse at dusk.", "A lighthouse at dawn."))
    os.utime(spec, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same mtime: only the bytes differ
    specs, episode, _ = load_and_plan(SPEC, project / ".shotmake")
    assert specs.last in ("miss", "delta")  # not served by the old snapshot
    assert episode.shots["b"].prompt == "A lighthouse at dawn."  # type: ignore[attr-defined]


def test_an_include_edit_is_seen(project: Path) -> None:
    (project / "episodes" / "bible.yaml").write_text("characters:\n  ana:\n    description: a harbour master\n")
    spec = project / SPEC
    spec.write_text("include: [bible.yaml]\n" + spec.read_text())
    settled(project)
    assert load_and_plan(SPEC, project / ".shotmake")[0].last == "miss"
    assert load_and_plan(SPEC, project / ".shotmake")[0].last == "hit"
    (project / "episodes" / "bible.yaml").write_text("characters:\n  ana:\n    description: a lighthouse keeper\n")
    age(project / "episodes" / "bible.yaml")
    specs, episode, _ = load_and_plan(SPEC, project / ".shotmake")
    assert specs.last == "miss" and episode.characters["ana"].description == "a lighthouse keeper"  # type: ignore[attr-defined]


def test_an_asset_edit_is_seen_and_reaches_the_keys(project: Path) -> None:
    (project / "episodes" / "mei.png").write_bytes(b"first image")
    spec = project / SPEC
    spec.write_text(spec.read_text().replace("    sheet: true\n", "    sheet: true\n    references: [mei.png]\n", 1))
    settled(project)
    _, _, plan = load_and_plan(SPEC, project / ".shotmake")
    assert load_and_plan(SPEC, project / ".shotmake")[0].last == "hit"
    (project / "episodes" / "mei.png").write_bytes(b"second image, longer")
    age(project / "episodes" / "mei.png", seconds=60)
    specs, _, replan = load_and_plan(SPEC, project / ".shotmake")
    assert specs.last == "miss"
    assert replan.node("sheet:mei").key != plan.node("sheet:mei").key  # type: ignore[attr-defined]


def test_a_new_shotmake_or_format_is_a_miss(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settled(project)
    load_and_plan(SPEC, project / ".shotmake")
    monkeypatch.setattr(freshness, "_CODE", "another version of shotmake")
    assert load_and_plan(SPEC, project / ".shotmake")[0].last == "miss"
    load_and_plan(SPEC, project / ".shotmake")
    monkeypatch.setattr(freshness, "FORMAT", freshness.FORMAT + 1)
    assert load_and_plan(SPEC, project / ".shotmake")[0].last == "miss"


@pytest.mark.parametrize("inside", ["plan.py", "schemas/episode.schema.json", "providers/routes.toml",
                                    "providers/dialogue.toml"])
def test_the_code_fingerprint_follows_sources_schema_and_data(
        inside: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Snapshots keep plans made with shotmake's own files: the sources, the schema, the route catalog
    (model ids in node keys) and the dialogue tables (compiled prompts). Editing any one of them, as an
    upgrade that changes only data does, must not let a remembered plan be reused. The test works on a
    copy of the package's layout: the installed files, which other test workers read, stay untouched."""
    package = tmp_path / "shotmake"
    (package / "freshness.py").parent.mkdir(parents=True)
    (package / "freshness.py").write_text("")
    edited = package / inside
    edited.parent.mkdir(parents=True, exist_ok=True)
    edited.write_text("{}")
    monkeypatch.setattr(freshness, "__file__", str(package / "freshness.py"))
    monkeypatch.setattr(freshness, "_CODE", None)
    before = freshness.code_fingerprint()
    stat = edited.stat()
    os.utime(edited, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    monkeypatch.setattr(freshness, "_CODE", None)
    assert freshness.code_fingerprint() != before


def test_a_file_that_just_changed_is_not_trusted(project: Path) -> None:
    # Written now: its mtime could hide a second write in the same tick, so nothing is saved.
    load_and_plan(SPEC, project / ".shotmake")
    assert not list((project / ".shotmake" / "specs").glob("*.json"))
    assert load_and_plan(SPEC, project / ".shotmake")[0].last == "miss"


def test_a_corrupt_snapshot_is_ignored(project: Path) -> None:
    settled(project)
    _, episode, _ = load_and_plan(SPEC, project / ".shotmake")
    for path in (project / ".shotmake" / "specs").glob("*.json"):
        path.write_text('{"inputs": {}, "episode": [1, 2')
    specs, again, _ = load_and_plan(SPEC, project / ".shotmake")
    assert specs.last == "miss" and again == episode
    settled(project)
    load_and_plan(SPEC, project / ".shotmake")
    def reshape(change: Callable[[dict[str, Any]], None]) -> None:
        """Rewrite each snapshot with a checksum that matches and a shape that does not."""
        for path in snapshots(project):
            head, _, manifests = path.read_bytes().partition(b"\n")[2].partition(b"\n")
            data = json.loads(head)
            change(data)
            body = json.dumps(data).encode() + b"\n" + manifests
            path.write_bytes(freshness.checksum(body) + b"\n" + body)

    reshape(lambda data: data.update(episode=data["episode"][:-1]))
    specs, again, _ = load_and_plan(SPEC, project / ".shotmake")
    assert specs.last == "miss" and again == episode
    settled(project)
    load_and_plan(SPEC, project / ".shotmake")
    reshape(lambda data: data["plan"]["nodes"][0].__setitem__(4, [0, 10**9]))  # a manifest out of place
    specs, again, replan = load_and_plan(SPEC, project / ".shotmake")
    assert again == episode and replan.order == build_plan(episode, file_digest).order  # type: ignore[attr-defined,arg-type]


def test_snapshots_are_json_and_owner_only(project: Path) -> None:
    settled(project)
    load_and_plan(SPEC, project / ".shotmake")
    (path,) = snapshots(project)
    head, _, manifests = path.read_bytes().partition(b"\n")[2].partition(b"\n")
    assert isinstance(json.loads(head), dict)
    assert all(isinstance(json.loads(line), dict) for line in manifests.split(b"\n"))  # one per node
    json.loads(path.with_suffix(".inputs.json").read_bytes().partition(b"\n")[2])
    for written in (path, path.with_suffix(".inputs.json")):
        assert written.stat().st_mode & 0o077 == 0 and path.parent.stat().st_mode & 0o077 == 0


def snapshots(project: Path) -> list[Path]:
    """The snapshot files (not their inputs, lint, index or stamp files beside them)."""
    return [p for p in (project / ".shotmake" / "specs").glob("*.json") if p.suffixes == [".json"]]


def test_inputs_beside_the_snapshot_only_shortcut_a_miss(project: Path) -> None:
    """``<id>.inputs.json`` spares a run after an edit decoding the whole snapshot; it never makes a hit."""
    spec = project / SPEC
    settled(project)
    load_and_plan(SPEC, project / ".shotmake")
    (path,) = snapshots(project)
    sidecar = path.with_suffix(".inputs.json")
    assert json.loads(sidecar.read_bytes().partition(b"\n")[2])["inputs"]["spec"] == freshness.content_of(SPEC)
    sidecar.unlink()  # a cache from before the inputs file: the snapshot alone still serves
    assert load_and_plan(SPEC, project / ".shotmake")[0].last == "hit"
    load_and_plan(SPEC, project / ".shotmake")
    spec.write_text(spec.read_text().replace("A lighthouse at dusk.", "A lighthouse at dawn."))
    specs, episode, _ = load_and_plan(SPEC, project / ".shotmake")
    assert specs.last in ("miss", "delta") and episode.shots["b"].prompt == "A lighthouse at dawn."  # type: ignore[attr-defined]
    # An inputs file left from an older snapshot (a save cut short) cannot vouch for the newer one.
    age(spec)
    load_and_plan(SPEC, project / ".shotmake")  # saves the dawn snapshot and its inputs
    dawn_inputs = sidecar.read_bytes()
    spec.write_text(spec.read_text().replace("A lighthouse at dawn.", "A lighthouse at noon."))
    age(spec)
    load_and_plan(SPEC, project / ".shotmake")  # saves the noon snapshot
    sidecar.write_bytes(dawn_inputs)
    specs, episode, _ = load_and_plan(SPEC, project / ".shotmake")
    assert specs.last in ("miss", "delta") and episode.shots["b"].prompt == "A lighthouse at noon."  # type: ignore[attr-defined]
    spec.write_text(spec.read_text().replace("A lighthouse at noon.", "A lighthouse at dawn."))
    specs, episode, _ = load_and_plan(SPEC, project / ".shotmake")  # the inputs hold, the snapshot's do not
    assert specs.last in ("miss", "delta") and episode.shots["b"].prompt == "A lighthouse at dawn."  # type: ignore[attr-defined]


EDITS = {  # where: (file to edit, old text, new text, a node whose key must change)
    "shot": ("episodes/tiny.yaml", "A lighthouse at dusk.", "A lighthouse at night.", "clip:b"),
    "character": ("episodes/bible.yaml", "a girl in a yellow raincoat", "a girl in a red raincoat", "sheet:mei"),
    "style": ("episodes/bible.yaml", "look: flat colours", "look: watercolour", "clip:b"),
    "project config": ("shotmake.toml", "", '[routes."local"]\nmodel = "local-v2"\n', "clip:b"),
}


@pytest.mark.parametrize("where", list(EDITS))
def test_an_edit_anywhere_is_seen_after_snapshots_and_their_inputs_were_saved(project: Path, where: str) -> None:
    """Shot, character, style (in an included file) and shotmake.toml: each edit misses the snapshot and
    reaches the keys (the built-in catalog is part of the code fingerprint, tested above)."""
    spec = project / SPEC
    text = spec.read_text()
    bible, _, rest = text.partition("shots:\n")
    (project / "episodes" / "bible.yaml").write_text(bible.replace("version: 1\nepisode: tiny\n", ""))
    spec.write_text("version: 1\nepisode: tiny\ninclude: [bible.yaml]\nshots:\n" + rest)
    (project / "shotmake.toml").write_text("")
    settled(project)

    def load() -> tuple[SpecCache, Any]:  # as the CLI does: the project's catalog from shotmake.toml
        specs = SpecCache(project / ".shotmake")
        episode = specs.load(SPEC)
        return specs, specs.plan(episode, file_digest, load_config(project).catalog)

    _, before = load()
    assert load()[0].last == "hit"
    name, old, new, node = EDITS[where]
    edited = project / name
    assert old in edited.read_text()
    edited.write_text(edited.read_text().replace(old, new, 1) if old else new)
    specs, after = load()
    assert specs.last in ("miss", "delta")  # not served by the old snapshot
    assert after.node(node).key != before.node(node).key  # type: ignore[attr-defined]


def test_lint_findings_are_remembered_per_day_and_base_urls(project: Path) -> None:
    import datetime

    from shotmake import lint

    assert all(var.endswith(snapshot.LINT_ENV_SUFFIX) for _, var, _ in lint.OFFICIAL_ENDPOINTS.values())
    spec = project / SPEC
    spec.write_text(spec.read_text().replace("  - id: b\n", "  - id: b\n    provider: sora-2\n"))
    settled(project)
    today = datetime.date(2026, 1, 5)
    load_and_plan(SPEC, project / ".shotmake")
    specs, episode, _ = load_and_plan(SPEC, project / ".shotmake")
    fresh = lint.lint(episode, env={}, today=today)  # type: ignore[arg-type]
    assert fresh and specs.lint(episode, {}, today) == fresh  # type: ignore[arg-type]
    specs, episode, _ = load_and_plan(SPEC, project / ".shotmake")
    assert specs.lint(episode, {}, today) == fresh  # type: ignore[arg-type]  # from the file this time
    proxied = {"OPENAI_BASE_URL": "https://proxy.example/v1"}
    assert specs.lint(episode, proxied, today) == lint.lint(episode, env=proxied, today=today)  # type: ignore[arg-type]
    later = datetime.date(2026, 12, 1)
    assert specs.lint(episode, {}, later) == lint.lint(episode, env={}, today=later)  # type: ignore[arg-type]


def test_prefetch_and_remembered_entries_answer_like_plain_lookups(project: Path, run: Callable[..., Result]) -> None:
    assert run("build", SPEC, "-q").exit_code == 0
    episode = load_episode(project / SPEC)
    keys = [build_plan(episode, file_digest).node(nid).key for nid in build_plan(episode, file_digest).order]
    plain = Cache(project / ".shotmake")
    expected = [plain.lookup(k) for k in keys + ["0" * 64]]
    entries = {k: plain.index.get(f"node:{k}") for k in keys}
    plain.close()

    batched = Cache(project / ".shotmake")
    batched.prefetch(keys + ["0" * 64])
    assert [batched.lookup(k) for k in keys + ["0" * 64]] == expected
    assert batched.known_entries(keys) == entries
    batched.close()

    remembered = Cache(project / ".shotmake")
    wrong = dict(entries)
    wrong[keys[0]] = {**entries[keys[0]], "digest": "f" * 64}  # the index has moved on since
    remembered.remember(wrong)
    assert [remembered.lookup(k) for k in keys] == expected[:-1]
    remembered.close()


def test_null_build_from_a_snapshot_rewrites_nothing(project: Path, run: Callable[..., Result]) -> None:
    settled(project)
    assert run("build", SPEC, "-q").exit_code == 0
    assert run("build", SPEC, "-q").exit_code == 0  # the index entries are remembered now
    watched = [project / "episodes" / "tiny.lock",
               *(p for p in (project / ".shotmake" / "specs").glob("*") if not p.name.endswith(".uptodate.json"))]
    before = {p: p.stat().st_mtime_ns for p in watched}
    cache = Cache(project / ".shotmake")
    rows = sorted(cache.index.items())
    cache.close()
    result = run("build", SPEC, "--json", "-q")
    assert result.exit_code == 0 and json.loads(result.stdout)["rendered"] == []
    assert {p: p.stat().st_mtime_ns for p in watched} == before
    cache = Cache(project / ".shotmake")
    assert sorted(cache.index.items()) == rows and rows
    cache.close()


def test_edits_rebuild_through_snapshots(project: Path, run: Callable[..., Result]) -> None:
    settled(project)
    assert run("build", SPEC, "-q").exit_code == 0
    assert run("build", SPEC, "-q").exit_code == 0
    spec = project / SPEC
    spec.write_text(spec.read_text().replace("A lighthouse at dusk.", "A lighthouse at noon."))
    age(spec)
    result = run("build", SPEC, "--json", "-q")
    assert result.exit_code == 0
    rendered = {n["id"] for n in json.loads(result.stdout)["rendered"]}
    assert "clip:b" in rendered and "clip:a" not in rendered
    assert "noon" in run("prompts", SPEC, "b").stdout


def test_lock_is_rewritten_only_when_its_data_or_text_changed(project: Path, run: Callable[..., Result]) -> None:
    assert run("build", SPEC, "-q").exit_code == 0
    lock = project / "episodes" / "tiny.lock"
    first = lock.stat().st_mtime_ns
    assert run("build", SPEC, "-q").exit_code == 0
    assert lock.stat().st_mtime_ns == first
    lock.write_text(lock.read_text().replace("kind: clip", "kind: clipped", 1))  # a hand edit below the header
    assert run("build", SPEC, "-q").exit_code == 0
    assert "kind: clipped" not in lock.read_text()


def test_a_dry_run_writes_no_snapshot(project: Path, run: Callable[..., Result]) -> None:
    """``build -n`` is ``plan``: it reads snapshots and, like ``plan``, never pays for writing one."""
    settled(project)
    assert run("build", "-n", SPEC).exit_code == 0
    assert not list((project / ".shotmake" / "specs").glob("*.json"))
    assert run("build", "-q", SPEC).exit_code == 0
    assert snapshots(project)


def test_a_snapshot_read_once_decodes_to_the_same_records_every_time(project: Path) -> None:
    """Records are made from the snapshot's rows without their ``__init__``, from a copy of each row:
    decoding the same data again (a command that plans twice) gives equal records."""
    settled(project)
    load_and_plan(SPEC, project / ".shotmake")
    (path,) = snapshots(project)
    data = snapshot._read_snapshot(path)
    assert data is not None
    first, second = snapshot.decode_episode(data), snapshot.decode_episode(data)
    assert first == second == load_episode(SPEC)
    plans = [snapshot.decode_plan(data, first), snapshot.decode_plan(data, second)]
    assert plans[0].order == plans[1].order
    assert all(plans[0].node(nid) == plans[1].node(nid) for nid in plans[0].order)
    assert all(plans[0].node(nid).location == build_plan(first, file_digest).node(nid).location  # type: ignore[attr-defined]
               for nid in plans[0].order)
