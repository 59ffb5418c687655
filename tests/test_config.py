"""shotmake.toml: every key parsed, every mistake named by file:line with a fix, exit 2 in the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from shotmake.config import Config, Limits, RouteSettings, load_config, parse_config
from shotmake.errors import SpecError

Run = Callable[..., Result]

FULL = """\
# every key, as the README documents them
[prices]
"veo-3.1" = { "720p" = 0.35, "*" = 0.5 }
sora-2 = 0.2

[limits."veo-3.1"]
concurrency = 2
requests_per_minute = 10

[retry]
max_attempts = 4
budget = 7
base = 0.5
cap = 30

[circuit]
failures = 3
cooldown = 60

[remote]
poll_interval = 5
deadline_minutes = 30
stall_minutes = 4.5

[routes."veo-3.1"]
fallback = ["veo-3.1-fast", "local"]
backend = "vertex"
"""


def test_every_key_is_read() -> None:
    config = parse_config(FULL, "shotmake.toml")
    assert dict(config.prices["veo-3.1"]) == {"720p": 0.35, "*": 0.5}
    assert dict(config.prices["sora-2"]) == {"*": 0.2}  # a bare number prices every resolution
    assert config.limits["veo-3.1"] == Limits(concurrency=2, requests_per_minute=10.0)
    assert (config.retry.max_attempts, config.retry.budget, config.retry.base, config.retry.cap) == (4, 7, 0.5, 30.0)
    assert (config.circuit.failures, config.circuit.cooldown) == (3, 60.0)
    assert (config.remote.poll_interval, config.remote.deadline_minutes, config.remote.stall_minutes) == (5, 30, 4.5)
    assert config.routes["veo-3.1"] == RouteSettings(fallback=("veo-3.1-fast", "local"), backend="vertex")
    assert config.fallbacks() == {"veo-3.1": ("veo-3.1-fast", "local")}
    assert config.concurrency() == {"veo-3.1": 2} and config.requests_per_minute() == {"veo-3.1": 10.0}
    assert config.backends() == {"veo-3.1": "vertex"}


def test_no_file_means_defaults(tmp_path: Path) -> None:
    assert load_config(tmp_path) == Config()
    (tmp_path / "shotmake.toml").write_text("[retry]\nbudget = 0\n")
    loaded = load_config(tmp_path)
    assert loaded.retry.budget == 0 and loaded.path == str(tmp_path / "shotmake.toml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[retry]\nbudget = 3\nmax_atempts = 2\n",
         "shotmake.toml:3:1: retry.max_atempts: unknown key 'max_atempts' (did you mean 'max_attempts'?)"),
        ("[limits.\"veo-3.1\"]\nconcurrency = 0\n",
         'shotmake.toml:2:1: limits."veo-3.1".concurrency: must be >= 1, not 0'),
        ("[prices]\n\"veo-3.1\" = { \"720p\" = 0.3, \"8k\" = 1 }\n",
         "shotmake.toml:2:1: prices.\"veo-3.1\".8k: veo-3.1 has no resolution '8k' (use one of 720p, 1080p, 4k, *)"),
        ("[prices]\nveo3 = 1\n",
         "shotmake.toml:2:1: prices.veo3: unknown route 'veo3' (did you mean 'veo-3.1'?)"),
        ("[routes.veo-3.1]\nfallback = [\"local\"]\n",
         "shotmake.toml:1:1: routes.veo-3: unknown route 'veo-3' (a route name with a dot needs quotes: \"veo-3.1\")"),
        ("[routes.\"sora-2\"]\nfallback = [\"gpt-image-1\"]\n",
         ("shotmake.toml:2:1: routes.sora-2.fallback: gpt-image-1 renders images but sora-2 renders videos "
          "(pick video routes)")),
        ("[routes.\"sora-2\"]\nbackend = \"vertex\"\n",
         "shotmake.toml:2:1: routes.sora-2.backend: sora-2 has one backend; `backend` applies to the Gemini-API Veo routes"),
        ("[remote]\npoll_interval = \"10s\"\n",
         "shotmake.toml:2:1: remote.poll_interval: must be a number, not a string"),
        ("[remote]\n\npoll_interval = 0\n",
         "shotmake.toml:3:1: remote.poll_interval: must be > 0, not 0"),
        ("[retry]\nbudget = 1.5\n", "shotmake.toml:2:1: retry.budget: must be an integer, not a number"),
        ("[retries]\n", "shotmake.toml:1:1: retries: unknown key 'retries' (did you mean 'retry'?)"),
        ("[retry]\nbudget = \n", ("shotmake.toml:2:10: not valid TOML: Invalid value (see the Configuration "
                                  "section of the README)")),
    ],
)
def test_mistakes_name_file_line_key_and_fix(text: str, expected: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_config(text, "shotmake.toml")
    assert info.value.render() == expected
    assert info.value.exit_code == 2


def test_a_bad_config_stops_plan_and_build_with_exit_2(project: Path, run: Run) -> None:
    (project / "shotmake.toml").write_text("[remote]\nno_such_key = 1\n")
    for args in (["plan", "episodes/tiny.yaml"], ["build", "-n", "episodes/tiny.yaml"],
                 ["build", "episodes/tiny.yaml"]):
        result = run(*args)
        assert result.exit_code == 2, result.output
        assert "shotmake.toml:2:1: remote.no_such_key: unknown key 'no_such_key'" in result.stderr
    assert not (project / "build").exists()


def test_the_config_next_to_the_project_root_is_read(project: Path, run: Run) -> None:
    (project / "shotmake.toml").write_text('[prices]\nlocal = 0.01\n')  # price the free test card
    planned = json.loads(run("plan", "episodes/tiny.yaml", "--json").stdout)
    costs = {e["id"]: e["cost_usd"] for e in planned["rendered"]}
    assert costs["clip:b"] == 0.02 and costs["clip:a"] == 0.01  # 2 s and 1 s at $0.01/s
