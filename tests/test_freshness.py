"""The up-to-date stamp: a null build answered by a few stats, and every change that must void it."""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result

from shotmake import freshness
from shotmake.cache import Cache
from tests.fakes.google_server import sample_png

SPEC = Path("episodes/tiny.yaml")
CACHE, OUT = Path(".shotmake"), Path("build")
Run = Callable[..., Result]


def age(root: Path) -> None:
    """Date the project's files an hour back: snapshots (and so stamps) trust only settled files."""
    when = time.time() - 3600
    for path in root.rglob("*"):
        if path.is_file() and ".shotmake" not in path.parts and "build" not in path.parts:
            os.utime(path, (when, when))


def fresh(env: dict[str, str] | None = None, today: datetime.date | None = None) -> bool:
    """Whether the next `build` would be answered from the stamp."""
    return freshness.up_to_date(SPEC, CACHE, OUT, env=os.environ if env is None else env,
                                today=today or datetime.date.today()) is not None


@pytest.fixture
def built(project: Path, run: Run) -> Iterator[Path]:
    """The tiny project built once, with a stamp that holds."""
    age(project)
    first = run("build", str(SPEC))
    assert first.exit_code == 0, first.output
    assert fresh()
    yield project


def test_a_null_build_is_answered_from_the_stamp_and_says_what_the_full_path_says(built: Path, run: Run,
                                                                                   monkeypatch) -> None:
    full = run("build", "-j", "1", str(SPEC))  # the full path again: the stamp was forgotten, then rewritten
    assert full.exit_code == 0 and "nothing to do" in full.output
    monkeypatch.setattr("shotmake.cli._load", lambda *a, **k: pytest.fail("the stamp should have answered"))
    null = run("build", str(SPEC))
    assert null.exit_code == 0
    assert null.output == full.output  # same lines: nothing to do, the summary, the output written
    assert run("build", "-q", str(SPEC)).output == ""


def test_flags_that_need_the_plan_take_the_full_path(built: Path, run: Run) -> None:
    assert json.loads(run("build", "--json", str(SPEC)).stdout)["rendered"] == []
    assert fresh()  # --json took the full path, which wrote the stamp again
    assert "nothing to do" in run("build", "--dry-run", str(SPEC)).output
    # Opening the cache index (plan, status, --dry-run) touches its database: one full build restores it.
    assert run("build", str(SPEC)).exit_code == 0 and fresh()


@pytest.mark.parametrize("change", ["spec", "config", "output", "lock", "object", "index"])
def test_each_input_change_voids_the_stamp(built: Path, change: str) -> None:
    if change == "spec":
        SPEC.write_text(SPEC.read_text().replace("A lighthouse at dusk.", "A lighthouse at dawn."))
    elif change == "config":
        (built / "shotmake.toml").write_text("[limits]\n")
    elif change == "output":
        next(OUT.glob("*.mp4")).unlink()
    elif change == "lock":
        SPEC.with_suffix(".lock").unlink()
    elif change == "object":
        victim = next(p for p in (CACHE / "objects").rglob("*") if p.is_file())
        os.chmod(victim.parent, 0o700)
        victim.unlink()
    elif change == "index":  # another episode sharing this cache stores a render
        cache = Cache(CACHE)
        source = cache.temp_path(".txt")
        source.write_text("another render")
        cache.store("k" * 64, source)
        cache.close()
    assert not fresh()


def test_a_changed_reference_image_voids_it(project: Path, run: Run) -> None:
    picture = project / "episodes" / "mei.png"
    picture.write_bytes(sample_png(64, 64))
    SPEC.write_text(SPEC.read_text().replace("    sheet: true", "    sheet: true\n    references: [mei.png]"))
    age(project)
    assert run("build", str(SPEC)).exit_code == 0 and fresh()
    picture.write_bytes(sample_png(64, 64, (200, 40, 40)))  # the spec itself is untouched
    assert not fresh()


