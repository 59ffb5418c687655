"""Small real media files for the media/assembly tests, made with ffmpeg through ``media.run``."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from shotmake.media import run


def make_clip(dest: Path, *, frames: int = 24, fps: str = "24", size: str = "160x90", colour: str = "red",
              last_colour: str | None = None, sample_rate: int = 48000, layout: str | None = "stereo",
              samples: int | None = None, preset: str = "ultrafast") -> Path:
    """Write an H.264(/AAC) MP4 with exactly ``frames`` frames and ``samples`` audio samples.

    ``last_colour`` makes the final frame a different colour (for last-frame checks).
    """
    graph = [f"color=c={colour}:s={size}:r={fps},trim=end_frame={frames - (1 if last_colour else 0)}[a0]"]
    if last_colour:
        graph.append(f"color=c={last_colour}:s={size}:r={fps},trim=end_frame=1[a1]")
        graph.append("[a0][a1]concat=n=2:v=1:a=0,format=yuv420p[v]")
    else:
        graph.append("[a0]format=yuv420p[v]")
    argv: list[str] = []
    maps = ["-map", "[v]"]
    if layout is not None:
        count = samples if samples is not None else int(frames * sample_rate / Fraction(fps))
        graph.append(f"sine=f=440:r={sample_rate},atrim=end_sample={count},aformat=channel_layouts={layout}[au]")
        maps += ["-map", "[au]", "-c:a", "aac"]
    argv += ["-filter_complex", ";".join(graph), *maps, "-c:v", "libx264", "-preset", preset,
             "-pix_fmt", "yuv420p", "-f", "mp4", str(dest)]
    run(argv)
    return dest


def changed_box(a: tuple[int, int, bytes], b: tuple[int, int, bytes]) -> tuple[int, int, int, int] | None:
    """The bounding box (x0, y0, x1, y1) of the pixels that differ clearly between two frames."""
    w, h, pa = a
    pb = b[2]
    xs, ys = [], []
    for i in range(0, len(pa), 3):
        if abs(pa[i] - pb[i]) + abs(pa[i + 1] - pb[i + 1]) + abs(pa[i + 2] - pb[i + 2]) > 240:
            xs.append(i // 3 % w)
            ys.append(i // 3 // w)
    return (min(xs), min(ys), max(xs), max(ys)) if xs else None
