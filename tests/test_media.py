"""media.py: locating ffmpeg, running it, probing and exact decoding, on real generated files."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import pytest

from shotmake import media
from shotmake.errors import MediaError
from tests.mediafiles import make_clip


@pytest.fixture(autouse=True)
def fresh_lookup() -> Iterator[None]:
    """Each test sees the environment it sets, not a binary cached by an earlier test."""
    media.find_ffmpeg.cache_clear()
    media.find_font.cache_clear()
    yield
    media.find_ffmpeg.cache_clear()
    media.find_font.cache_clear()


# --------------------------------------------------------------------------- find_ffmpeg


def test_ffmpeg_env_var_pointing_nowhere_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FFMPEG", str(tmp_path / "no-such-ffmpeg"))
    with pytest.raises(MediaError, match=r"\$FFMPEG is set to .*no-such-ffmpeg.*fix or unset it"):
        media.find_ffmpeg()


def test_ffmpeg_env_var_wins_over_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    chosen = tmp_path / "my-ffmpeg"
    chosen.write_text("#!/bin/sh\nexit 0\n")
    chosen.chmod(chosen.stat().st_mode | stat.S_IEXEC)
    on_path = tmp_path / "bin"
    on_path.mkdir()
    decoy = on_path / "ffmpeg"
    decoy.write_text("#!/bin/sh\nexit 0\n")
    decoy.chmod(decoy.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(on_path))
    monkeypatch.setenv("FFMPEG", str(chosen))
    assert media.find_ffmpeg() == str(chosen)


def test_ffmpeg_on_path_then_imageio_fallback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import imageio_ffmpeg

    monkeypatch.delenv("FFMPEG", raising=False)
    on_path = tmp_path / "bin"
    on_path.mkdir()
    monkeypatch.setenv("PATH", str(on_path))
    assert media.find_ffmpeg() == imageio_ffmpeg.get_ffmpeg_exe()
    fake = on_path / "ffmpeg"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    media.find_ffmpeg.cache_clear()
    assert media.find_ffmpeg() == str(fake)


def test_find_ffmpeg_is_cached(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    first = media.find_ffmpeg()
    monkeypatch.setenv("FFMPEG", str(tmp_path / "elsewhere"))
    assert media.find_ffmpeg() == first


# --------------------------------------------------------------------------- run


def test_run_failure_quotes_ffmpeg_stderr(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="No such file or directory") as info:
        media.run(["-i", str(tmp_path / "missing.mp4"), "-f", "null", "-"])
    assert "exit" in str(info.value)


def test_run_timeout_becomes_media_error() -> None:
    # An endless source: only the timeout can end it.
    with pytest.raises(MediaError, match="timed out after 0.5s"):
        media.run(["-re", "-f", "lavfi", "-i", "color=s=16x16", "-f", "null", "-"], timeout=0.5)


def test_run_non_executable_binary_is_media_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "ffmpeg"
    fake.write_text("not a program")
    fake.chmod(0o755)  # executable bit set but no interpreter line: exec fails with ENOEXEC
    monkeypatch.setenv("FFMPEG", str(fake))
    with pytest.raises(MediaError):
        media.run(["-version"])


def test_run_returns_warnings_only() -> None:
    err = media.run(["-f", "lavfi", "-i", "color=s=16x16:d=0.1", "-f", "null", "-"])
    assert "ffmpeg version" not in err and "frame=" not in err


def test_importing_media_raises_no_warning() -> None:
    # ffmpeg-python drags in the ``future`` package; pytest treats warnings as errors.
    code = "import shotmake.media, shotmake.assemble, shotmake.providers.local"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr


# --------------------------------------------------------------------------- parse_probe (pure)

SAMPLE = """\
Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'clip.mp4':
  Metadata:
    major_brand     : isom
  Duration: 00:01:02.50, start: 0.000000, bitrate: 143 kb/s
  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, bt709, progressive), \
1920x1080 [SAR 4:3 DAR 64:27], 4 kb/s, 29.97 fps, 29.97 tbr, 30k tbn (default)
    Metadata:
      handler_name    : VideoHandler
  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 44100 Hz, 5.1(side), fltp, 127 kb/s (default)
  Stream #0:2[0x3](und): Video: mjpeg (Baseline), yuvj420p(pc), 300x300, 90k tbr, 90k tbn (attached pic)
