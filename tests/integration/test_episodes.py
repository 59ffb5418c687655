"""Every shipped episode builds offline with the local provider, and the masters are right.

Checked by decoding the output (frame and sample counts), not by trusting ffmpeg's exit code.
Each episode is built once per module (they are the slowest builds in the suite).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from shotmake.cli import cli
from shotmake.media import chapters, decode_counts, probe
from shotmake.spec import load_episode

REPO = Path(__file__).resolve().parents[2]
EPISODES = sorted(p.name for p in (REPO / "episodes").glob("*.yaml"))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Copy episodes/ into a fresh project and build each episode twice (the second must be a no-op)."""
    root = tmp_path_factory.mktemp("shipped")
    shutil.copytree(REPO / "episodes", root / "episodes")
    (root / "shotmake.toml").write_text("")
    env = {var: None for var in ("OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "FFMPEG",
                                 "SHOTMAKE_CACHE", "SHOTMAKE_OUT")}
    runner = CliRunner(env=env)
    results: dict[str, Any] = {"root": root}
    old = os.getcwd()
    os.chdir(root)
    try:
        for name in EPISODES:
            first = runner.invoke(cli, ["build", f"episodes/{name}", "--json", "-q"], catch_exceptions=False)
            second = runner.invoke(cli, ["build", f"episodes/{name}", "--json", "-q"], catch_exceptions=False)
            results[name] = (first, second)
        yield results
    finally:
        os.chdir(old)


@pytest.mark.parametrize("name", EPISODES)
def test_every_shipped_episode_builds_offline_in_sync(built: dict[str, Any], name: str) -> None:
    first, second = built[name]
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert summary["failed"] == [] and summary["cost_usd"] == 0
    assert json.loads(second.stdout)["rendered"] == []
    master = built["root"] / summary["output"]
    info = probe(master)
    assert info.video is not None and info.audio is not None
    frames, samples = decode_counts(master)
    episode = load_episode(built["root"] / "episodes" / name)
    fps = next(iter(episode.shots.values())).fps
    # A/V in sync at the end: the audio ends within one video frame of the picture, plus at
    # most one AAC frame (21 ms) of joinable slack per cut.
    cuts = sum(len(s.shots) for s in episode.sequences)
    drift = abs(Fraction(samples, info.audio.sample_rate) - Fraction(frames, fps))
    assert drift <= Fraction(1, fps) + Fraction(1024 * cuts, info.audio.sample_rate)


def test_pilot_master_matches_the_shots_and_has_chapters_subtitles_poster(built: dict[str, Any]) -> None:
    root = built["root"]
    episode = load_episode(root / "episodes" / "pilot.yaml")
    expected = sum(s.duration for s in episode.shots.values())
    info = probe(root / "build" / "pilot.mp4")
    assert abs(info.duration - expected) <= 0.1, (info.duration, expected)
    marks = chapters(root / "build" / "pilot.mp4")
    assert [title for _, _, title in marks] == ["Cold open", "Act one"]
    assert marks[0][0] == 0 and abs(marks[-1][1] - info.duration) <= 0.05
    srt = (root / "build" / "pilot.srt").read_text()
    assert srt.startswith("1\n00:00:") and "Mei: There it is again" in srt
    assert (root / "build" / "pilot.poster.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (root / "episodes" / "pilot.lock").exists()


def test_crossfade_episode_timeline(built: dict[str, Any]) -> None:
    """storm.yaml crossfades its second sequence: the master is the timeline, overlaps removed."""
    root = built["root"]
    episode = load_episode(root / "episodes" / "storm.yaml")
    timeline = sum(s.duration - s.trim_in for s in episode.shots.values())
    overlaps = sum(q.transition.seconds * (len(q.shots) - 1) for q in episode.sequences if q.transition.kind != "cut")
    frames, _ = decode_counts(root / "build" / "storm.mp4")
    cuts = sum(len(q.shots) for q in episode.sequences)
    assert abs(frames / 24 - (timeline - overlaps)) <= cuts / 24  # ±1 frame per cut
    meta = json.loads(built["storm.yaml"][0].stdout)
    assert "sequence:rescue" in [e["id"] for e in meta["rendered"]]
