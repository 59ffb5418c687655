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
#: (The other commands' modules: pull/push's remote_cli, which also brought concurrent.futures and
#: logging, ~5 ms; report/review's review_cli. What only writing needs: tempfile and shutil, ~1.5 ms;
#: fractions with decimal, ~1 ms, for the assembler's timescale.)
NOT_NEEDED = ("networkx", "httpx", "jsonschema", "rich", "ffmpeg", "shotmake.media", "shotmake.execute",
              "shotmake.journal",
              "shotmake.providers.local", "shotmake.remote_cli", "shotmake.review_cli", "concurrent", "logging",
              "tempfile", "shutil", "fractions",
              # the adapters' registry and interface: a plan asks only which routes have keys (availability.py)
              "shotmake.providers.base", "shotmake.providers.registry",
              # OpenSSL's libcrypto (~2 ms): small inputs use CPython's own SHA-256
              "hashlib", "_hashlib")

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


def test_help_lists_every_command_with_its_short_help_though_some_load_on_demand() -> None:
    from click.testing import CliRunner

    from shotmake import batch, remote_cli, review_cli
    from shotmake.cli import LAZY_COMMANDS, cli

    result = CliRunner().invoke(cli, ["--help"], terminal_width=100)
    assert result.exit_code == 0
    listed = {line.split()[0]: line for line in result.output.split("Commands:")[1].splitlines()
              if line.startswith("  ") and not line.startswith("   ")}
    modules = {"batch": batch, "remote_cli": remote_cli, "review_cli": review_cli}
    for name, module in LAZY_COMMANDS.items():
        command = getattr(modules[module], name)
        assert command.get_short_help_str(30)[:20] in listed[name], name
    assert {"validate", "lint", "explain", "routes", *LAZY_COMMANDS} <= set(listed)


def test_a_command_of_another_module_runs_and_an_unknown_one_is_a_usage_error(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "shotmake", "pull", "--help"], cwd=tmp_path, capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0 and "Usage: shotmake pull" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "shotmake", "plna", "ep.yaml"], cwd=tmp_path, capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 2 and "No such command 'plna'" in proc.stderr and "Traceback" not in proc.stderr


def test_the_entry_point_skips_teardown_only_when_no_long_work_ran(monkeypatch: pytest.MonkeyPatch) -> None:
    """``shotmake.__main__``: the collector is off for start-up; a command that left it off (no build,
    transfer or server turned it on) and left no thread exits at once with its code."""
    import gc

    import shotmake.__main__ as entry
    import shotmake.cli

    exits: list[int] = []
    monkeypatch.setattr(entry, "_exit_now", exits.append)
    try:
        monkeypatch.setattr(shotmake.cli, "main", lambda argv: 3)
        assert entry.main(["plan", "ep.yaml"]) == 3 and exits == [3] and not gc.isenabled()

        def long_work(argv: list[str] | None) -> int:
            gc.enable()  # as Executor.run does
            return 0

        monkeypatch.setattr(shotmake.cli, "main", long_work)
        assert entry.main(["build", "ep.yaml"]) == 0 and exits == [3]  # the normal teardown
    finally:
        gc.enable()


def test_the_console_command_exits_with_the_commands_code_and_all_its_output(edited: Path) -> None:
    """The fast exit flushes what was printed and keeps the exit code (0 for a plan, 2 for a spec error)."""
    proc = subprocess.run([sys.executable, "-m", "shotmake", "plan", "ep.yaml"], cwd=edited, capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0 and proc.stdout.startswith("tiny: 12 of 12 nodes to build")
    assert len(proc.stdout.splitlines()) == 1 + 12 and proc.stdout.endswith("never built\n")  # every line, flushed
    (edited / "bad.yaml").write_text("name: bad\nshots: [\n")
    proc = subprocess.run([sys.executable, "-m", "shotmake", "validate", "bad.yaml"], cwd=edited,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "bad.yaml:" in proc.stderr and "Traceback" not in proc.stderr
