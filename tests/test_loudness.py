"""Programme loudness from per-piece gating blocks: the gates, the gain, and real files against ffmpeg."""

from __future__ import annotations

from pathlib import Path

import pytest

from shotmake import deliver, loudness, media
from shotmake.assemble import concat


def test_the_absolute_gate_drops_silence() -> None:
    assert loudness.integrated([-20.0] * 10 + [-80.0] * 30) == pytest.approx(-20.0)
    assert loudness.integrated([-90.0] * 5) is None
    assert loudness.integrated([]) is None


def test_the_relative_gate_drops_blocks_ten_lu_under_the_mean() -> None:
    # Mean of the loud blocks with the quiet ones is about -22.6 LUFS: -35 falls under its -32.6 gate.
    assert loudness.integrated([-20.0] * 10 + [-35.0] * 10) == pytest.approx(-20.0)
    # -25 is above that gate: it counts, and pulls the result down.
    assert loudness.integrated([-20.0] * 10 + [-25.0] * 10) < -21.0


def test_one_gain_to_the_target_lowered_to_keep_the_true_peak() -> None:
    assert loudness.gain(-23.456, -10.0, target=-16.0, true_peak=-1.5) == 7.46
    assert loudness.gain(-30.0, -3.0, target=-16.0, true_peak=-1.5) == 1.5  # +14 dB would clip
    assert loudness.gain(None, loudness.FLOOR, target=-16.0, true_peak=-1.5) == 0.0


def test_parse_skips_the_three_partial_windows() -> None:
    text = "\n".join(f"[Parsed_ametadata_2 @ 0x1] lavfi.r128.M={m}" for m in (-120.7, -40.1, -30.2, -23.4, -23.5, "-inf"))
    text += "\n  True peak:\n    Peak:      -9.3 dBFS\n"
    assert loudness.parse(text) == loudness.Blocks((-23.4, -23.5, loudness.FLOOR), -9.3)
    assert loudness.Blocks.from_meta(loudness.parse(text).meta()) == loudness.parse(text)


def tone(dest: Path, freq: int, volume_db: float, seconds: float) -> Path:
    """A joinable clip (as conform makes them): black video, a sine at ``volume_db``."""
    media.run(["-f", "lavfi", "-i", f"color=c=black:s=64x36:r=24:d={seconds}",
               "-f", "lavfi", "-i", f"sine=f={freq}:r=48000:d={seconds}",
               "-af", f"volume={volume_db}dB,aformat=channel_layouts=stereo", "-c:v", "libx264",
               "-preset", "ultrafast", "-c:a", "aac", "-shortest", "-f", "mp4", str(dest)])
    return dest


def test_joined_blocks_match_a_full_measurement_of_the_joined_programme(tmp_path: Path) -> None:
    parts = [tone(tmp_path / f"p{i}.mp4", f, v, s)
             for i, (f, v, s) in enumerate([(220, 0.0, 2.0), (1000, -12.0, 1.5), (3000, -4.0, 2.5), (440, -30.0, 1.0)])]
    joined = tmp_path / "joined.mp4"
    concat(parts, joined)
    combined = loudness.integrated(loudness.Blocks.join(loudness.measure(p) for p in parts).levels)
    full = deliver.measure_loudness(joined).integrated  # ffmpeg's loudnorm, first pass, over the whole file
    assert combined is not None
    assert combined == pytest.approx(full, abs=0.5)
    assert combined == pytest.approx(loudness.integrated(loudness.measure(joined).levels), abs=0.3)


def test_mix_audio_applies_one_gain_and_copies_the_picture(tmp_path: Path) -> None:
    src = tone(tmp_path / "quiet.mp4", 440, -20.0, 3.0)
    dest = tmp_path / "level.mp4"
    leveled = deliver.mix_audio(src, dest, loudness=deliver.LoudnessTarget(integrated=-16.0))
    assert leveled is not None and leveled.gain_db > 5
    assert deliver.measure_loudness(dest).integrated == pytest.approx(-16.0, abs=0.5)
    assert media.packets(dest, "v")[1] == media.packets(src, "v")[1]  # the video's packets, untouched
