"""Burned-in subtitles a viewer can read: a covering font, lines wrapped by script, drawn per picture.

The build-level tests build one tiny episode twice (subtitles burned and not; the clips are
cached in between) and compare decoded frames: the difference is exactly the subtitles.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import Result

from shotmake import deliver, media, subtitles, timeline
from shotmake.subtitles import cells, wrap

from .mediafiles import changed_box

Run = Callable[..., Result]

LONG_ZH = "他们约定明天早上八点在旧港口的灯塔下面见面，然后一起出海去寻找那艘失踪已久的渔船。"


# -- wrapping ---------------------------------------------------------------------------------

def test_chinese_wraps_between_characters_by_display_cells() -> None:
    lines = wrap(LONG_ZH, 20)
    assert len(lines) > 1 and "".join(lines) == LONG_ZH
    assert all(cells(line) <= 20 for line in lines)  # 10 Han characters (two cells each) a line
    assert not any(line[0] in "，。" for line in lines)  # no line starts with closing punctuation


def test_spaced_scripts_wrap_at_spaces_and_mixed_text_at_both() -> None:
    assert wrap("the quick brown fox jumps over the lazy dog", 16) == ["the quick brown", "fox jumps over", "the lazy dog"]
    assert wrap("supercalifragilistic", 8) == ["supercalifragilistic"]  # a word is never cut
    mixed = wrap("我用iPhone拍了一张照片", 10)
    assert "".join(mixed) == "我用iPhone拍了一张照片" and all(cells(line) <= 10 for line in mixed)
    assert any("iPhone" in line for line in mixed)  # the Latin word stays whole
    assert cells("你好ab") == 6 and cells("e\u0301") == 1


def test_spec_text_is_literal_in_the_ass_script() -> None:
    cue = timeline.Cue(Fraction(0), Fraction(1), "{\\b1}bold? a\\Nb")
    script = subtitles.ass_script([cue], 640, 360, "Noto Sans CJK SC")
    event = script.splitlines()[-1]
    assert "\\{\\\u2060b1\\}" in event and "a\\\u2060Nb" in event
    assert script.count("Dialogue:") == 1 and "PlayResX: 640" in script


# -- fonts and coverage -----------------------------------------------------------------------

def test_the_bundled_font_covers_chinese_japanese_korean_and_latin() -> None:
    font = subtitles.bundled_font()
    assert font is not None
    assert subtitles.missing(font, [LONG_ZH, "こんにちは", "안녕하세요", "Héllo, wörld — 100%"]) == []
    assert subtitles.missing(font, ["ok 🦜 \U000e0001"]) == ["🦜"]
    assert subtitles.family(font, LONG_ZH) == "Noto Sans CJK SC"
    assert subtitles.family(font, "こんにちは、世界") == "Noto Sans CJK JP"


def dejavu() -> Path:
    found = media.find_font()
    if found is None or "DejaVu" not in found:
        pytest.skip("no DejaVu Sans (a font without CJK glyphs) to compare with")
    return Path(found)


def test_a_font_without_cjk_glyphs_is_caught_by_coverage() -> None:
    assert subtitles.missing(dejavu(), ["你好 world"]) == ["你", "好"]


def burned_bottom(tmp_path: Path, text: str, font: Path, name: str) -> bytes:
    """The bottom third of frame 0 of a grey clip with ``text`` burned in with ``font``."""
    clip = tmp_path / "grey.mp4"
    if not clip.exists():
        media.run(["-f", "lavfi", "-i", "color=c=gray:s=320x180:r=12:d=0.5", "-f", "lavfi", "-i",
                   "anullsrc=r=48000:cl=stereo", "-t", "0.5", "-c:v", "libx264", "-preset", "ultrafast",
                   "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "mp4", str(clip)])
    fonts = tmp_path / f"fonts-{name}"
    fonts.mkdir()
    (fonts / font.name).symlink_to(font)
    script = tmp_path / f"{name}.ass"
    cue = timeline.Cue(Fraction(0), Fraction(1), text)
    script.write_text(subtitles.ass_script([cue], 320, 180, subtitles.family(font, text)), encoding="utf-8")
    dest = tmp_path / f"{name}.mp4"
    deliver.burn_subtitles(clip, deliver.Overlay(script, fonts), dest)
    w, h, px = media.decode_frame(dest, 0)
    return px[(h * 2 // 3) * w * 3:]


def test_chinese_is_drawn_as_glyphs_not_boxes(tmp_path: Path) -> None:
    font = subtitles.bundled_font()
    assert font is not None
    # Boxes look alike whatever the characters; glyphs do not.
    glyphs_a = burned_bottom(tmp_path, "你好世界", font, "noto-a")
    glyphs_b = burned_bottom(tmp_path, "灯塔渔船", font, "noto-b")
    boxes_a = burned_bottom(tmp_path, "你好世界", dejavu(), "dejavu-a")
    boxes_b = burned_bottom(tmp_path, "灯塔渔船", dejavu(), "dejavu-b")

    def diff(a: bytes, b: bytes) -> int:
        return sum(abs(x - y) for x, y in zip(a, b, strict=True))

    assert diff(glyphs_a, glyphs_b) > 10 * max(diff(boxes_a, boxes_b), 1000)
    assert diff(glyphs_a, boxes_a) > 10_000


# -- a whole build: master, vertical rendition and poster -------------------------------------

EPISODE = """\
version: 1
episode: zh
defaults: {{provider: local, resolution: 480p, duration: 1, fps: 12}}
shots:
  - id: a
    prompt: a lighthouse
    subtitle: {subtitle}