def test_environment_and_date_void_it_and_no_secret_is_written(built: Path) -> None:
    env = dict(os.environ)
    assert fresh(env)
    assert not fresh({**env, "OPENAI_API_KEY": "sk-secret-value-1234"})  # a route may become available
    assert not fresh({**env, "SHOTMAKE_VEO_BACKEND": "vertex"})
    assert not fresh({**env, "OPENAI_BASE_URL": "http://gateway.example"})  # lint reads endpoints
    assert not fresh(env, datetime.date.today() + datetime.timedelta(days=1))  # lint reads the date
    stamp = freshness.stamp_path(CACHE, freshness.identity(SPEC))
    assert stamp.exists()
    freshness.write_stamp(CACHE, OUT, inputs=freshness.read_json(stamp)["inputs"], outputs=[],
                          lines=[], env={"OPENAI_API_KEY": "sk-secret-value-1234"}, today=datetime.date.today())
    text = stamp.read_text()
    assert "sk-secret-value-1234" not in text and "OPENAI_API_KEY" in text


def test_a_credential_in_a_base_url_is_never_written_to_the_stamp(built: Path, run: Run,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "gw-password-in-url-9f3a"
    monkeypatch.setenv("OPENAI_BASE_URL", f"https://user:{secret}@gateway.example/v1")
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", f"https://gateway.example/google?key={secret}")
    monkeypatch.setenv("SHOTMAKE_VERTEX_BASE_URL", f"https://{secret}@vertex-gw.example")
    again = run("build", str(SPEC))  # a changed endpoint: the full path, which writes a fresh stamp
    assert again.exit_code == 0, again.output
    assert fresh()  # the stamp still holds for the same environment
    stamp = freshness.stamp_path(CACHE, freshness.identity(SPEC))
    text = stamp.read_text()
    assert secret not in text and "gateway.example" in text
    hits = [p for p in built.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert hits == [] and secret not in again.output


def test_a_running_build_holding_the_lock_sends_us_down_the_full_path(built: Path) -> None:
    with open(CACHE / "lock", "r+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        assert not fresh()
    assert fresh()


def test_a_corrupt_stamp_is_ignored_and_a_failed_build_leaves_none(built: Path, run: Run) -> None:
    stamp = freshness.stamp_path(CACHE, freshness.identity(SPEC))
    stamp.write_text(stamp.read_text().replace("nothing to do", "nothing at all"))
    assert not fresh()
    again = run("build", str(SPEC))
    assert again.exit_code == 0 and fresh()
    SPEC.write_text(SPEC.read_text().replace("    duration: 2\n", "    duration: 2\n    provider: sora-2\n"))
    failed = run("build", str(SPEC))
    assert failed.exit_code != 0
    assert not stamp.exists()


def test_a_deleted_output_is_rebuilt_by_the_next_build(built: Path, run: Run) -> None:
    output = next(OUT.glob("*.mp4"))
    output.unlink()
    assert run("build", str(SPEC)).exit_code == 0
    assert output.exists() and fresh()


def test_a_checked_file_that_is_torn_or_damaged_reads_as_missing(tmp_path: Path) -> None:
    from shotmake.freshness import read_json, write_json

    target = tmp_path / "specs" / "x.json"
    write_json(target, '{"a": [1, 2, 3], "b": "text"}')
    assert read_json(target) == {"a": [1, 2, 3], "b": "text"}
    raw = target.read_bytes()
    assert raw.startswith(b"crc32:")
    target.write_bytes(raw[:-3])  # torn
    assert read_json(target) is None
    damaged = bytearray(raw)
    damaged[-5] ^= 0x01  # one bit
    target.write_bytes(bytes(damaged))
    assert read_json(target) is None
    target.write_bytes(raw.replace(b'"text"', b'"tExt"'))  # same length, other bytes
    assert read_json(target) is None
