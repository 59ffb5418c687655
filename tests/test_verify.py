"""verify: a download is kept only when it is the media that was asked for."""

from __future__ import annotations

from fractions import Fraction

import pytest

from shotmake.media import AudioStream, MediaInfo, VideoStream
from shotmake.verify import clip_problems, expected_clip_seconds, image_problems

VIDEO = VideoStream("h264", 1280, 720, Fraction(24), "yuv420p", "High", Fraction(1), Fraction(1, 12288))
AUDIO = AudioStream("aac", 48000, 2, "stereo")


@pytest.mark.parametrize("seconds", [8.0, 8.04, 7.5, 8.9])
def test_a_clip_close_to_the_asked_length_passes(seconds: float) -> None:
    assert clip_problems(seconds, True, 8.0) == []


@pytest.mark.parametrize("seconds", [4.0, 6.9, 9.1, 12.0])
def test_a_clip_of_another_length_is_refused_with_both_lengths(seconds: float) -> None:
    (problem,) = clip_problems(seconds, True, 8.0)
    assert f"{seconds:.1f} s" in problem and "8 s was asked" in problem


def test_long_clips_get_a_proportional_slack() -> None:
    assert clip_problems(34.0, True, 37.0) == []  # 10 % of 37 s
    assert clip_problems(32.0, True, 37.0) != []


def test_audio_only_or_still_bodies_are_not_clips() -> None:
    assert "no video stream (wav)" in clip_problems(8.0, False, 8.0, "wav")[0]
    assert "no duration" in clip_problems(None, True, 8.0)[0]


def test_an_extension_is_expected_joined_onto_its_source() -> None:
    assert expected_clip_seconds(7.0, 8.0, 7.0) == 15.0  # Veo returns source + 7 s
    assert expected_clip_seconds(8.0, None, 7.0) == 8.0
    assert expected_clip_seconds(5.0, 8.0, 0.0) == 13.0  # Omni: source + the extension's own duration


def test_an_image_needs_a_picture() -> None:
    assert image_problems(MediaInfo(None, "png_pipe", VIDEO, None)) == []
    assert image_problems(MediaInfo(None, "wav", None, AUDIO)) != []