sequences:
  - id: one
    shots: [a]
delivery:
  renditions: [vertical, proxy]
  subtitles: {{burn: {burn}}}
"""


def build(project: Path, run: Run, burn: bool, out: str) -> Path:
    (project / "episodes" / "zh.yaml").write_text(EPISODE.format(subtitle=LONG_ZH, burn=str(burn).lower()))
    result = run("--out-dir", out, "build", "episodes/zh.yaml", "--json", "-q")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["failed"] == []
    return project / out


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from click.testing import CliRunner

    from shotmake.cli import cli

    project = tmp_path_factory.mktemp("zh")
    (project / "episodes").mkdir()
    (project / "shotmake.toml").touch()
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(cli, ["--cache-dir", str(project / ".shotmake"), *args], catch_exceptions=False)

    import os

    cwd = os.getcwd()
    os.chdir(project)
    try:
        return build(project, run, False, "plain"), build(project, run, True, "burned")
    finally:
        os.chdir(cwd)


def test_renditions_have_their_named_size_exactly(builds: tuple[Path, Path]) -> None:
    for out in builds:
        sizes = {}
        for name in ("zh.mp4", "zh.vertical.mp4", "zh.proxy.mp4"):
            video = media.probe(out / name).video
            assert video is not None
            sizes[name] = (video.width, video.height)
        # 480p 16:9 master; its vertical rendition is 480p 9:16 (cropped 270x480, scaled up), not 270x480.
        assert sizes == {"zh.mp4": (854, 480), "zh.vertical.mp4": (480, 854), "zh.proxy.mp4": (854, 480)}


def test_the_master_has_the_subtitles_and_the_poster_does_not(builds: tuple[Path, Path]) -> None:
    plain, burned = builds
    box = changed_box(media.decode_frame(plain / "zh.mp4", 6), media.decode_frame(burned / "zh.mp4", 6))
    assert box is not None and box[1] > 480 // 2  # drawn in the lower half
    assert (burned / "zh.poster.png").read_bytes() == (plain / "zh.poster.png").read_bytes()


def test_the_vertical_rendition_lays_the_whole_subtitle_out_for_its_frame(builds: tuple[Path, Path]) -> None:
    plain, burned = builds
    frame = media.decode_frame(burned / "zh.vertical.mp4", 6)
    box = changed_box(media.decode_frame(plain / "zh.vertical.mp4", 6), frame)
    assert box is not None
    x0, y0, x1, y1 = box
    width, height = frame[0], frame[1]
    # Inside the frame with a margin on every side: re-wrapped for 480 px, not cut from 854 px.
    assert 0 < x0 and x1 < width - 1 and y0 > height // 2 and y1 < height - 1
    assert y1 - y0 > 2 * subtitles.Layout(width, height).font_size  # several lines
