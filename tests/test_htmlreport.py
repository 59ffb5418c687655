"""The HTML report: what it shows after a build, that it opens offline, that it re-extracts nothing."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from shotmake.cache import file_digest
from shotmake.errors import TerminalError
from shotmake.execute import BuildResult
from shotmake.htmlreport import collect, dialogue_lines, story_order
from shotmake.media import find_ffmpeg
from shotmake.model import Line, Shot
from shotmake.plan import build_plan
from shotmake.spec import load_episode

SPEC = "episodes/tiny.yaml"
PAGE = Path("build/tiny-report/index.html")


def links(page: str) -> list[str]:
    return re.findall(r'(?:src|href|data-play)="([^"]*)"', page)


def shot_ids(page: str) -> list[str]:
    return re.findall(r'<article class="shot" id="shot-([^"]+)"', page)


def test_the_report_opens_offline_and_shows_every_shot_in_story_order(
        project: Path, run: Callable[..., Result]) -> None:
    assert run("build", "-q", SPEC).exit_code == 0
    result = run("report", SPEC)
    assert result.exit_code == 0, result.output
    page = PAGE.read_text()
    assert shot_ids(page) == ["a", "b", "c"]
    for link in links(page):  # nothing from the network, nothing outside the report folder
        assert "://" not in link and not link.startswith(("/", "..")), link
        if not link.startswith("#"):
            assert (PAGE.parent / link).is_file(), link
    assert page.count('class="strip"') == 3 and "no picture yet" not in page and "no sheet" in page
    assert page.count('loading="lazy"') >= 3
    assert 'id="master"' in page and "from the cache" in page
    assert "<b>kai</b>" in page and "a boy with a green scarf" in page  # characters, with descriptions
    assert "0:00 one" in page and "0:03 two" in page  # chapters at their start times


def test_writing_the_report_again_extracts_no_thumbnail(project: Path, run: Callable[..., Result],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    assert run("build", "-q", SPEC).exit_code == 0
    assert run("report", SPEC).exit_code == 0
    first = PAGE.read_text()
    media = {p.name: p.stat().st_ino for p in (PAGE.parent / "media").iterdir()}
    monkeypatch.setenv("FFMPEG", "/nonexistent/ffmpeg")  # any extraction would now fail: strips would vanish
    find_ffmpeg.cache_clear()
    try:
        assert run("report", SPEC).exit_code == 0
    finally:
        find_ffmpeg.cache_clear()
    second = PAGE.read_text()
    assert second.count('class="strip"') == first.count('class="strip"') == 3
    assert {p.name: p.stat().st_ino for p in (PAGE.parent / "media").iterdir()} == media  # nothing re-linked


def test_build_report_says_what_the_build_rendered_and_why(project: Path, run: Callable[..., Result]) -> None:
    assert run("build", "-q", SPEC).exit_code == 0
    spec = Path(SPEC)
    spec.write_text(spec.read_text().replace("A lighthouse at dusk.", "A lighthouse at night."))
    result = run("build", "-q", "--report", SPEC)
    assert result.exit_code == 0, result.output
    page = PAGE.read_text()
    shot_b = page.split('id="shot-b"')[1].split("</article>")[0]
    assert "rendered by this build" in shot_b and "prompt changed" in shot_b
    shot_a = page.split('id="shot-a"')[1].split("</article>")[0]
    assert "from the cache" in shot_a and "rendered by this build" not in shot_a
    assert re.search(r"rendered 20\d\d-\d\d-\d\d \d\d:\d\d in \d+\.\d s", shot_a)  # when the cached take was made
    assert "This build" in page
    assert "Everything in the spec is built" in page and "nodes are not built" not in page


def test_failures_are_listed_with_their_reasons(project: Path) -> None:
    episode = load_episode(Path(SPEC))
    plan = build_plan(episode, file_digest)
    failed = plan.node("clip:b")
    result = BuildResult(failed=[(failed, TerminalError("the provider refused the prompt (content policy)",
                                                        node="clip:b", provider="local"))])
    report = collect(plan, {}, lambda key: None, lambda art: None, estimate=lambda node: 0.0, spend_by_route=[],
                     result=result, journal_errors={"clip:c": "rejected on sora-2: moderation"})
    assert [(f.node, f.when) for f in report.failures] == [("clip:b", "this build"), ("clip:c", "an earlier build")]
    assert "content policy" in report.failures[0].reason
    take = next(s for s in report.shots if s.id == "b").takes[0]
    assert take.status == "failed" and "content policy" in take.why[0]


def test_pick_then_plan_lists_exactly_the_nodes_downstream_of_that_shot(
        project: Path, run: Callable[..., Result]) -> None:
    assert run("reroll", SPEC, "a").exit_code == 0
    assert run("build", "-q", SPEC).exit_code == 0
    before = Path(SPEC).read_text()
    result = run("pick", SPEC, "a", "2")
    assert result.exit_code == 0, result.output
    assert "added `pick: 2`" in result.output
    after = Path(SPEC).read_text()
    assert [ln for ln in after.splitlines() if ln not in before.splitlines()] == ["    pick: 2"]
    assert len(after.splitlines()) == len(before.splitlines()) + 1
    planned = json.loads(run("plan", "--json", SPEC).output)
    dirty = {n["id"] for n in planned["rendered"]}
    new_plan = build_plan(load_episode(Path(SPEC)), file_digest)
    assert dirty == new_plan.dependents("clip:a@2") and "clip:a@1" not in dirty and "clip:b" not in dirty


def test_story_order_follows_the_sequences() -> None:
    class Seq:
        def __init__(self, ident: str, shots: tuple[str, ...]) -> None:
            self.id, self.title, self.shots = ident, "", shots

    class Ep:
        sequences = (Seq("s2", ("b", "a")), Seq("s1", ("c",)))
        shots = {"a": 0, "b": 0, "c": 0, "loose": 0}

    assert story_order(Ep()) == [("b", "s2"), ("a", "s2"), ("c", "s1"), ("loose", "")]  # type: ignore[arg-type]


def test_dialogue_is_shown_with_speaker_and_delivery_in_spoken_order() -> None:
    shot = Shot(id="a", prompt="p", provider="local", duration=4, dialogue=(Line("mei", "There!"), Line("kai", "Dot, dot, dash.", "whispering")))
    assert dialogue_lines(shot) == ("mei: There!", "kai (whispering): Dot, dot, dash.")
    assert dialogue_lines(Shot(id="b", prompt="p", provider="local", duration=4)) == ()


def test_refusals_the_journal_remembers_and_lint_warnings_are_shown(
        project: Path, run: Callable[..., Result]) -> None:
    from shotmake.journal import Journal

    spec = Path(SPEC)
    spec.write_text(spec.read_text().replace("sequences:\n", "  - id: loose\n    prompt: An empty beach.\n"
                                             "sequences:\n"))
    plan = build_plan(load_episode(spec), file_digest)
    Path(".shotmake").mkdir()
    journal = Journal(Path(".shotmake") / "journal.sqlite")
    key = plan.node("clip:b").key
    journal.intent(key, "clip:b", "tiny", "sora-2")
    journal.rejected(key, "the prompt was refused by the moderation system")
    journal.close()
    assert run("report", SPEC).exit_code == 0
    page = PAGE.read_text()
    failures = page.split('id="failures"')[1].split("</div>")[0]
    assert "clip:b" in failures and "an earlier build" in failures and "moderation" in failures
    assert shot_ids(page)[-1] == "loose"  # in no sequence: last, and the card says so
    loose = page.split('id="shot-loose"')[1].split("</article>")[0]
    assert "not in any sequence" in loose and "SM203" in loose  # its lint warning, on its card


def test_a_symlink_planted_in_the_report_folder_is_not_written_through(
        project: Path, run: Callable[..., Result]) -> None:
    outside = project / "elsewhere"
    outside.mkdir()
    (project / "build" / "tiny-report").mkdir(parents=True)
    (project / "build" / "tiny-report" / "media").symlink_to(outside)
    assert run("build", "-q", "--report", SPEC).exit_code == 0
    assert list(outside.iterdir()) == []
    assert not (PAGE.parent / "media").is_symlink() and any((PAGE.parent / "media").iterdir())


def test_editing_a_report_file_changes_nothing_in_the_cache(project: Path, run: Callable[..., Result]) -> None:
    # The report is an output like build/<name>.mp4: a copy, never a way to reach the cache's objects.
    assert run("build", "-q", "--report", SPEC).exit_code == 0
    objects = {file_digest(p): p for p in (project / ".shotmake" / "objects").rglob("*") if p.is_file()}
    placed = sorted((PAGE.parent / "media").iterdir())
    assert placed and all(p.stat().st_nlink == 1 for p in placed)
    for path in placed:
        digest = file_digest(path)
        path.chmod(0o644)
        with open(path, "r+b") as handle:
            handle.write(b"\0" * 16)
        if digest in objects:
            assert file_digest(objects[digest]) == digest, f"{path.name} edited the cache object"
