"""Finishing steps, verified on real files: mix keeps sync, loudness hits target, chapters, etc."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from shotmake import assemble, deliver, formats, media, renditions, subtitles, timeline
from shotmake.conform import DeliveryFormat
from shotmake.errors import MediaError
from shotmake.providers.base import RenderRequest
from shotmake.providers.local import LocalProvider


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("deliver")
    pieces = []
    for i in range(2):
        dest = tmp / f"c{i}.mp4"
        LocalProvider().render(RenderRequest(node_id=str(i), key=f"d{i}", kind="clip", model="", prompt="x",
                                             duration=1.5, width=320, height=180, fps=24), dest)
        pieces.append(dest)
    out = tmp / "master.mp4"
    assemble.concat(pieces, out, strict=True)
    return out


def test_mix_with_music_and_voice_keeps_sync_and_hits_loudness(master: Path, tmp_path: Path) -> None:
    voice, music = tmp_path / "vo.wav", tmp_path / "bed.m4a"
    media.run(["-f", "lavfi", "-i", "sine=f=1000:d=0.5:r=48000", "-ac", "2", "-f", "wav", str(voice)])
    media.run(["-f", "lavfi", "-i", "sine=f=200:d=1.1:r=44100", "-c:a", "aac", "-f", "mp4", str(music)])
    dest = tmp_path / "mixed.mp4"
    target = deliver.LoudnessTarget(integrated=-18.0)
    measured = deliver.mix_audio(master, dest, music=music, voices=[deliver.VoiceOver(voice, 1.0)], loudness=target)
    assert measured is not None
    assert media.decode_counts(dest) == media.decode_counts(master)  # same frames, same samples
    assert media.packets(dest, "v")[1] == media.packets(master, "v")[1]  # picture copied
    assert deliver.measure_loudness(dest).integrated == pytest.approx(-18.0, abs=1.0)


def test_mix_without_loudness_is_plain_mix(master: Path, tmp_path: Path) -> None:
    dest = tmp_path / "m.mp4"
    assert deliver.mix_audio(master, dest, loudness=None) is None
    assert media.decode_counts(dest) == media.decode_counts(master)


def test_chapters(master: Path, tmp_path: Path) -> None:
    dest = tmp_path / "c.mp4"
    deliver.add_chapters(master, dest, [timeline.Chapter("Cold open", Fraction(0), Fraction(3, 2)),
                                        timeline.Chapter("Act: one", Fraction(3, 2), Fraction(3))], title="Pilot")
    assert media.chapters(dest) == [(0.0, 1.5, "Cold open"), (1.5, 3.0, "Act: one")]
    assert media.decode_counts(dest) == media.decode_counts(master)


def overlay_for(tmp_path: Path, cues: list[timeline.Cue], width: int, height: int) -> deliver.Overlay:
    """Subtitles drawn with the bundled font, laid out for a ``width`` x ``height`` frame."""
    font = subtitles.bundled_font()
    assert font is not None
    fonts = tmp_path / "fonts"
    fonts.mkdir(exist_ok=True)
    if not (fonts / font.name).exists():
        (fonts / font.name).symlink_to(font)
    script = tmp_path / f"it's subs {width}x{height}.ass"
    text = "".join(c.text for c in cues)
    script.write_text(subtitles.ass_script(cues, width, height, subtitles.family(font, text)), encoding="utf-8")
    return deliver.Overlay(script, fonts)


def test_burn_in_changes_only_cue_frames(master: Path, tmp_path: Path) -> None:
    overlay = overlay_for(tmp_path, [timeline.Cue(Fraction(0), Fraction(1, 2), "Hello: 'world', {100%}")], 320, 180)
    dest = tmp_path / "b.mp4"
    deliver.burn_subtitles(master, overlay, dest)
    assert media.decode_counts(dest) == media.decode_counts(master)

    def bottom(path: Path, i: int) -> bytes:
        w, h, px = media.decode_frame(path, i)
        return px[(h * 3 // 4) * w * 3:]

    def diff(a: bytes, b: bytes) -> int:
        return sum(abs(x - y) for x, y in zip(a, b))

    assert diff(bottom(dest, 2), bottom(master, 2)) > 20 * diff(bottom(dest, 30), bottom(master, 30)) + 1000


def test_poster_and_renditions(master: Path, tmp_path: Path) -> None:
    png = tmp_path / "poster.png"
    deliver.poster(master, png, at=1.0)
    assert png.read_bytes()[:4] == b"\x89PNG"
    fmt = DeliveryFormat(width=320, height=180)
    vertical, proxy = tmp_path / "v.mp4", tmp_path / "p.mp4"
    frames = media.decode_counts(master)[0]
    renditions.render_piece(master, vertical, formats.look_for("vertical", (180, 320), fmt), fmt, frames, None)
    renditions.render_piece(master, proxy, formats.look_for("proxy", (160, 90), fmt), fmt, frames, None)
    v, p = media.probe(vertical).video, media.probe(proxy).video
    assert v is not None and (v.width, v.height) == (180, 320)  # the named size, exactly
    assert p is not None and (p.width, p.height) == (160, 90)
    with pytest.raises(MediaError, match="even"):
        formats.look_for("proxy", (161, 90), fmt)
    assert media.decode_counts(vertical)[0] == frames
    # A piece has its source's keyframes, so a blended sequence is cut alike in every rendition.
    assert media.keyframes(vertical) == media.keyframes(proxy) == media.keyframes(master)


def test_a_silent_master_is_delivered_silent_not_failed(tmp_path: Path) -> None:
    """No audio to measure (clips with audio: false, or a master under loudnorm's 0.4 s block)
    used to fail the master after every clip was paid for; silence has no loudness to normalise."""
    clip = tmp_path / "silent.mp4"
    LocalProvider().render(RenderRequest(node_id="s", key="s", kind="clip", model="", prompt="x", duration=1.0,
                                         width=320, height=180, fps=24, audio=False), clip)
    dest = tmp_path / "mixed.mp4"
    assert deliver.mix_audio(clip, dest) is None
    assert media.decode_counts(dest) == media.decode_counts(clip)
