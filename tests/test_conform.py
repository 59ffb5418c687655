"""Conform: vendor-shaped clips become identical, joinable pieces; verified by decoding."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from shotmake import assemble, media
from shotmake.conform import DeliveryFormat, Trim, conform, needs_conform, segment, trim_frames
from shotmake.errors import MediaError
from shotmake.providers.base import RenderRequest
from shotmake.providers.local import LocalProvider

FMT = DeliveryFormat(width=320, height=180, fps=24)


def render(tmp_path: Path, name: str, duration: float, variant: str = "default") -> Path:
    dest = tmp_path / f"{name}.mp4"
    LocalProvider(variant=variant).render(RenderRequest(
        node_id=name, key=name, kind="clip", model="", prompt=name, duration=duration,
        width=320, height=180, fps=24), dest)
    return dest


def test_needs_conform_names_every_difference(tmp_path: Path) -> None:
    sora = media.probe(render(tmp_path, "s", 0.5, "sora"))
    assert needs_conform(sora, FMT) == ["size 1280x720 != 320x180", "fps 30 != 24",
                                        "audio rate 44100 != 48000", "audio mono != stereo"]
    silent = media.probe(render(tmp_path, "q", 0.5, "sora-silent"))
    assert "no audio stream (a silent track is added)" in needs_conform(silent, FMT)
    assert needs_conform(media.probe(render(tmp_path, "d", 0.5)), FMT) == []


def test_matching_clip_keeps_its_video_packets(tmp_path: Path) -> None:
    src = render(tmp_path, "d", 1.0)
    dest = tmp_path / "c.mp4"
    result = conform(src, dest, FMT)
    assert result.video_copied and result.reasons == ()
    assert media.packets(dest, "v")[1] == media.packets(src, "v")[1]  # not re-encoded
    assert media.decode_counts(dest) == (24, result.audio_samples) and media.audio_is_joinable(dest)


@pytest.mark.parametrize("variant", ["sora", "sora-silent", "veo"])
def test_vendor_clips_become_joinable_delivery_pieces(tmp_path: Path, variant: str) -> None:
    src = render(tmp_path, variant, 1.2, variant)
    dest = tmp_path / "c.mp4"
    result = conform(src, dest, FMT)
    info = media.probe(dest)
    assert needs_conform(info, FMT) == []
    frames = round(1.2 * 24)
    assert result.frames == frames
    assert media.decode_counts(dest) == (frames, media.aac_span(frames, Fraction(24), 48000))
    assert media.audio_is_joinable(dest)
    assert result.video_copied == (variant == "veo")  # veo matches; only its audio is rewritten


def test_trims_are_frame_accurate(tmp_path: Path) -> None:
    src = render(tmp_path, "t", 2.0)
    dest = tmp_path / "c.mp4"
    result = conform(src, dest, FMT, trim_in=0.25, trim_out=1.5)
    assert (result.frames, result.video_copied) == (30, False)  # frames 6..35
    assert media.decode_counts(dest)[0] == 30
    # The frame counter drawn by the local provider moves with the frames: compare pictures.
    first = media.decode_frame(dest, 0)[2]
    last = media.decode_frame(dest, -1)[2]
    # Re-encoding changes pixels a little; the drawn frame number picks out the source frame.
    assert _nearest(first, src, range(4, 9)) == 6
    assert _nearest(last, src, range(33, 38)) == 35


def _nearest(pixels: bytes, src: Path, candidates: range) -> int:
    def distance(i: int) -> int:
        return sum(abs(x - y) for x, y in zip(pixels, media.decode_frame(src, i)[2]))
    return min(candidates, key=distance)


def test_trim_frames() -> None:
    assert trim_frames(Fraction(24), 0.5, 2.0, 72) == Trim(12, 24)
    assert trim_frames(Fraction(24)) == Trim()
    with pytest.raises(MediaError, match="trims remove all"):
        conform_over_trim()


def conform_over_trim() -> None:
    from shotmake.conform import conform_args

    info = media.MediaInfo(1.0, "mp4", media.VideoStream("h264", 320, 180, Fraction(24), "yuv420p", "High",
                                                          Fraction(1), Fraction(1, 48000)), None)
    conform_args(Path("a"), Path("b"), info, 24, FMT, Trim(12, 12), copy_video=False)


def test_mixed_vendor_clips_concatenate_without_drift(tmp_path: Path) -> None:
    variants = ["default", "sora", "sora-silent", "veo", "default", "sora"]
    pieces, frames = [], []
    for i, variant in enumerate(variants):
        dest = tmp_path / f"c{i}.mp4"
        frames.append(conform(render(tmp_path, f"s{i}", 0.6 + 0.15 * i, variant), dest, FMT).frames)
        pieces.append(dest)
    master = tmp_path / "master.mp4"
    assemble.concat(pieces, master, strict=True)  # strict: no timestamp repairs at any join
    total_frames, samples = media.decode_counts(master)
    assert total_frames == sum(frames)
    spans = [media.aac_span(n, Fraction(24), 48000) for n in frames]
    assert samples == sum(spans)
    # Timeline: each cut adds less than one frame of hold; A/V end together within a frame.
    assert 0 <= samples / 48000 - sum(frames) / 24 < len(frames) / 24
    assert abs(_stream_end(master, "v") - _stream_end(master, "a")) <= Fraction(1, 24)


def _stream_end(path: Path, kind: str) -> Fraction:
    tb, pkts = media.packets(path, kind)
    return max(Fraction(p.pts + p.duration) * tb for p in pkts)


def test_segment_copies_keyframe_ranges(tmp_path: Path) -> None:
    src = tmp_path / "c.mp4"
    conform(render(tmp_path, "k", 1.5), src, FMT)
    assert media.keyframes(src) == [0, 12, 24]
    head, tail = tmp_path / "h.mp4", tmp_path / "t.mp4"
    segment(src, head, 0, 12, FMT)
    segment(src, tail, 12, 36, FMT)
    assert media.decode_counts(head)[0] == 12 and media.decode_counts(tail)[0] == 24
    assert media.decode_frame(head, -1) == media.decode_frame(src, 11)  # copied: bit-identical
    assert media.decode_frame(tail, 0) == media.decode_frame(src, 12)
    joined = tmp_path / "j.mp4"
    assemble.concat([head, tail], joined, strict=True)
    assert media.decode_counts(joined)[0] == 36
