"""The decision after an edit imports only what it needs (issue 15).

``plan`` and ``build`` run after every edit of a spec: a module they import but do not use
costs each of those runs its import time (networkx ~90 ms, httpx ~60 ms, rich ~30 ms). Each
test runs the command in a fresh interpreter and lists the modules it loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import SMALL_EPISODE

#: Modules the decision (load, lint, plan, stale check) must never load.
#: (ffmpeg-python and media.py: ~20 ms, for the assembler only; the delivery format lives in formats.py.)
NOT_NEEDED = ("networkx", "httpx", "jsonschema", "rich", "ffmpeg", "shotmake.media", "shotmake.execute",
              "shotmake.journal",
              "shotmake.providers.local")

PROBE = """
import json, sys
from shotmake.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
sys.stdout.flush()
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def loaded(project: Path, *args: str) -> set[str]:
    """The modules ``shotmake ARGS`` loaded, run in ``project`` by a fresh interpreter."""
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=project, capture_output=True, text=True,
                          check=False)
    return set(json.loads(proc.stderr.strip().splitlines()[-1]))


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in NOT_NEEDED or m in NOT_NEEDED)


@pytest.fixture()
def edited(tmp_path: Path) -> Path:
    """A project whose episode was planned once, then edited (its snapshot no longer serves)."""
    (tmp_path / "shotmake.toml").write_text("")
    spec = tmp_path / "ep.yaml"
    spec.write_text(SMALL_EPISODE)
    subprocess.run([sys.executable, "-m", "shotmake", "plan", "ep.yaml"], cwd=tmp_path, capture_output=True,
                   check=True)
    spec.write_text(SMALL_EPISODE.replace("A lighthouse at dusk.", "A lighthouse at night."))
    return tmp_path


def test_plan_after_an_edit_imports_no_graph_library_http_client_or_schema_validator(edited: Path) -> None:
    modules = loaded(edited, "plan", "ep.yaml")
    assert "shotmake.plan" in modules and "shotmake.lint" in modules  # the decision did run
    assert heavy(modules) == []


def test_plan_with_shot_links_still_imports_no_graph_library(edited: Path) -> None:
    """``after:`` edges are checked for loops by spec.find_cycle, not networkx."""
    spec = edited / "ep.yaml"
    assert "after:" in spec.read_text()
    assert "networkx" not in loaded(edited, "plan", "ep.yaml")


def test_plan_json_and_dry_run_import_no_executor(edited: Path) -> None:
    for args in (("plan", "--json", "ep.yaml"), ("build", "-n", "ep.yaml")):
        assert heavy(loaded(edited, *args)) == [], args


def test_a_build_whose_stderr_is_not_a_terminal_never_imports_the_terminal_library(edited: Path) -> None:
    """rich (~40 ms) is for the live panel only; a piped build prints the plain lines."""
    modules = loaded(edited, "build", "ep.yaml")
    assert "shotmake.execute" in modules  # it did build
    assert "rich" not in modules
