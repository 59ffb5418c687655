"""mp4info: the length and track kinds of real MP4s from their boxes, agreeing with ffmpeg's probe."""

from __future__ import annotations

from pathlib import Path

import pytest

from shotmake import media, mp4info
from tests.fakes.openai_server import fake_mp4
from tests.mediafiles import make_clip


@pytest.mark.parametrize("seconds", [4, 8])
def test_faststart_clips_agree_with_ffmpeg(tmp_path: Path, seconds: int) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(fake_mp4(seconds, "320x180"))
    facts = mp4info.read(clip)
    info = media.probe(clip)
    assert facts is not None and facts.video and facts.audio
    assert info.duration is not None and abs(facts.seconds - info.duration) < 0.05


def test_moov_after_mdat_and_silent_clips_are_read_by_skipping_boxes(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "tail.mp4", frames=48, layout=None)  # no +faststart: moov at the end
    raw = clip.read_bytes()
    assert raw.index(b"moov") > raw.index(b"mdat")
    facts = mp4info.read(clip)
    assert facts is not None and facts.video and not facts.audio
    assert abs(facts.seconds - 2.0) < 0.05


def test_bodies_that_are_not_plain_mp4s_return_none(tmp_path: Path) -> None:
    whole = fake_mp4(4, "320x180")
    cases = {
        "zeroed.mp4": whole[:32] + bytes(len(whole) - 32),  # right length, nothing in it
        "truncated.mp4": whole[: len(whole) // 3] if whole.index(b"moov") > len(whole) // 3 else whole[:40],
        "html.mp4": b"<html><body>504 Gateway Timeout</body></html>",
        "empty.mp4": b"",
    }
    for name, body in cases.items():
        (tmp_path / name).write_bytes(body)
        assert mp4info.read(tmp_path / name) is None, name
    assert mp4info.read(tmp_path / "missing.mp4") is None


def test_a_box_that_overruns_its_parent_is_not_trusted(tmp_path: Path) -> None:
    whole = bytearray(fake_mp4(4, "320x180"))
    at = whole.index(b"mvhd") - 4
    whole[at:at + 4] = (10**8).to_bytes(4, "big")  # mvhd claims more than moov holds
    (tmp_path / "bad.mp4").write_bytes(bytes(whole))
    assert mp4info.read(tmp_path / "bad.mp4") is None
