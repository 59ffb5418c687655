"""``shotmake plan SPEC`` and ``build -n SPEC`` run without click (quick.py): the same output, exit code and files as the
command line, and the command line itself whenever anything goes wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shotmake import quick

from .conftest import SMALL_EPISODE

#: A deprecated route: the plan prints a lint warning on stderr before the plan on stdout.
WARNED = SMALL_EPISODE.replace("    prompt: A lighthouse at dusk.\n    duration: 2\n",
                               "    prompt: A lighthouse at dusk.\n    provider: veo-3.1-vertex\n"
                               "    resolution: 720p\n    duration: 4\n")
#: A 2 s shot on a route that renders 4, 6 or 8 s: a lint error (exit 2).
REFUSED = WARNED.replace("    duration: 4\n", "    duration: 2\n")

PROBE = """
import json, sys
from shotmake.quick import run
code = run(sys.argv[1:])
sys.stdout.flush()
print(json.dumps({"code": code, "click": "click" in sys.modules}), file=sys.stderr)
"""


def command_line(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command through click (``cli.main``), never quick.py."""
    return subprocess.run([sys.executable, "-c", "import sys\nfrom shotmake.cli import main\nsys.exit(main())", *args],
                          cwd=project, capture_output=True, text=True, check=False)


def entry(project: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The console command (``python -m shotmake``), which tries quick.py first."""
    return subprocess.run([sys.executable, "-m", "shotmake", *args], cwd=project, capture_output=True, text=True,
                          check=False, env=env)


def probe(project: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, object]]:
    import json

    proc = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=project, capture_output=True, text=True,
                          check=False)
    return proc, json.loads(proc.stderr.strip().splitlines()[-1])


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    (tmp_path / "shotmake.toml").write_text("")
    (tmp_path / "ep.yaml").write_text(WARNED)
    return tmp_path


def test_a_plain_plan_runs_without_click_and_prints_what_the_command_line_prints(folder: Path) -> None:
    proc, seen = probe(folder, "plan", "ep.yaml")
    assert seen == {"code": 0, "click": False}
    assert proc.stdout.startswith("tiny: 12 of 12 nodes to build")
    expected = command_line(folder, "plan", "ep.yaml")
    assert expected.returncode == 0
    assert proc.stdout == expected.stdout
    assert proc.stderr.splitlines()[:-1] == expected.stderr.splitlines()
    assert "SM105 warning" in expected.stderr
    both = entry(folder, "plan", "ep.yaml")
    assert (both.returncode, both.stdout, both.stderr) == (0, expected.stdout, expected.stderr)


@pytest.mark.parametrize("flag", ["-n", "--dry-run"])
def test_a_dry_run_build_runs_without_click_and_prints_the_plan(folder: Path, flag: str) -> None:
    proc, seen = probe(folder, "build", flag, "ep.yaml")
    assert seen == {"code": 0, "click": False}
    expected = command_line(folder, "build", flag, "ep.yaml")
    assert expected.returncode == 0 and expected.stdout.startswith("tiny: 12 of 12 nodes to build")
    assert proc.stdout == expected.stdout == command_line(folder, "plan", "ep.yaml").stdout
    assert proc.stderr.splitlines()[:-1] == expected.stderr.splitlines()
    assert not (folder / "build").exists()  # nothing rendered or assembled


def test_after_a_build_and_an_edit_the_plan_matches_the_command_line(folder: Path) -> None:
    """The snapshot path (one shot re-read) prints the same reasons both ways."""
    (folder / "ep.yaml").write_text(SMALL_EPISODE)
    assert entry(folder, "build", "-q", "ep.yaml").returncode == 0
    (folder / "ep.yaml").write_text(SMALL_EPISODE.replace("A lighthouse at dusk.", "A lighthouse at night."))
    proc, seen = probe(folder, "plan", "ep.yaml")
    assert seen["code"] == 0
    assert "prompt changed" in proc.stdout
    assert proc.stdout == command_line(folder, "plan", "ep.yaml").stdout


def test_an_error_prints_nothing_here_and_the_command_line_reports_it(folder: Path) -> None:
    (folder / "ep.yaml").write_text(REFUSED)
    proc, seen = probe(folder, "plan", "ep.yaml")
    assert seen == {"code": None, "click": False}
    assert proc.stdout == "" and proc.stderr.count("\n") == 1  # only the probe's own line
    expected = command_line(folder, "plan", "ep.yaml")
    assert expected.returncode == 2 and "SM107 error" in expected.stderr
    both = entry(folder, "plan", "ep.yaml")
    assert (both.returncode, both.stdout, both.stderr) == (2, expected.stdout, expected.stderr)


@pytest.mark.parametrize("args", [
    ("plan", "--json", "ep.yaml"),
    ("plan", "ep.yaml", "ep.yaml"),
    ("plan", "."),
    ("plan", "missing.yaml"),
    ("plan", "-h"),
    ("build", "ep.yaml"),
    ("build", "-n", "--json", "ep.yaml"),
    ("build", "-j", "2", "ep.yaml"),
    ("build", "-n", "-n", "ep.yaml"),
    ("--debug", "plan", "ep.yaml"),
])
def test_anything_but_a_plain_plan_of_one_spec_file_is_left_to_the_command_line(
        folder: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]) -> None:
    monkeypatch.chdir(folder)
    assert quick.run(list(args)) is None


def test_a_cache_or_output_folder_from_the_environment_is_left_to_the_command_line(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(folder)
    for name in ("SHOTMAKE_CACHE", "SHOTMAKE_OUT"):
        with monkeypatch.context() as env:
            env.setenv(name, str(folder / "elsewhere"))
            assert quick.plain_plan(["plan", "ep.yaml"]) is None
    assert quick.plain_plan(["plan", "ep.yaml"]) == Path("ep.yaml")
    env = {**os.environ, "SHOTMAKE_CACHE": str(folder / "elsewhere")}
    assert entry(folder, "plan", "ep.yaml", env=env).returncode == 0
    assert (folder / "elsewhere").is_dir() and not (folder / ".shotmake").exists()
