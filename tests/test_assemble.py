"""Assembly v1: stream-copy concat and exact last-frame extraction, checked by decoding."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from shotmake import assemble, media
from shotmake.errors import MediaError
from shotmake.model import Artifact
from shotmake.providers.base import RenderRequest
from shotmake.providers.local import LocalProvider
from tests.mediafiles import make_clip


def render(tmp_path: Path, name: str, duration: float, *, variant: str = "default", fps: int = 24) -> Path:
    dest = tmp_path / name
    request = RenderRequest(node_id=f"clip:{name}", key=name, kind="clip", model="local-testcard",
                            prompt=name, duration=duration, width=160, height=90, fps=fps)
    LocalProvider(variant=variant).render(request, dest)
    return dest


def test_concat_list_quotes_paths_for_the_demuxer(tmp_path: Path) -> None:
    text = assemble.concat_list([Path("/clips/it's here.mp4"), Path("/clips/b.mp4")])
    assert text.splitlines() == ["ffconcat version 1.0", "file '/clips/it'\\''s here.mp4'", "file '/clips/b.mp4'"]


def test_concat_args_stream_copy_mp4_faststart() -> None:
    argv = assemble.concat_args(Path("/t/list"), Path("/out/x.tmp"))
    assert argv[:8] == ["-f", "concat", "-protocol_whitelist", "file", "-safe", "0", "-i", "file:/t/list"]
    assert argv[-1] == "/out/x.tmp"
    assert {"-c": "copy", "-f": "mp4", "-movflags": "+faststart"}.items() <= dict(zip(argv[8::2], argv[9::2])).items()


def test_concat_of_local_clips_is_exact_and_drift_free(tmp_path: Path) -> None:
    # Awkward lengths: none is a whole number of AAC frames.
    durations = (1.0, 1.25, 0.75, 1.5)
    pieces = [render(tmp_path, f"p{i}.mp4", d) for i, d in enumerate(durations)]
    quirky = tmp_path / "it's a dir"
    quirky.mkdir()
    pieces[1] = pieces[1].rename(quirky / "p 1.mp4")
    dest = tmp_path / "episode.mp4"
    assemble.concat(pieces, dest, strict=True)
    counts = [media.decode_counts(p) for p in pieces]
    frames, samples = media.decode_counts(dest)
    assert frames == sum(f for f, _ in counts) == sum(round(d * 24) for d in durations)
    assert samples == sum(s for _, s in counts)
    # Sync at the end: both streams end together within one AAC frame (< 1 video frame).
    video_end = sum(media.aac_span(f, Fraction(24), 48000) for f, _ in counts)  # each clip's tile
    assert samples == video_end
    in_total = sum(media.probe(p).duration or 0 for p in pieces)
    assert media.probe(dest).duration == pytest.approx(in_total, abs=0.1)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == sorted(
        ["episode.mp4", "p0.mp4", "p2.mp4", "p3.mp4"])


def test_vendor_style_clips_drift_when_stream_copied(tmp_path: Path) -> None:
    """The trap the joinable audio avoids: a plain AAC encode overlaps at every join."""
    pieces = [render(tmp_path, f"v{i}.mp4", 1.0 + i * 0.25, variant="veo") for i in range(3)]
    with pytest.raises(MediaError, match="Non-monotonic DTS"):
        assemble.concat(pieces, tmp_path / "strict.mp4", strict=True)
    dest = tmp_path / "lenient.mp4"
    assemble.concat(pieces, dest)
    _, samples = media.decode_counts(dest)
    expected = sum(media.decode_counts(p)[1] for p in pieces)
    assert samples - expected >= 2 * 1024  # at least a priming frame of extra audio per join


def test_concat_nothing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="nothing to concatenate"):
        assemble.concat([], tmp_path / "x.mp4")


def test_concat_missing_piece_is_media_error(tmp_path: Path) -> None:
    with pytest.raises(MediaError):
        assemble.concat([tmp_path / "missing.mp4"], tmp_path / "x.mp4")


@pytest.mark.parametrize("preset", ["ultrafast", "medium"])  # medium: B-frames, reordered output
def test_extract_last_frame_is_the_final_decoded_frame(tmp_path: Path, preset: str) -> None:
    clip = make_clip(tmp_path / "c.mp4", frames=50, colour="red", last_colour="blue", preset=preset)
    dest = tmp_path / "last.png"
    assemble.extract_last_frame(clip, dest)
    assert dest.read_bytes()[:4] == b"\x89PNG"
    final = media.decode_frame(clip, -1)
    assert media.decode_frame(dest, 0) == final  # lossless PNG of exactly that frame
    _, _, pixels = final
    assert pixels[2] > 200 and pixels[0] < 60  # blue, not the red before it
    assert media.decode_frame(clip, -2)[2][0] > 200


def test_extract_last_frame_when_audio_outlasts_video(tmp_path: Path) -> None:
    # The seek-from-the-end shortcut would land after the last video frame; fall back to a full decode.
    clip = make_clip(tmp_path / "c.mp4", frames=6, colour="red", last_colour="lime", samples=48000 * 5)
    dest = tmp_path / "last.png"
    assemble.extract_last_frame(clip, dest)
    assert media.decode_frame(dest, 0) == media.decode_frame(clip, -1)


def counting_clip(dest: Path, frames: int, fps: int = 12) -> Path:
    """A clip whose frame n has luma 16 + 8n: every frame tells its own index."""
    media.run(["-f", "lavfi", "-i", f"color=c=black:s=64x36:r={fps},format=gray,geq=lum='16+8*N'",
               "-frames:v", str(frames), "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0",
               "-pix_fmt", "yuv420p", "-f", "mp4", str(dest)])
    return dest


def frame_index(pixels: bytes) -> int:
    return round((sum(pixels[0::3]) / (len(pixels) // 3) - 16) / 8)


@pytest.mark.parametrize(("trim_out", "last_seen"), [(1.0, 11), (1.5, 17), (1.04, 11), (None, 23), (5.0, 23)])
def test_continuity_frame_is_the_last_frame_the_viewer_sees(tmp_path: Path, trim_out: float | None,
                                                           last_seen: int) -> None:
    clip = counting_clip(tmp_path / "a.mp4", frames=24)
    assert frame_index(media.decode_frame(clip, 5)[2]) == 5
    dest = tmp_path / "frame.png"
    assemble.extract_last_frame(clip, dest, trim_out)
    assert media.decode_frame(dest, 0) == media.decode_frame(clip, last_seen)
    assert frame_index(media.decode_frame(dest, 0)[2]) == last_seen


def test_the_frame_node_key_follows_the_trim_of_the_shot_it_continues(tmp_path: Path) -> None:
    from shotmake.cache import file_digest
    from shotmake.plan import build_plan
    from shotmake.spec import episode_from_text

    from .conftest import SMALL_EPISODE

    def frame(text: str) -> Any:
        return build_plan(episode_from_text(text, "ep.yaml"), file_digest).node("frame:a")

    plain = frame(SMALL_EPISODE)
    trimmed = frame(SMALL_EPISODE.replace('looks at the sea."', 'looks at the sea."\n    trim: {out: 0.5}'))
    assert "trim_out" not in plain.manifest  # untrimmed shots keep their keys
    assert trimmed.manifest["trim_out"] == 0.5 and trimmed.key != plain.key
    assert trimmed.manifest["clip"] == plain.manifest["clip"]  # the clip itself is not re-rendered


def test_the_planned_frame_node_takes_the_last_frame_inside_the_trim(tmp_path: Path) -> None:
    # The node as planned, built as the executor builds it: its trim must reach the extraction.
    from shotmake.plan import build_plan
    from shotmake.spec import episode_from_text

    from .conftest import SMALL_EPISODE

    text = SMALL_EPISODE.replace("duration: 1\n", "duration: 2\n", 1).replace(
        'looks at the sea."', 'looks at the sea."\n    trim: {out: 0.5}')
    node = build_plan(episode_from_text(text, "ep.yaml"), lambda _p: "0" * 64).node("frame:a")
    clip = counting_clip(tmp_path / "a.mp4", frames=24)
    dest = tmp_path / "frame.png"
    assemble.run_assembly(node, [Artifact("d" * 64, str(clip), clip.stat().st_size)], dest)
    assert frame_index(media.decode_frame(dest, 0)[2]) == 5  # frame round(0.5 * 12) - 1, not the clip's last


def test_master_args_copy_the_picture_and_give_the_sound_one_gain() -> None:
    from shotmake.conform import DeliveryFormat

    fmt = DeliveryFormat()
    argv = assemble.master_args(Path("/t/list"), Path("/t/meta"), Path("/o/m.mp4"), -3.25, 480000, fmt)
    pairs = dict(zip(argv[::2], argv[1::2]))
    assert argv[:8] == ["-f", "concat", "-safe", "0", "-protocol_whitelist", "file", "-i", "file:/t/list"]
    assert pairs["-c:v"] == "copy" and pairs["-c:a"] == "aac" and pairs["-map_chapters"] == "1"
    assert "volume=-3.25dB" in pairs["-af"] and "atrim=end_sample=480000" in pairs["-af"]
    copied = assemble.master_args(Path("/t/list"), Path("/t/meta"), Path("/o/m.mp4"), None, 480000, fmt)
    assert "-af" not in copied and copied[copied.index("-c:a") + 1] == "copy"
