"""After a build, a plan takes the keys it recorded as cached while the cache is unchanged (freshness.cached_keys)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from shotmake import freshness
from shotmake.cache import Cache

SPEC = "episodes/tiny.yaml"


def settle(project: Path) -> None:
    when = time.time() - 3600
    for path in project.rglob("*"):
        if path.is_file() and ".shotmake" not in path.parts:
            os.utime(path, (when, when))


def built(project: Path, run: Callable[..., Result]) -> None:
    settle(project)
    assert run("build", SPEC, "-q").exit_code == 0
    spec = project / SPEC
    spec.write_text(spec.read_text().replace("A lighthouse at dusk.", "A lighthouse at noon."))


def object_of(project: Path, node: str) -> Path:
    cache = Cache(project / ".shotmake")
    try:
        rows = dict(cache.index.items())
    finally:
        cache.close()
    entry = next(v for k, v in rows.items() if k.startswith("node:") and v.get("meta", {}).get("node") == node)
    return project / ".shotmake" / "objects" / entry["digest"][:2] / f"{entry['digest']}{entry.get('ext', '')}"


def test_a_build_records_its_keys_and_they_hold_while_the_cache_does(project: Path, run: Callable[..., Result]) -> None:
    built(project, run)
    ident = freshness.identity(Path(SPEC))
    kept = freshness.cached_keys(project / ".shotmake", ident)
    assert len(kept) >= 5  # sheets, clips, the frame, conforms, the sequence, the master...
    cache = Cache(project / ".shotmake")
    try:
        assert all(cache.contains(key) for key in kept)
    finally:
        cache.close()
    (project / ".shotmake" / "objects" / "zz").mkdir()  # any change to the object folders
    assert freshness.cached_keys(project / ".shotmake", ident) == frozenset()


def test_plan_after_an_edit_says_what_a_plan_without_the_record_says(project: Path, run: Callable[..., Result]) -> None:
    built(project, run)
    with_record = run("plan", SPEC).stdout
    assert "clip:b" in with_record and "clip:a " not in with_record
    for path in (project / ".shotmake" / "specs").glob("*.cached.json"):
        path.unlink()
    assert run("plan", SPEC).stdout == with_record
    assert run("build", SPEC, "-n").stdout == with_record


def test_a_deleted_object_is_seen_and_a_truncated_one_is_built_again(project: Path, run: Callable[..., Result]) -> None:
    built(project, run)
    gone = object_of(project, "clip:a")
    gone.chmod(0o644)
    gone.unlink()  # its folder changes: the record no longer holds
    assert "clip:a " in run("plan", SPEC).stdout
    assert run("build", SPEC, "-q").exit_code == 0

    built(project, run)
    spec = project / SPEC
    spec.write_text(spec.read_text().replace("A lighthouse at noon.", "A lighthouse at night."))
    cut = object_of(project, "clip:a")
    cut.chmod(0o644)
    with open(cut, "r+b") as handle:  # cut short in place: no folder changes (as a null build, plan trusts it)
        handle.truncate(10)
    assert "clip:a " not in run("plan", SPEC).stdout
    result = run("build", SPEC, "--json", "-q")  # a build checks every object it relies on
    assert result.exit_code == 0
    assert "clip:a" in {n["id"] for n in json.loads(result.stdout)["rendered"]}
