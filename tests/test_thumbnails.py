"""Thumbnails: a first/middle/last strip per clip, cached as an object and made once."""

from __future__ import annotations

from pathlib import Path

from shotmake.cache import Cache
from shotmake.media import probe
from shotmake.providers.base import RenderRequest
from shotmake.providers.local import LocalProvider
from shotmake.thumbnails import HEIGHT, strip_times, thumbnail, thumbnail_key


def test_strip_times_stay_inside_the_clip() -> None:
    assert strip_times(4.0, 24) == (0.0, 1.958, 3.917)
    assert strip_times(0.04, 24) == (0.0, 0.0, 0.0)  # a one-frame clip: the frame three times


def test_the_key_depends_on_the_content_and_the_shape_only() -> None:
    assert thumbnail_key("a" * 64, False) == thumbnail_key("a" * 64, False)
    assert len({thumbnail_key("a" * 64, False), thumbnail_key("b" * 64, False), thumbnail_key("a" * 64, True)}) == 3


def test_a_clip_gets_one_strip_made_once(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    try:
        temp = cache.temp_path(".mp4")
        LocalProvider().render(RenderRequest(node_id="clip:a", key="k", kind="clip", model="", prompt="a beach",
                                             duration=1.0, width=854, height=480, fps=12), temp)
        clip = cache.store("clip-key", temp, {"kind": "clip"})
        made = thumbnail(cache, clip)
        assert made.extracted and made.artifact is not None
        info = probe(Path(made.artifact.path))
        assert info.video is not None and info.video.height == HEIGHT and info.video.width == 3 * 160  # 3 frames
        again = thumbnail(cache, clip)
        assert not again.extracted and again.artifact == made.artifact
    finally:
        cache.close()


def test_a_file_ffmpeg_cannot_read_gets_no_strip_and_no_error(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    try:
        temp = cache.temp_path(".mp4")
        temp.write_bytes(b"not a video")
        broken = cache.store("broken", temp, {"kind": "clip"})
        made = thumbnail(cache, broken)
        assert made.artifact is None and made.problem
        assert not list((tmp_path / "cache" / "tmp").iterdir())  # no partial file left behind
    finally:
        cache.close()
