"""Timeline math, SRT and ffmetadata text (pure)."""

from __future__ import annotations

from fractions import Fraction as F

from shotmake.timeline import Chapter, Cue, Window, clip_windows, cut_windows, ffmetadata, shot_cues, srt
from shotmake.transitions import BlendPiece, CopyPiece


def test_cut_windows_follow_the_joinable_spans() -> None:
    # 24 frames at 24 fps = 48000 samples -> 47 AAC frames = 48128 samples = 1.002667 s
    w = cut_windows([24, 24], 24, 48000)
    assert w[0] == Window(F(0), F(1))
    assert w[1].start == F(48128, 48000) and w[1].end == F(48128, 48000) + 1


def test_crossfade_windows_overlap_by_the_transition() -> None:
    pieces = [CopyPiece(0, 0, 12), BlendPiece(0, 12, 12, 1, 12, 6, "crossfade"), CopyPiece(1, 12, 24)]
    a, b = clip_windows(pieces, 2, 24, 48000)
    assert a.end - b.start == F(6, 24)
    cues = shot_cues([a, b], ["one", "two"])
    assert cues[0].end == cues[1].start == (a.end + b.start) / 2


def test_srt_format() -> None:
    text = srt([Cue(F(3725, 1), F(37255, 10), "  second\n\n  line two "), Cue(F(1, 3), F(2), "first")])
    assert text == ("1\n00:00:00,333 --> 00:00:02,000\nfirst\n\n"
                    "2\n01:02:05,000 --> 01:02:05,500\nsecond\nline two\n")


def test_ffmetadata_escapes_and_times() -> None:
    text = ffmetadata([Chapter("Act 1; the=start #1", F(0), F(15, 2))], title="Pilot")
    assert text == (";FFMETADATA1\ntitle=Pilot\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=7500\n"
                    "title=Act 1\\; the\\=start \\#1\n")