"""


def test_parse_probe_fields() -> None:
    info = media.parse_probe(SAMPLE)
    assert info.format_name == "mov,mp4,m4a,3gp,3g2,mj2"
    assert info.duration == pytest.approx(62.5)
    assert info.video == media.VideoStream(
        codec="h264", width=1920, height=1080, fps=Fraction(30000, 1001), pix_fmt="yuv420p",
        profile="High", sar=Fraction(4, 3), time_base=Fraction(1, 30000))
    assert info.audio == media.AudioStream(codec="aac", sample_rate=44100, channels=6, layout="5.1(side)")


def test_parse_probe_unnamed_layout_and_missing_streams() -> None:
    text = ("Input #0, wav, from 'x.wav':\n  Duration: N/A, bitrate: N/A\n"
            "  Stream #0:0: Audio: pcm_s16le ([1][0][0][0] / 0x0001), 8000 Hz, 3 channels, s16, 384 kb/s\n")
    info = media.parse_probe(text)
    assert info.duration is None and info.video is None
    assert info.audio == media.AudioStream(codec="pcm_s16le", sample_rate=8000, channels=3, layout="3 channels")


def test_parse_probe_unreadable_file_says_why() -> None:
    text = "[in#0 @ 0x1] moov atom not found\nError opening input: Invalid data found when processing input\n"
    with pytest.raises(MediaError, match="(?s)not a readable media file: x.mp4.*Invalid data"):
        media.parse_probe(text, "x.mp4")


def test_parse_decode_counts() -> None:
    text = ("[in#0/mov @ 0x1]   Input stream #0:0 (video): 48 packets read (1125 bytes); 48 frames decoded; "
            "0 decode errors; \n[in#0/mov @ 0x1]   Input stream #0:1 (audio): 95 packets read (32339 bytes); "
            "94 frames decoded; 0 decode errors (96000 samples); \n")
    assert media.parse_decode_counts(text) == (48, 96000)


# --------------------------------------------------------------------------- real files


def test_probe_real_file(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", frames=30, fps="30000/1001", size="176x144", sample_rate=44100,
                     layout="mono")
    info = media.probe(clip)
    assert info.format_name.startswith("mov,mp4")
    assert info.duration == pytest.approx(30 * 1001 / 30000, abs=0.03)
    assert info.video is not None and info.audio is not None
    assert (info.video.codec, info.video.width, info.video.height) == ("h264", 176, 144)
    assert info.video.fps == Fraction(30000, 1001)
    assert info.video.pix_fmt == "yuv420p" and info.video.sar == 1
    assert info.video.profile  # libx264 always names one
    assert info.audio == media.AudioStream(codec="aac", sample_rate=44100, channels=1, layout="mono")


def test_probe_garbage_is_media_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 10)
    with pytest.raises(MediaError, match="not a readable media file"):
        media.probe(junk)


@pytest.mark.parametrize(("frames", "fps", "rate", "samples"), [(37, "24", 48000, 74000), (31, "25", 44100, 50001)])
def test_decode_counts_are_exact(tmp_path: Path, frames: int, fps: str, rate: int, samples: int) -> None:
    clip = make_clip(tmp_path / "c.mp4", frames=frames, fps=fps, sample_rate=rate, samples=samples)
    assert media.decode_counts(clip) == (frames, samples)


def test_decode_counts_video_only(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "v.mp4", frames=13, layout=None)
    assert media.decode_counts(clip) == (13, 0)


def test_decode_frame_and_last_frame(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", frames=20, colour="red", last_colour="blue", preset="medium")
    w, h, first = media.decode_frame(clip, 0)
    _, _, final = media.decode_frame(clip, -1)
    assert (w, h) == (160, 90) and len(first) == 160 * 90 * 3
    assert first[:3][0] > 200 and final[2] > 200  # red, then blue
    assert media.last_frame(clip) == (w, h, final)
    with pytest.raises(MediaError):
        media.decode_frame(clip, -21)


@pytest.mark.parametrize(("frames", "fps", "rate", "expected"), [
    (37, Fraction(24), 48000, 74752),      # 74000 samples -> 73 AAC frames
    (48, Fraction(24), 48000, 96256),      # 96000 -> 94 frames (93.75 rounded up)
    (64, Fraction(24), 48000, 128000),     # 128000 is already 125 whole frames
    (30, Fraction(30000, 1001), 48000, 48128),
])
def test_aac_span_covers_the_video_in_whole_aac_frames(frames: int, fps: Fraction, rate: int, expected: int) -> None:
    span = media.aac_span(frames, fps, rate)
    assert span == expected
    assert span % media.AAC_FRAME == 0
    assert 0 <= span - Fraction(frames) * rate / fps < media.AAC_FRAME


def test_find_font_env_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SHOTMAKE_FONT", str(tmp_path / "none.ttf"))
    assert media.find_font() is None
    font = tmp_path / "f.ttf"
    font.write_bytes(b"x")
    monkeypatch.setenv("SHOTMAKE_FONT", str(font))
    media.find_font.cache_clear()
    assert media.find_font() == str(font)
