"""The project root: cache, outputs and shotmake.toml are the same from any folder of the project."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from shotmake.project import find_root


def test_a_build_from_a_subfolder_uses_the_root_cache_config_and_outputs(
        project: Path, run: Callable[..., Result], monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "shotmake.toml").write_text("[retry]\nmax_attempts = 3\n")
    assert run("build", "episodes/tiny.yaml", "-q").exit_code == 0
    monkeypatch.chdir(project / "episodes")
    result = run("build", "tiny.yaml", "--json", "-q")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rendered"] == []  # the same cache: nothing rendered again
    assert not (project / "episodes" / ".shotmake").exists() and not (project / "episodes" / "build").exists()
    assert (project / "build" / "tiny.mp4").is_file()
    status = run("status", "tiny.yaml")
    assert "0 dirty" in status.stdout and "../build/tiny.mp4 (up to date)" in status.stdout, status.stdout
    # shotmake.toml is read from the subfolder too: a broken one is reported, not ignored.
    (project / "shotmake.toml").write_text("[retry]\nmax_attempts = 'many'\n")
    broken = run("plan", "tiny.yaml")
    assert broken.exit_code == 2 and "shotmake.toml" in broken.output, broken.output


def test_markers_are_searched_strongest_first(tmp_path: Path) -> None:
    (tmp_path / "shotmake.toml").touch()
    (tmp_path / "sub" / ".shotmake").mkdir(parents=True)  # a stray cache from an older shotmake
    (tmp_path / "sub" / ".git").mkdir()
    spec = tmp_path / "sub" / "ep.yaml"
    assert find_root(spec) == tmp_path
    (tmp_path / "shotmake.toml").unlink()
    assert find_root(spec) == tmp_path / "sub"


def test_cache_and_out_dir_options_are_relative_to_the_working_directory(
        project: Path, run: Callable[..., Result], monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "shotmake.toml").touch()
    monkeypatch.chdir(project / "episodes")
    assert run("--cache-dir", "c", "--out-dir", "o", "build", "tiny.yaml", "-q").exit_code == 0
    assert (project / "episodes" / "c" / "objects").is_dir() and (project / "episodes" / "o" / "tiny.mp4").is_file()


def test_a_cache_the_root_hides_is_named_with_the_fix(
        project: Path, run: Callable[..., Result], monkeypatch: pytest.MonkeyPatch) -> None:
    # A project folder inside a git repository: an older shotmake, run there, kept its cache there.
    # The root is now the repository's (it holds .git): say so before that cache is silently passed
    # over (every remote render in it would be paid for again), and how to keep using it.
    (project / ".git").mkdir()
    monkeypatch.chdir(project / "episodes")
    assert run("--cache-dir", ".shotmake", "build", "tiny.yaml", "-q").exit_code == 0
    result = run("plan", "tiny.yaml")
    assert result.exit_code == 0
    assert "warning: .shotmake holds a cache this command does not use" in result.stderr, result.stderr
    assert "put a shotmake.toml beside it" in result.stderr and "--cache-dir .shotmake" in result.stderr
    (project / "episodes" / "shotmake.toml").touch()  # the fix it names: that folder is the root again
    again = run("build", "tiny.yaml", "--json", "-q")
    assert again.exit_code == 0 and json.loads(again.stdout)["rendered"] == [] and "does not use" not in again.stderr


def test_a_spec_named_through_dot_dot_reports_outputs_by_a_clean_path(
        project: Path, run: Callable[..., Result], monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "shotmake.toml").touch()
    (project / "series").mkdir()
    monkeypatch.chdir(project / "series")
    result = run("build", "../episodes/tiny.yaml")
    assert result.exit_code == 0, result.output
    assert "wrote ../build/tiny.mp4" in result.output, result.output
    assert (project / "build" / "tiny.mp4").is_file()
