"""Batch builds: several episodes (or a folder) in one run, shared nodes built once, one budget, per-episode outputs."""

from __future__ import annotations

import json
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from shotmake.batch import episode_files, share
from shotmake.errors import UsageError
from tests.fakes.google_server import FakeGemini
from tests.fakes.harness import with_legacy_routes_live

Run = Callable[..., Result]
ROOT = Path(__file__).resolve().parent.parent

BIBLE = """\
style: {look: flat colours, negative: text}
defaults: {provider: local, resolution: 480p, duration: 1, fps: 12}
characters:
  mei: {name: Mei, description: a girl in a yellow raincoat, sheet: true}
"""
EPISODE = """\
version: 1
episode: {name}
include: [series/bible.yaml]
shots:
  - id: a
    prompt: "{{mei}} {what}."
sequences:
  - id: all
    shots: [a]
"""
PAID = """\
version: 1
episode: {name}
defaults: {{provider: veo-3.1-fast, resolution: 720p, duration: 4}}
shots:
  - id: sea
    prompt: {prompt}
sequences:
  - id: all
    shots: [sea]
delivery:
  format: {{resolution: 480p, fps: 12}}
"""


def series(root: Path, *names: str) -> Path:
    """A series folder: a bible with Mei's sheet and one short episode per name, each including it."""
    folder = root / "episodes"
    (folder / "series").mkdir(parents=True, exist_ok=True)
    (folder / "tiny.yaml").unlink(missing_ok=True)  # the ``project`` fixture's episode
    (folder / "series" / "bible.yaml").write_text(BIBLE)
    for name in names:
        (folder / f"{name}.yaml").write_text(EPISODE.format(name=name, what=f"looks at the sea in {name}"))
    return folder


def paid(root: Path, config: str = "", **episodes: str) -> None:
    """Episodes of one paid 4 s clip each, at $0.15/s: $0.60 per episode."""
    for name, prompt in episodes.items():
        (root / f"{name}.yaml").write_text(PAID.format(name=name, prompt=prompt))
    (root / "shotmake.toml").write_text(with_legacy_routes_live(
        '[prices]\n"veo-3.1-fast" = { "720p" = 0.15 }\n[remote]\npoll_interval = 0.01\n' + config))


def as_json(result: Result) -> dict:
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    found: dict = json.loads(lines[0])
    return found


def test_a_folder_means_its_episodes_not_its_series_files(tmp_path: Path) -> None:
    folder = series(tmp_path, "ep1", "ep2")
    (folder / ".hidden").mkdir()
    (folder / ".hidden" / "x.yaml").write_text("episode: x\n")
    (folder / "notes.txt").write_text("episode: not yaml\n")
    assert episode_files([folder]) == [folder / "ep1.yaml", folder / "ep2.yaml"]
    assert episode_files([folder / "ep2.yaml", folder]) == [folder / "ep2.yaml", folder / "ep1.yaml"]  # once each
    with pytest.raises(UsageError, match="no episode specs in"):
        episode_files([folder / "series"])


def test_a_series_builds_in_one_run_and_a_shared_sheet_renders_once(project: Path, run: Run) -> None:
    folder = series(project, "ep1", "ep2")
    planned = as_json(run("plan", "episodes", "--json"))
    first, second = planned["episodes"]
    assert [s["id"] for s in second["shared"]] == ["sheet:mei"] and second["shared"][0]["built_by"] == "ep1"
    assert "sheet:mei" in [e["id"] for e in first["rendered"]]
    assert "sheet:mei" not in [e["id"] for e in second["rendered"]]
    assert planned["total"]["rendered"] == len(first["rendered"]) + len(second["rendered"])
    text = run("plan", "episodes").stdout
    assert "1 node(s) shared with ep1: built once, there" in text and text.splitlines()[-1].startswith("total: 2")

    built = run("build", "episodes", "--json", "-q")
    assert built.exit_code == 0, built.output
    data = as_json(built)
    assert [e["episode"] for e in data["episodes"]] == ["ep1", "ep2"] and data["error"] is None
    renders = [e["id"] for ep in data["episodes"] for e in ep["rendered"]]
    assert renders.count("sheet:mei") == 1  # the episodes run at once: one renders it, the other waits for it
    assert [e["id"] for ep in data["episodes"] for e in ep["cached"]].count("sheet:mei") == 1
    assert data["total"] == {"episodes": 2, "built": 2, "rendered": len(renders),
                             "cached": sum(len(ep["cached"]) for ep in data["episodes"]), "failed": 0,
                             "cost_usd": 0.0, "seconds": data["total"]["seconds"]}
    for name in ("ep1", "ep2"):  # outputs and lock files stay per episode
        assert (project / "build" / f"{name}.mp4").stat().st_size > 0
        assert "sheet:mei" in (folder / f"{name}.lock").read_text()
    again = run("build", "episodes/ep1.yaml", "episodes/ep2.yaml")
    assert again.exit_code == 0 and again.stderr.count("nothing to do") == 2, again.stderr
    status = run("status", "episodes").stdout
    assert "ep1: " in status and "ep2: " in status and status.splitlines()[-1].endswith("0 dirty")


