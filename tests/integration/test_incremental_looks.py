"""A one-shot edit re-makes that shot's pieces only, and the result is the cold build's, frame for frame.

One tiny episode (480p, 12 fps, four 1 s shots in a cut sequence and a crossfaded one, burned
subtitles, loudness, both renditions) is built cold; one shot's prompt is edited and it is
built again in the same cache; the edited spec is also built cold in a fresh cache. The edited
build's master and renditions are decoded and compared with the cold build's (every video
frame and audio sample), its joins checked for sync, its subtitles found inside every frame.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from shotmake import deliver, media, subtitles
from shotmake.cli import cli

from ..mediafiles import changed_box

EPISODE = """\
version: 1
episode: edit
defaults: {{provider: local, resolution: 480p, duration: 1, fps: 12}}
shots:
  - id: a
    prompt: a lighthouse at dusk
    subtitle: The lamp is lit.
  - id: b
    prompt: a harbour
    subtitle: Boats come home.
  - id: c
    prompt: {prompt}
    subtitle: Gulls call over the water.
  - id: d
    prompt: the open sea
sequences:
  - id: one
    shots: [a, b]
  - id: two
    shots: [c, d]
    transition: {{kind: crossfade, seconds: 0.5}}
delivery:
  loudness: -16
  renditions: [vertical, proxy]
  subtitles: {{burn: {burn}}}
"""
OUTPUTS = ("edit.mp4", "edit.vertical.mp4", "edit.proxy.mp4")

#: Four builds and a decode of every output (~30 s alone on two cores): `make test-slow`.
pytestmark = pytest.mark.slow


def build(root: Path, cache: str, out: str, prompt: str, burn: bool = True) -> dict[str, Any]:
    (root / "episodes" / "edit.yaml").write_text(EPISODE.format(prompt=prompt, burn=str(burn).lower()))
    result = CliRunner().invoke(cli, ["--cache-dir", str(root / cache), "--out-dir", out, "build",
                                      "episodes/edit.yaml", "--json", "-q"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    summary: dict[str, Any] = json.loads(result.stdout)
    assert summary["failed"] == []
    summary["dir"] = root / out
    return summary


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    root = tmp_path_factory.mktemp("looks")
    (root / "episodes").mkdir()
    (root / "shotmake.toml").touch()
    cwd = os.getcwd()
    os.chdir(root)
    try:
        yield {
            "first": build(root, ".cache", "first", "gulls over the pier"),
            "edited": build(root, ".cache", "edited", "gulls over the breakwater"),
            "cold": build(root, ".cold", "cold", "gulls over the breakwater"),
            "plain": build(root, ".cache", "plain", "gulls over the breakwater", burn=False),
        }
    finally:
        os.chdir(cwd)


def decoded(path: Path, stream: str) -> list[str]:
    """The md5 of every decoded frame of the first ``v``ideo or ``a``udio stream, in order."""
    args = [*media.input_args(path), "-map", f"0:{stream}:0"]
    if stream == "v":
        args += ["-fps_mode", "passthrough"]
    else:  # whole samples, not the decoder's frame sizes
        args += ["-c:a", "pcm_s16le", "-af", "asetnsamples=n=4800"]
    text = media.run_bytes([*args, "-f", "framemd5", "pipe:1"]).decode()
    return [f[5].strip() for f in (line.split(",") for line in text.splitlines())
            if len(f) > 5 and not f[0].startswith("#")]


def frame_times(path: Path) -> list[Fraction]:
    """When each video frame is shown, in seconds (from the container, in presentation order)."""
    tb, packets = media.packets(path, "v")
    return sorted(p.pts * tb for p in packets)


def test_a_one_shot_edit_rebuilds_only_that_shots_pieces(builds: dict[str, dict[str, Any]]) -> None:
    first = {n["id"] for n in builds["first"]["rendered"]}
    again = {n["id"] for n in builds["edited"]["rendered"]}
    assert {"piece:a.vertical", "piece:c.proxy", "piece:d.subtitled"} <= first
    assert {i for i in again if i.startswith(("piece:", "conform:", "clip:"))} == {
        "clip:c", "conform:c", "piece:c.subtitled", "piece:c.vertical", "piece:c.proxy"}
    # Of the crossfaded sequence (c, d), only c's span (its frames and its blend into d) is made again.
    assert {i for i in again if i.startswith("span:")} == {
        "span:two/c", "span:two/c.subtitled", "span:two/c.vertical", "span:two/c.proxy"}
    # Only the sequence holding the shot, in each look, is joined again.
    assert {i for i in again if i.startswith("sequence:")} == {
        "sequence:two", "sequence:two.subtitled", "sequence:two.vertical", "sequence:two.proxy"}


@pytest.mark.parametrize("name", OUTPUTS)
def test_the_edited_build_is_the_cold_build_frame_for_frame(builds: dict[str, dict[str, Any]], name: str) -> None:
    edited, cold = builds["edited"]["dir"] / name, builds["cold"]["dir"] / name
    for stream in ("v", "a"):
        assert decoded(edited, stream) == decoded(cold, stream), f"{name}: {stream} differs"


def test_every_rendition_is_in_sync_with_the_master_at_every_join(builds: dict[str, dict[str, Any]]) -> None:
    out = builds["edited"]["dir"]
    master_video = frame_times(out / "edit.mp4")
    master_audio = decoded(out / "edit.mp4", "a")
    assert len(master_video) == 12 * 4 - 6  # four 1 s shots, one 0.5 s crossfade
    for name in OUTPUTS[1:]:
        # The same picture times, the master's own sound: in sync wherever the master is.
        assert frame_times(out / name) == master_video
        assert decoded(out / name, "a") == master_audio
        assert media.chapters(out / name) == media.chapters(out / "edit.mp4") != []
    # The master's joins: each shot's first frame starts where the audio before it ends.
    starts = set(master_video)
    tile = Fraction(media.aac_span(12, Fraction(12), 48000), 48000)  # a 1 s shot's joinable audio
    assert tile in starts and 2 * tile in starts  # shots b and c begin exactly on their audio
    frames, samples = media.decode_counts(out / "edit.mp4")
    assert frames == len(master_video)
    assert abs(Fraction(samples, 48000) - master_video[-1] - Fraction(1, 12)) < Fraction(1024, 48000)


@pytest.mark.parametrize("name", OUTPUTS)
def test_burned_subtitles_stay_inside_every_renditions_frame(builds: dict[str, dict[str, Any]], name: str) -> None:
    burned, plain = builds["edited"]["dir"] / name, builds["plain"]["dir"] / name
    for frame in (6, 18, 26):  # the middle of shots a, b and c
        picture = media.decode_frame(burned, frame)
        box = changed_box(media.decode_frame(plain, frame), picture)
        assert box is not None, f"{name}: no subtitle at frame {frame}"
        width, height = picture[0], picture[1]
        x0, y0, x1, y1 = box
        margin = subtitles.Layout(width, height).margin // 2
        assert margin < x0 and x1 < width - margin and height // 2 < y0 and y1 < height - 1, (name, frame, box)
    # Shot d has no line: nothing is drawn on it.
    assert changed_box(media.decode_frame(plain, 40), media.decode_frame(burned, 40)) is None


def test_the_master_is_at_its_loudness_target_by_a_full_measurement(builds: dict[str, dict[str, Any]]) -> None:
    for which in ("edited", "cold"):
        measured = deliver.measure_loudness(builds[which]["dir"] / "edit.mp4")  # ffmpeg loudnorm's full pass
        assert measured.integrated == pytest.approx(-16.0, abs=0.5)
