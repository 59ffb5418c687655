"""The nightly recipe in examples/ and docs/nightly.md: every shotmake command in it parses with the real CLI."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
import yaml

from shotmake.cli import cli

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / "examples" / "nightly.yml"
SHELL_WORDS = {"do", "then", "else", "time", "exec"}
CRON = re.compile(r"^\s*(?:#\s*)?((?:[\d*/,-]+\s+){5})(.+)$")


def shotmake_commands(script: str) -> list[list[str]]:
    """The argument lists of each ``shotmake ...`` command in a shell script (redirections dropped)."""
    found = []
    for line in script.replace("\\\n", " ").splitlines():
        for part in re.split(r"&&|\|\||;|\|", line):
            words = shlex.split(part, comments=True)
            while words and words[0] in SHELL_WORDS:  # `for s in ...; do shotmake pull "$s"; done`
                words = words[1:]
            if words and words[0] == "shotmake":
                cut = next((i for i, w in enumerate(words) if w.startswith((">", "2>", "<"))), len(words))
                found.append(words[1:cut])
    return found


def check(args: list[str]) -> None:
    """Parse ``args`` as the real CLI would (options exist, values convert); run nothing."""
    name, rest = args[0], args[1:]
    command = cli.get_command(click.Context(cli), name)  # commands of other modules load on demand
    assert command is not None, f"shotmake {name}: no such command"
    try:
        command.make_context(f"shotmake {name}", list(rest), resilient_parsing=False)
    except click.ClickException as exc:
        pytest.fail(f"shotmake {' '.join(args)}: {exc.format_message()}")


def steps() -> list[dict]:
    data = yaml.safe_load(WORKFLOW.read_text())
    jobs = data["jobs"]
    return [step for job in jobs.values() for step in job["steps"]]


def test_the_workflow_runs_nightly_and_each_shotmake_step_parses() -> None:
    data = yaml.safe_load(WORKFLOW.read_text())
    triggers = data[True] if True in data else data["on"]  # YAML 1.1 reads the key `on` as true
    (schedule,) = triggers["schedule"]
    assert len(schedule["cron"].split()) == 5
    commands = [args for step in steps() if "run" in step for args in shotmake_commands(step["run"])]
    names = [args[0] for args in commands]
    assert names == ["validate", "pull", "build"]
    for args in commands:
        check(args)
    build = next(args for args in commands if args[0] == "build")
    assert "--budget" in build and "--summary" in build and "$GITHUB_STEP_SUMMARY" in build and "--report" in build
    assert any("*.lock" in str(step.get("with", {}).get("path", "")) + step.get("run", "") for step in steps())


def test_check_catches_an_option_that_does_not_exist() -> None:
    with pytest.raises(pytest.fail.Exception, match="No such option"):
        check(["build", "episodes/", "--budjet", "40"])
    with pytest.raises(AssertionError, match="no such command"):
        check(["biuld", "episodes/"])


@pytest.mark.parametrize("source", [WORKFLOW, ROOT / "docs" / "nightly.md"])
def test_the_cron_lines_commands_parse(source: Path) -> None:
    lines = [m.group(2) for line in source.read_text().splitlines() if (m := CRON.match(line))]
    assert lines, f"no cron line in {source}"
    for line in lines:
        commands = shotmake_commands(line)
        assert [args[0] for args in commands] == ["pull", "build"]
        for args in commands:
            check(args)
