"""``build --remote-only / --no-remote``, ``pull`` and ``push`` through CliRunner, on a ``file://`` remote.

The tiny episode renders on the local provider; a second cache directory stands for a second
machine (``--cache-dir``), the remote is a folder (a NAS mount).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

Run = Callable[..., Result]
SPEC = "episodes/tiny.yaml"


def with_remote(project: Path) -> Path:
    share = project.parent / f"{project.name}-share"
    (project / "shotmake.toml").write_text(f'[cache]\nremote = "file://{share}"\n')
    return share


def test_a_second_machine_takes_every_render_from_the_remote(project: Path, run: Run) -> None:
    share = with_remote(project)
    first = run("build", SPEC, "--json", "-q")
    assert first.exit_code == 0, first.output
    rendered = json.loads(first.stdout)["rendered"]
    assert len(list((share / "v1" / "keys").rglob("*.json"))) == len(rendered)
    master = (project / "build" / "tiny.mp4").read_bytes()
    shutil.rmtree(project / "build")
    other = run("--cache-dir", "other-machine", "build", SPEC, "--json", "-q", "--remote-only")
    assert other.exit_code == 0, other.output
    assert json.loads(other.stdout)["rendered"] == []
    assert (project / "build" / "tiny.mp4").read_bytes() == master


def test_remote_only_with_an_empty_remote_fails_every_leaf_and_renders_nothing(project: Path, run: Run) -> None:
    with_remote(project)
    result = run("build", SPEC, "--json", "-q", "--remote-only", "-k")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["rendered"] == [] and data["cached"] == []
    refused = [e for e in data["failed"] if "--remote-only" in e["error"]]
    assert {e["id"] for e in refused} == {"sheet:mei", "clip:b"}  # the nodes with no inputs
    assert list((project / ".shotmake" / "objects").rglob("*.*")) == []


def test_remote_flags_are_refused_where_they_cannot_work(project: Path, run: Run) -> None:
    only = run("build", SPEC, "--remote-only")
    assert only.exit_code == 2 and "--remote-only needs a remote cache" in only.stderr
    with_remote(project)
    both = run("build", SPEC, "--remote-only", "--no-remote")
    assert both.exit_code == 2 and "cannot be used together" in both.output


def test_no_remote_builds_offline_and_push_uploads_afterwards(project: Path, run: Run) -> None:
    share = with_remote(project)
    offline = run("build", SPEC, "--json", "-q", "--no-remote")
    assert offline.exit_code == 0 and not share.exists()
    count = len(json.loads(offline.stdout)["rendered"])
    pushed = run("push", SPEC)
    assert pushed.exit_code == 0 and f"push: {count} renders published" in pushed.stdout
    assert len(list((share / "v1" / "keys").rglob("*.json"))) == count
    again = run("push")  # every render in the local cache: all there already, none sent twice
    assert again.exit_code == 0 and f"push: {count} renders published" in again.stdout


def test_pull_fetches_the_locked_cut_and_fails_on_what_the_remote_lacks(project: Path, run: Run) -> None:
    share = with_remote(project)
    assert run("build", SPEC, "-q").exit_code == 0
    shutil.rmtree(project / ".shotmake")
    shutil.rmtree(project / "build")
    pulled = run("pull", SPEC, "-q")
    assert pulled.exit_code == 0, pulled.output
    assert "pull: 12 renders fetched, 0 already here" in pulled.stdout
    frozen = run("build", SPEC, "--frozen", "--json", "-q", "--no-remote")
    assert frozen.exit_code == 0 and json.loads(frozen.stdout)["rendered"] == []

    shutil.rmtree(project / ".shotmake")
    import yaml

    digest = yaml.safe_load((project / "episodes" / "tiny.lock").read_text())["nodes"]["sheet:mei"]["digest"]
    (share / "v1" / "objects" / digest[:2] / f"{digest}.png").unlink()  # the sheet's object is lost
    missing = run("pull", SPEC, "-q")
    assert missing.exit_code == 1
    assert "pull: 11 renders fetched, 0 already here, 1 not available" in missing.stdout
    assert "sheet:mei: not available from the remote cache" in missing.stderr


def test_pull_and_push_need_a_remote_and_a_lock(project: Path, run: Run) -> None:
    no_remote = run("pull", SPEC)
    assert no_remote.exit_code == 2 and "no remote cache: set [cache] remote" in no_remote.stderr
    with_remote(project)
    no_lock = run("pull", SPEC)
    assert no_lock.exit_code == 2 and "no lock file" in no_lock.stderr


def test_a_bad_remote_url_stops_the_build_with_its_line(project: Path, run: Run) -> None:
    (project / "shotmake.toml").write_text('[cache]\nremote = "s3://key:secret@bucket/x"\n')
    result = run("build", SPEC)
    assert result.exit_code == 2
    assert "shotmake.toml:2:1: cache.remote: credentials do not go in the URL" in result.stderr
