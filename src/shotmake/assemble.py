"""Assembly steps that turn rendered clips into an episode: concatenation and continuity frames.

Each function is one cacheable step: inputs are files, the output is one file, nothing else
is written beside it (scratch files live in a private temporary directory). argv is built
with ffmpeg-python and run through ``media.run``.

The concat fast path stream-copies: it is only correct when every piece already has the same
codecs and parameters *and* joinable audio (see ``media.aac_span``); the local provider's
clips and conformed clips do, vendor files do not until conformed.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Sequence

from .errors import MediaError
from .media import ffmpeg_python as ff
from .media import last_frame, run

#: Warnings that mean stream-copied timestamps were broken (and audio will drift).
_TIMESTAMP_WARNINGS = ("Non-monotonic DTS", "non monotonically increasing dts", "Queue input is backward")


def concat_list(pieces: Sequence[Path]) -> str:
    """Return a concat-demuxer list for ``pieces`` (absolute paths, quoted for its syntax).

    In that syntax a path is single-quoted and a quote inside it is written ``'\\''``
    (close, escaped quote, reopen), as in a POSIX shell.
    """
    lines = ["ffconcat version 1.0"]
    for piece in pieces:
        quoted = str(Path(piece).absolute()).replace("'", "'\\''")
        lines.append(f"file '{quoted}'")
    return "\n".join(lines) + "\n"


def concat_args(list_file: Path, dest: Path) -> list[str]:
    """Build the stream-copy concat argv: every stream of the pieces, MP4 with the index up front."""
    stream = ff.input(str(list_file), f="concat", safe=0)
    out = ff.output(stream, str(dest), c="copy", format="mp4", movflags="+faststart",
                    )
    return list(out.get_args())


def concat(pieces: Sequence[Path], dest: Path, *, strict: bool = False) -> None:
    """Join ``pieces`` end to end into ``dest`` without re-encoding.

    ``strict`` raises ``MediaError`` when ffmpeg had to repair timestamps (pieces that were
    not conformed): the file would play, but its audio would drift at every join.
    """
    if not pieces:
        raise MediaError(f"nothing to concatenate into {dest}")
    with tempfile.TemporaryDirectory(prefix="shotmake-concat-") as tmp:
        list_file = Path(tmp) / "pieces.ffconcat"
        list_file.write_text(concat_list(pieces), encoding="utf-8")
        err = run(concat_args(list_file, dest))
    if strict:
        bad = [ln for ln in err.splitlines() if any(w in ln for w in _TIMESTAMP_WARNINGS)]
        if bad:
            raise MediaError(f"concatenating into {dest} broke timestamps ({len(bad)} warnings; "
                             f"conform the pieces first): {bad[0].strip()}")


def png_args(width: int, height: int, dest: Path) -> list[str]:
    """Build the argv that encodes one raw RGB24 frame arriving on stdin as a PNG at ``dest``."""
    stream = ff.input("pipe:0", format="rawvideo", pix_fmt="rgb24", s=f"{width}x{height}")
    out = ff.output(stream, str(dest), vframes=1, vcodec="png", format="image2", update=1)
    return list(out.get_args())


def extract_last_frame(clip: Path, dest_png: Path) -> None:
    """Write the final decoded frame of ``clip`` as a PNG (the ``after:`` continuity image)."""
    width, height, pixels = last_frame(clip)
    run(png_args(width, height, dest_png), stdin=pixels)
