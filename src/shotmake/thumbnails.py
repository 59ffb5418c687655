"""Thumbnails for the report: a first / middle / last frame strip of a clip, a small copy of an image.

They are cached like any render: an object in the cache under a key made of the source's
content digest, the size and a recipe version, so building the report again extracts nothing
whose source is unchanged (``thumbnail`` finds it by its key), and a new take gets its strip
once. They are made with the bundled ffmpeg (``media.py``); a clip ffmpeg cannot read gets no
strip (the report says so) rather than failing the whole report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .errors import MediaError
from .hashing import node_key
from .model import Artifact

#: Bump when a strip or an image thumbnail would look different for the same source.
RECIPE = 1
#: Height in pixels of each frame of a strip, and of an image thumbnail.
HEIGHT = 90
#: Extensions read as stills; anything else is read as a video.
STILLS = (".png", ".jpg", ".jpeg", ".webp")


class Store(Protocol):
    """The two cache calls thumbnails need (``cache.Cache`` has them)."""

    def lookup(self, key: str) -> Artifact | None: ...
    def temp_path(self, extension: str) -> Path: ...
    def store(self, key: str, source: Path, meta: dict[str, object] | None = None) -> Artifact: ...


@dataclass(frozen=True)
class Thumb:
    """A thumbnail made (or found) for a source object: its artifact, or why there is none."""

    artifact: Artifact | None
    extracted: bool = False
    problem: str = ""


def thumbnail_key(source_digest: str, still: bool) -> str:
    """The cache key of a source's thumbnail: content, kind, size and recipe, nothing else."""
    return node_key({"kind": "thumbnail", "recipe": RECIPE, "source": source_digest,
                     "shape": "image" if still else "strip", "height": HEIGHT})


def strip_times(duration: float, fps: float) -> tuple[float, float, float]:
    """Seconds of the first, middle and last frame of a clip ``duration`` s long at ``fps``."""
    frame = 1.0 / fps if fps > 0 else 0.04
    last = max(0.0, duration - 2 * frame)  # a seek at the very end finds no frame to decode
    return 0.0, round(last / 2, 3), round(last, 3)


def strip_args(source: Path, dest: Path, times: tuple[float, float, float], *, height: int = HEIGHT) -> list[str]:
    """ffmpeg argv (without the binary): three frames of ``source`` side by side, as one JPEG."""
    from .media import input_args

    argv: list[str] = []
    for at in times:
        argv += ["-ss", f"{at:g}", *input_args(source)]
    scaled = ";".join(f"[{i}:v]scale=-2:{height},setsar=1[f{i}]" for i in range(3))
    return [*argv, "-filter_complex", f"{scaled};[f0][f1][f2]hstack=inputs=3[v]", "-map", "[v]",
            "-frames:v", "1", "-q:v", "5", "-f", "image2", "-c:v", "mjpeg", str(dest)]


def image_args(source: Path, dest: Path, *, height: int = HEIGHT * 2) -> list[str]:
    """ffmpeg argv: a still scaled to ``height`` px high, as a JPEG."""
    from .media import input_args

    return [*input_args(source), "-vf", f"scale=-2:{height},setsar=1", "-frames:v", "1", "-q:v", "4",
            "-f", "image2", "-c:v", "mjpeg", str(dest)]


def thumbnail(store: Store, source: Artifact) -> Thumb:
    """The cached thumbnail of ``source`` (a clip's strip, an image's small copy); made once, on a miss."""
    still = Path(source.path).suffix.lower() in STILLS
    key = thumbnail_key(source.digest, still)
    found = store.lookup(key)
    if found is not None:
        return Thumb(found)
    from .media import probe, run

    temp = store.temp_path(".jpg")
    try:
        if still:
            run(image_args(Path(source.path), temp), timeout=120)
        else:
            info = probe(Path(source.path))
            if info.video is None:
                return Thumb(None, problem="no video stream")
            run(strip_args(Path(source.path), temp, strip_times(info.duration or 0.0, float(info.video.fps))),
                timeout=120)
        if not temp.exists() or temp.stat().st_size == 0:
            return Thumb(None, problem="ffmpeg wrote no frame")
        artifact = store.store(key, temp, {"kind": "thumbnail", "source": source.digest})
    except MediaError as exc:
        return Thumb(None, problem=exc.message.splitlines()[0])
    finally:
        temp.unlink(missing_ok=True)
    return Thumb(artifact, extracted=True)
