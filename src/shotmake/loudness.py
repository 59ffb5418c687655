"""Programme loudness from per-shot measurements: EBU R128 gating blocks, combined without re-reading.

The integrated loudness of a programme (ITU-R BS.1770 / EBU R128) is a gated mean over 400 ms
blocks taken every 100 ms: blocks under -70 LUFS are dropped (absolute gate), then blocks more
than 10 LU under the mean of the rest (relative gate). So a programme's loudness is a function
of its blocks alone, and the blocks of a programme are, but for the three that straddle each
join, the blocks of its pieces. Each conformed shot therefore keeps its block loudnesses (a few
hundred numbers, in its cache metadata); a sequence joins its shots' lists; the master joins
its sequences' lists, computes the integrated loudness, and applies one gain to the audio.
After an edit only the edited shot is measured again. The blocks a join straddles are left
out: across a whole programme that moves the result by hundredths of an LU (a test holds it to
0.5 LU of ffmpeg's full measurement of the finished master).

``integrated`` and ``gain`` are pure; ``measure`` runs ffmpeg's ``ebur128`` filter once over a
file's audio and reads each block's loudness from the frame metadata it prints.

Example::

    blocks = measure(Path("conformed.mp4"))       # Blocks(levels=(-23.1, -23.0, ...), peak=-9.4)
    programme = Blocks.join([blocks, other])
    gain(integrated(programme.levels), programme.peak, target=-16.0, true_peak=-1.5)   # +6.9 dB
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Below this a block is silence for the absolute gate (LUFS).
ABSOLUTE_GATE = -70.0
#: Blocks this far under the absolutely-gated mean are dropped (LU).
RELATIVE_GATE = -10.0
#: What a block of digital silence is recorded as (JSON has no -infinity).
FLOOR = -120.0

_M_RE = re.compile(r"lavfi\.r128\.M=(\S+)")
_PEAK_RE = re.compile(r"True peak:\s*\n\s*Peak:\s*(\S+) dBFS")


@dataclass(frozen=True)
class Blocks:
    """The loudness (LUFS) of each complete 400 ms block of a piece of audio, every 100 ms,
    and its true peak (dBTP)."""

    levels: tuple[float, ...]
    peak: float = FLOOR

    @staticmethod
    def join(parts: Iterable[Blocks]) -> Blocks:
        """The blocks of pieces played one after another (straddling blocks left out)."""
        parts = list(parts)
        return Blocks(tuple(level for p in parts for level in p.levels),
                      max((p.peak for p in parts), default=FLOOR))

    def meta(self) -> dict[str, Any]:
        """For cache metadata: levels to a thousandth of an LU (the gain is set to a hundredth)."""
        return {"levels": [round(level, 3) for level in self.levels], "peak": round(self.peak, 3)}

    @staticmethod
    def from_meta(meta: Mapping[str, Any]) -> Blocks:
        return Blocks(tuple(float(x) for x in meta["levels"]), float(meta["peak"]))


def _energy(level: float) -> float:
    return float(10 ** ((level + 0.691) / 10))


def integrated(levels: Sequence[float]) -> float | None:
    """The gated integrated loudness (LUFS) of a programme's blocks; None when all are silence."""
    loud = [_energy(level) for level in levels if level > ABSOLUTE_GATE]
    if not loud:
        return None
    relative = -0.691 + 10 * math.log10(sum(loud) / len(loud)) + RELATIVE_GATE
    gated = [_energy(level) for level in levels if level > ABSOLUTE_GATE and level > relative]
    return -0.691 + 10 * math.log10(sum(gated) / len(gated))


def gain(measured: float | None, peak: float, target: float, true_peak: float) -> float:
    """The one gain (dB) that brings ``measured`` LUFS to ``target``, lowered if it would push the
    true peak over ``true_peak`` (a linear gain never limits; a quieter master is the honest result).

    Rounded to 0.01 dB so that re-measuring a programme that did not audibly change does not
    re-encode its audio for a different last digit. Silence gets 0.
    """
    if measured is None:
        return 0.0
    wanted = target - measured
    if peak > FLOOR:
        wanted = min(wanted, true_peak - peak)
    return round(wanted, 2)


def parse(stderr: str) -> Blocks:
    """Read the blocks from ``ebur128=metadata=1`` + ``ametadata=print`` output on 100 ms frames.

    The frame k carries the loudness of the 400 ms ending with it; the first three are partial
    (the filter pads with silence) and are not blocks.
    """
    levels = []
    for text in _M_RE.findall(stderr):
        value = float(text)
        levels.append(max(FLOOR, value) if math.isfinite(value) else FLOOR)
    found = _PEAK_RE.search(stderr)
    peak = float(found.group(1)) if found and found.group(1) not in ("-inf", "nan") else FLOOR
    return Blocks(tuple(levels[3:]), max(FLOOR, peak))


def measure_args(path: Path, sample_rate: int) -> list[str]:
    """The argv that prints ``path``'s block loudnesses (100 ms frames through ``ebur128``)."""
    from .media import input_args

    graph = (f"asetnsamples=n={sample_rate // 10}:p=0,ebur128=metadata=1:peak=true:framelog=verbose,"
             "ametadata=mode=print:key=lavfi.r128.M")
    return [*input_args(path), "-map", "0:a:0", "-af", graph, "-f", "null", "-"]


def measure(path: Path, sample_rate: int = 48000) -> Blocks:
    """Measure the audio of ``path`` (decoded once, video untouched); no audio -> no blocks."""
    from .media import probe, run

    info = probe(path)
    if info.audio is None:
        return Blocks(())
    rate = info.audio.sample_rate or sample_rate
    return parse(run(measure_args(path, rate), loglevel="info"))
