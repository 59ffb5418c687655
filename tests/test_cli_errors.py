"""Every way a command ends: one JSON object with --json, its exit code, and never a traceback.

A bug (an exception shotmake did not expect) is told apart from a failed build: exit 70 and
``"error": {"kind": "internal"}``, the traceback only with ``--debug`` or ``SHOTMAKE_DEBUG=1``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from shotmake import report
from shotmake.cli import cli
from shotmake.errors import EXIT_INTERNAL
from tests.fakes.google_server import FakeGemini

Run = Callable[..., Result]
SPEC = "episodes/tiny.yaml"


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    """Like a user's shell: exceptions are the CLI's to handle (CliRunner would otherwise catch them)."""
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def one_json(result: Result) -> dict[str, Any]:
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, result.stdout
    found: dict[str, Any] = json.loads(lines[0])
    return found


def test_a_budget_refusal_prints_its_json(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "paid.yaml").write_text(
        "episode: paid\ndefaults: {provider: gemini-omni, duration: 8, resolution: 720p}\n"
        "shots:\n  - {id: sea, prompt: A grey sea.}\nsequences:\n  - {id: all, shots: [sea]}\n")
    with FakeGemini(polls_until_done=0) as fake:
        monkeypatch.setenv("GEMINI_API_KEY", fake.api_key)
        monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", fake.url)
        result = invoke("build", "paid.yaml", "--json", "--budget", "0.01")
        assert fake.creates == 0
    assert result.exit_code == 3, result.output  # refused before spending
    error = one_json(result)["error"]
    assert error["kind"] == "budget" and error["exit_code"] == 3 and "over --budget $0.01" in error["message"]


def test_a_frozen_failure_prints_its_json(project: Path) -> None:
    missing = invoke("build", SPEC, "--json", "--frozen")
    assert missing.exit_code == 2 and one_json(missing)["error"]["kind"] == "usage"
    assert invoke("build", SPEC, "--json", "-q").exit_code == 0
    (project / SPEC).write_text((project / SPEC).read_text().replace("A lighthouse at dusk.", "A lighthouse."))
    result = invoke("build", SPEC, "--json", "--frozen")
    assert result.exit_code == 1
    error = one_json(result)["error"]
    assert error["kind"] == "frozen" and "cannot be reproduced" in error["message"]


def test_spec_and_lint_errors_print_their_json(project: Path) -> None:
    (project / SPEC).write_text((project / SPEC).read_text().replace("characters: [kai]", "characters: [kia]"))
    for command in ("plan", "build"):
        result = invoke(command, SPEC, "--json")
        assert result.exit_code == 2
        error = one_json(result)["error"]
        assert error["kind"] == "spec" and error["exit_code"] == 2
        [problem] = error["problems"]
        assert problem == {"file": SPEC, "line": 26, "column": 18, "field": "shots[2].characters[0]",
                           "message": "unknown character 'kia'", "hint": "did you mean 'kai'?"}
    (project / SPEC).write_text((project / SPEC).read_text().replace("characters: [kia]", "characters: [kai]")
                                .replace("provider: local\n", "provider: sora-2\n"))
    result = invoke("plan", SPEC, "--json")
    assert result.exit_code == 2
    error = one_json(result)["error"]
    assert error["kind"] == "lint" and error["findings"] and all(" SM1" in f for f in error["findings"])


def test_a_bad_option_answers_in_json(project: Path) -> None:
    result = CliRunner().invoke(cli, ["build", SPEC, "--json", "--jobs", "zero"])
    assert result.exit_code == 2
    assert one_json(result)["error"]["kind"] == "usage"


def test_success_has_a_null_error(project: Path) -> None:
    assert one_json(invoke("plan", SPEC, "--json"))["error"] is None
    assert one_json(invoke("build", SPEC, "--json", "-q"))["error"] is None


def _plant_a_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make a reporter raise what no code path expects: how a bug would surface."""
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("division by zero")
    monkeypatch.setattr(report, "format_plan", broken)
    monkeypatch.setattr(report, "plan_json", broken)


def test_an_internal_error_is_exit_70_without_a_traceback(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHOTMAKE_DEBUG", raising=False)
    _plant_a_bug(monkeypatch)
    result = invoke("plan", SPEC)
    assert result.exit_code == EXIT_INTERNAL == 70
    assert "Traceback" not in result.output
    assert "internal error: ZeroDivisionError: division by zero" in result.stderr
    assert "--debug" in result.stderr and "SHOTMAKE_DEBUG=1" in result.stderr
    as_json = invoke("plan", SPEC, "--json")
    assert as_json.exit_code == 70
    assert one_json(as_json)["error"] == {"kind": "internal", "exit_code": 70,
                                          "message": "ZeroDivisionError: division by zero"}


@pytest.mark.parametrize(("args", "env"), [(["--debug"], {}), ([], {"SHOTMAKE_DEBUG": "1"})])
def test_debug_shows_the_traceback(project: Path, monkeypatch: pytest.MonkeyPatch, args: list[str],
                                   env: dict[str, str]) -> None:
    _plant_a_bug(monkeypatch)
    result = invoke(*args, "plan", SPEC, env=env)
    assert result.exit_code == 70
    assert "Traceback" in result.stderr and "ZeroDivisionError" in result.stderr


def test_a_bug_inside_a_node_is_exit_70_not_a_failed_build(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from shotmake import assemble

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("pieces")
    monkeypatch.setattr(assemble, "run_assembly", broken)
    result = invoke("build", SPEC, "--json", "-q")
    assert result.exit_code == 70
    error = one_json(result)["error"]
    assert error["kind"] == "internal" and "--debug" in error["message"]
    assert "Traceback" not in result.output


def test_help_lists_the_exit_codes() -> None:
    text = invoke("--help").stdout
    for line in ("0    success", "1    the build failed", "2    bad spec", "70   internal error", "130  interrupted"):
        assert line in text, text


def test_validate_refuses_what_plan_refuses(project: Path) -> None:
    """A spec a provider would reject (a character sheet sent to Sora) used to validate ok, then fail plan."""
    (project / SPEC).write_text((project / SPEC).read_text().replace("provider: local\n", "provider: sora-2\n"))
    validated, planned = invoke("validate", SPEC), invoke("plan", SPEC)
    assert planned.exit_code == 2 and validated.exit_code == 2, validated.output
    assert "SM101 error" in validated.stderr and "ok:" not in validated.stdout