def test_a_batch_build_with_report_writes_each_episodes_report(project: Path, run: Run) -> None:
    series(project, "ep1", "ep2")
    built = run("build", "episodes", "--report")
    assert built.exit_code == 0, built.output
    for name in ("ep1", "ep2"):
        page = project / "build" / f"{name}-report" / "index.html"
        assert f"shotmake: wrote {Path('build') / f'{name}-report' / 'index.html'}" in built.stderr \
            or str(page) in built.stderr, built.stderr
        assert f"looks at the sea in {name}" in page.read_text()


@pytest.mark.slow
def test_the_example_series_builds_in_one_run_sharing_its_sheets(tmp_path: Path, run: Run,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(ROOT / "episodes", tmp_path / "episodes")
    (tmp_path / "shotmake.toml").write_text("")
    monkeypatch.chdir(tmp_path)
    built = run("build", "episodes", "--json", "-q")
    assert built.exit_code == 0, built.output
    data = as_json(built)
    assert [e["episode"] for e in data["episodes"]] == ["harbour-talk", "pilot", "storm"]  # by file name
    renders = [e["id"] for ep in data["episodes"] for e in ep["rendered"]]
    assert renders.count("sheet:mei") == 1 and renders.count("sheet:kai") == 1  # the bible's sheets, once
    assert (tmp_path / "build" / "pilot.mp4").exists() and (tmp_path / "build" / "storm.mp4").exists()


def test_share_marks_a_key_built_by_an_earlier_episode() -> None:
    class Node:
        def __init__(self, key: str) -> None:
            self.key = key

    class Stale:
        def __init__(self, key: str) -> None:
            self.node = Node(key)

    class Spec:
        def __init__(self, name: str) -> None:
            self.name = name

    from shotmake.batch import Work

    a = Work(Path("a.yaml"), Spec("a"), None, [], stale={"sheet:mei": Stale("k1"), "clip:x": Stale("k2")})
    b = Work(Path("b.yaml"), Spec("b"), None, [], stale={"sheet:mei": Stale("k1"), "clip:y": Stale("k3")})
    share([a, b])
    assert a.shared == {} and b.shared == {"sheet:mei": "a"} and list(b.own()) == ["clip:y"]


def test_budget_covers_the_whole_batch_and_a_refusal_exits_3(project: Path, run: Run,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    paid(project, one="A grey sea.", two="A calm sea.")
    with FakeGemini(polls_until_done=0) as fake:
        monkeypatch.setenv("GEMINI_API_KEY", fake.api_key)
        monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", fake.url)
        assert as_json(run("plan", "one.yaml", "two.yaml", "--json"))["total"]["cost_usd"] == 1.2
        refused = run("build", "one.yaml", "two.yaml", "--budget", "1.00", "--json", "--summary", "sum.md")
        assert refused.exit_code == 3, refused.output  # each episode fits, the batch does not
        error = as_json(refused)["error"]
        assert error["kind"] == "budget" and error["exit_code"] == 3 and "$1.20" in error["message"]
        assert fake.creates == 0
        assert "**refused before spending** (exit 3)" in (project / "sum.md").read_text()
        built = run("build", "one.yaml", "two.yaml", "--budget", "1.20", "--json", "-q")
        assert built.exit_code == 0, built.output
        assert as_json(built)["total"]["cost_usd"] == 1.2 and fake.creates == 2


def test_the_daily_cap_holds_across_runs_and_cost_shows_it(project: Path, run: Run,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    paid(project, "[budget]\ndaily = 1.0\n", one="A grey sea.", two="A calm sea.")
    with FakeGemini(polls_until_done=0) as fake:
        monkeypatch.setenv("GEMINI_API_KEY", fake.api_key)
        monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", fake.url)
        assert run("build", "one.yaml", "-q").exit_code == 0 and fake.creates == 1
        refused = run("build", "two.yaml", "-q")  # $0.60 spent today + $0.60 > $1.00: refused before submitting
        assert refused.exit_code == 3, refused.output
        assert "over the daily cap $1.00" in refused.stderr and "nothing was submitted" in refused.stderr
        again = run("build", "one.yaml", "two.yaml", "-q")  # a re-run of the nightly: still refused
        assert again.exit_code == 3 and fake.creates == 1
    today = as_json(run("cost", "--json"))["today"]
    assert today["cost_usd"] == 0.6 and today["cap_usd"] == 1.0 and today["left_usd"] == 0.4
    assert "$0.60 spent of the $1.00 daily cap" in run("cost").stdout.splitlines()[-1]
    ledger = json.loads((project / ".shotmake" / "spend.json").read_text())
    assert ledger["format"] == 1 and ledger["days"][today["date"]] == {"usd": 0.6, "renders": 1}


def write_failing_pair(project: Path) -> None:
    """``a-bad`` renders on Veo with a key the server refuses; ``b-good`` renders locally."""
    paid(project, **{"a-bad": "A grey sea."})
    (project / "b-good.yaml").write_text(textwrap.dedent("""\
        version: 1
        episode: b-good
        defaults: {provider: local, resolution: 480p, duration: 1, fps: 12}
        shots:
          - {id: s, prompt: A calm sea.}
          - {id: t, prompt: A calm sky.}
          - {id: u, prompt: A calm shore.}
        sequences:
          - {id: all, shots: [s, t, u]}
        """))


def test_keep_going_builds_the_other_episodes_and_the_exit_status_reflects_all(
        project: Path, run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    write_failing_pair(project)
    with FakeGemini(polls_until_done=0) as fake:
        monkeypatch.setenv("GEMINI_API_KEY", "not-the-key")
        monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", fake.url)
        stopped = run("build", "a-bad.yaml", "b-good.yaml", "-j", "2", "--json", "-q", "--summary", "sum.md")
        assert stopped.exit_code == 1, stopped.output
        bad, good = as_json(stopped)["episodes"]
        assert bad["error"]["exit_code"] == 1 and bad["failed"][0]["id"] == "clip:sea"
        # The episodes run at once: the refusal (milliseconds) stops b-good (many ffmpeg runs) half-way.
        assert good["error"]["message"] == "the build stopped before the episode was assembled"
        assert not (project / "build" / "b-good.mp4").exists()
        summary = (project / "sum.md").read_text()
        assert "**failed (exit 1)**: 0 of 2 episode(s) built" in summary and "| b-good | ❌ failed |" in summary
        assert "- **failed** `clip:sea`:" in summary and "not started: the build stopped" in summary

        kept = run("build", "a-bad.yaml", "b-good.yaml", "-j", "2", "--json", "-q", "-k", "--summary", "kept.md")
        assert kept.exit_code == 1, kept.output  # one episode failed: the run failed
        data = as_json(kept)
        assert data["episodes"][1]["error"] is None and (project / "build" / "b-good.mp4").exists()
        assert data["error"] == {"kind": "build", "exit_code": 1, "message": "1 of 2 episode(s) failed"}
        summary = (project / "kept.md").read_text()
        assert "| b-good | ✅ built |" in summary and "| a-bad | ❌ failed | 0 |" in summary
        assert "\n### b-good\n" in summary
        assert (project / "b-good.lock").exists() and not (project / "a-bad.lock").exists()


def test_a_bad_spec_in_a_batch_stops_it_before_anything_renders(project: Path, run: Run) -> None:
    series(project, "ep1", "ep2")
    (project / "episodes" / "ep2.yaml").write_text("episode: ep2\nshots: []\n")
    result = run("build", "episodes", "--json")
    assert result.exit_code == 2 and as_json(result)["error"]["kind"] == "spec"
    assert not (project / "build").exists()


def test_two_specs_naming_one_episode_are_refused(project: Path, run: Run) -> None:
    folder = series(project, "ep1")
    shutil.copy(folder / "ep1.yaml", folder / "copy.yaml")
    result = run("build", "episodes")
    assert result.exit_code == 2 and "both name episode 'ep1'" in result.stderr


def test_one_spec_from_another_folder_uses_its_own_projects_cache(project: Path, run: Run,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "shotmake.toml").write_text("")
    (project / "elsewhere").mkdir()
    (project / "elsewhere" / "shotmake.toml").write_text("")  # another project's root
    monkeypatch.chdir(project / "elsewhere")
    for command in (["plan"], ["build", "-q"], ["status"]):
        assert run(*command, "../episodes/tiny.yaml").exit_code == 0
    assert (project / ".shotmake").is_dir() and (project / "build" / "tiny.mp4").exists()
    assert not (project / "elsewhere" / ".shotmake").exists()


def test_a_single_build_writes_its_summary(project: Path, run: Run) -> None:
    assert run("build", "episodes/tiny.yaml", "-q", "--summary", "sum.md").exit_code == 0
    summary = (project / "sum.md").read_text()
    assert summary.startswith("## shotmake build\n\n**ok**: 1 of 1 episode(s) built; 4 rendered, 8 assembled, 0 cached")
    assert "| tiny | ✅ built | 4 | 8 | 0 | 0 | $0.00 |" in summary and "- rendered `sheet:mei` on local-image ($0.00): never built" in summary


def test_keep_going_leaves_a_bad_episode_out_and_builds_the_rest(project: Path, run: Run) -> None:
    series(project, "ep1", "ep2")
    (project / "episodes" / "ep1.yaml").write_text("episode: ep1\nshots: []\n")
    result = run("build", "episodes", "--json", "-q", "-k", "--summary", "sum.md")
    assert result.exit_code == 2, result.output  # the bad spec decides the status; the other episode built
    bad, good = as_json(result)["episodes"]
    assert bad["episode"] == "ep1" and bad["error"]["kind"] == "spec" and bad["error"]["problems"]
    assert good["error"] is None and (project / "build" / "ep2.mp4").exists()
    assert "| ep1 | ⛔ refused |" in (project / "sum.md").read_text()
    assert "episodes/ep1.yaml" in result.stderr  # the spec error, where and what
