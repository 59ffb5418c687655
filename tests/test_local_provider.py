"""The offline renderer: exact, deterministic, real files; verified by decoding them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from shotmake import media
from shotmake.errors import TerminalError
from shotmake.providers.base import InputFile, RenderRequest
from shotmake.providers.local import LocalProvider, input_file, key_colour


@pytest.fixture(autouse=True)
def fresh_font() -> Iterator[None]:
    media.find_font.cache_clear()
    yield
    media.find_font.cache_clear()


def clip_request(key: str = "k1", **kw: Any) -> RenderRequest:
    base: dict[str, Any] = dict(node_id="clip:s1", key=key, kind="clip", model="local-testcard",
                                prompt="Mei walks through the rain: 50% puddles, 'umbrella' [red]; a\\b",
                                duration=1.0, width=160, height=90, fps=24,
                                labels={"shot": "s1", "characters": ["Mei", "Kenji"]})
    base.update(kw)
    return RenderRequest(**base)


def mean_rgb(pixels: bytes) -> tuple[float, float, float]:
    n = len(pixels) // 3
    return (sum(pixels[0::3]) / n, sum(pixels[1::3]) / n, sum(pixels[2::3]) / n)


@pytest.mark.parametrize(("duration", "fps"), [(1.0, 24), (1.3, 25), (0.7, 30)])
def test_clip_is_exact_h264_aac(tmp_path: Path, duration: float, fps: int) -> None:
    dest = tmp_path / "out.mp4"
    meta = LocalProvider().render(clip_request(duration=duration, fps=fps), dest)
    frames = round(duration * fps)
    info = media.probe(dest)
    assert info.video is not None and info.audio is not None
    assert (info.video.codec, info.video.pix_fmt, info.video.width, info.video.height) == ("h264", "yuv420p", 160, 90)
    assert info.video.fps == fps
    assert (info.audio.codec, info.audio.sample_rate, info.audio.channels) == ("aac", 48000, 2)
    video_frames, samples = media.decode_counts(dest)
    assert video_frames == frames
    # Audio covers the video in whole AAC frames, never more than one frame longer.
    assert samples == media.aac_span(frames, Fraction(fps), 48000)
    assert 0 <= samples - frames * 48000 / fps < media.AAC_FRAME
    assert meta["frames"] == frames and meta["audio_samples"] == samples and meta["model"] == "local-testcard"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_same_key_same_pictures_other_key_other_colour(tmp_path: Path) -> None:
    provider = LocalProvider()
    a, b, c = tmp_path / "a.mp4", tmp_path / "b.mp4", tmp_path / "c.mp4"
    provider.render(clip_request("same"), a)
    provider.render(clip_request("same"), b)
    provider.render(clip_request("other"), c)
    for index in (0, 12, -1):
        assert media.decode_frame(a, index) == media.decode_frame(b, index)
    assert media.decode_frame(a, 0) != media.decode_frame(c, 0)
    assert key_colour("same") != key_colour("other")


def test_without_a_font_the_card_is_plain_colour(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plain, texty = tmp_path / "plain.mp4", tmp_path / "text.mp4"
    LocalProvider().render(clip_request(), texty)
    monkeypatch.setenv("SHOTMAKE_FONT", str(tmp_path / "no-font.ttf"))
    media.find_font.cache_clear()
    LocalProvider().render(clip_request(), plain)
    _, _, pixels = media.decode_frame(plain, 0)
    r, g, b = (int(key_colour("k1")[i:i + 2], 16) for i in (2, 4, 6))
    mean = mean_rgb(pixels)
    assert all(abs(m - want) < 6 for m, want in zip(mean, (r, g, b)))
    # With a font, the (escaped) prompt and shot id are drawn: the picture differs.
    assert media.decode_frame(texty, 0) != media.decode_frame(plain, 0)


def test_first_frame_fills_the_first_second(tmp_path: Path) -> None:
    still = tmp_path / "still.png"
    media.run(["-f", "lavfi", "-i", "color=c=white:s=80x45", "-frames:v", "1", "-c:v", "png",
               "-f", "image2", "-update", "1", str(still)])
    request = clip_request(duration=1.5, first_frame=input_file(still))
    dest = tmp_path / "after.mp4"
    LocalProvider(latency=0).render(request, dest)
    early = mean_rgb(media.decode_frame(dest, 0)[2])
    late = mean_rgb(media.decode_frame(dest, 30)[2])
    assert min(early) > 200  # the white still, scaled to the frame
    assert max(late) < 200   # the key-coloured card after one second


def test_references_are_drawn_as_thumbnails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOTMAKE_FONT", str(tmp_path / "none"))  # isolate the thumbnail
    ref = tmp_path / "ref.png"
    media.run(["-f", "lavfi", "-i", "color=c=white:s=64x64", "-frames:v", "1", "-f", "image2",
               "-update", "1", str(ref)])
    plain, with_ref = tmp_path / "p.mp4", tmp_path / "r.mp4"
    LocalProvider().render(clip_request(), plain)
    ref_file = InputFile(path=ref, digest="d", mime="image/png")
    LocalProvider().render(clip_request(references=(ref_file,)), with_ref)
    w, h, pixels = media.decode_frame(with_ref, 0)
    # bottom-right corner pixel (inside the thumbnail) is white, not the key colour
    corner = (h - 8) * w * 3 + (w - 10) * 3
    assert min(pixels[corner:corner + 3]) > 200
    assert media.decode_frame(plain, 0) != (w, h, pixels)


def test_sheet_is_a_png_of_the_requested_size(tmp_path: Path) -> None:
    request = RenderRequest(node_id="sheet:mei", key="sheetkey", kind="sheet", model="local-sheet",
                            prompt="character turnaround sheet of Mei: a girl in a yellow raincoat",
                            width=320, height=180, labels={"character": "Mei"})
    dest = tmp_path / "sheet.png"
    meta = LocalProvider().render(request, dest)
    assert dest.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    info = media.probe(dest)
    assert info.video is not None and (info.video.width, info.video.height) == (320, 180)
    assert meta == {"model": "local-sheet", "width": 320, "height": 180}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sheet.png"]


def test_latency_and_progress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[float] = []
    start = time.monotonic()
    LocalProvider(latency=0.3).render(clip_request(duration=0.5), tmp_path / "a.mp4", seen.append)
    assert time.monotonic() - start >= 0.3
    assert seen == [0.0, 1.0]
    monkeypatch.setenv("SHOTMAKE_LOCAL_LATENCY", "0.25")
    assert LocalProvider().latency == 0.25


def test_silent_request_keeps_a_joinable_track(tmp_path: Path) -> None:
    dest = tmp_path / "quiet.mp4"
    LocalProvider().render(clip_request(audio=False), dest)
    assert media.decode_counts(dest) == (24, media.aac_span(24, Fraction(24), 48000))


@pytest.mark.parametrize(("variant", "size", "fps", "audio"), [
    ("sora", (1280, 720), 30, (44100, 1)),
    ("sora-silent", (1280, 720), 30, None),
    ("veo", (160, 90), 24, (48000, 2)),
])
def test_variants_mimic_vendor_formats(tmp_path: Path, variant: str, size: tuple[int, int], fps: int,
                                       audio: tuple[int, int] | None) -> None:
    dest = tmp_path / "v.mp4"
    meta = LocalProvider(variant=variant).render(clip_request(duration=0.5, fps=24), dest)
    info = media.probe(dest)
    assert info.video is not None
    assert (info.video.width, info.video.height, info.video.fps) == (*size, fps)
    assert info.video.profile == "High"
    frames = round(0.5 * fps)
    video_frames, samples = media.decode_counts(dest)
    assert video_frames == frames == meta["frames"]
    if audio is None:
        assert info.audio is None and samples == 0
    else:
        assert info.audio is not None and (info.audio.sample_rate, info.audio.channels) == audio
        assert samples == frames * audio[0] // fps  # plain encode: exact length, priming hidden


def test_unknown_variant_is_terminal() -> None:
    with pytest.raises(TerminalError, match="unknown local variant 'runway'"):
        LocalProvider(variant="runway")


def test_ffmpeg_failure_is_a_terminal_provider_error(tmp_path: Path) -> None:
    missing = InputFile(path=tmp_path / "gone.png", digest="d", mime="image/png")
    with pytest.raises(TerminalError, match="gone.png") as info:
        LocalProvider().render(clip_request(first_frame=missing), tmp_path / "x.mp4")
    assert info.value.provider == "local" and info.value.node == "clip:s1"
