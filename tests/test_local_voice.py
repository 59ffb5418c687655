"""The offline renderer speaks: each line a tone of its speaker's pitch, drawn on the card for its cue."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

from shotmake import media
from shotmake.providers.base import RenderRequest
from shotmake.providers.local import LocalProvider, key_tone, speaker_tone

LINES = [[0.2, 0.9, "Mei", "Hi there"], [1.1, 1.8, "Kai", "Hello"]]


def request(**labels: Any) -> RenderRequest:
    return RenderRequest(node_id="clip:s1", key="talk", kind="clip", model="local-testcard", prompt="two friends",
                         duration=2.0, width=320, height=180, fps=24, labels={"shot": "s1", **labels})


def samples(path: Path, rate: int = 48000) -> list[int]:
    raw = media.run_bytes(["-i", f"file:{path}", "-map", "0:a", "-ac", "1", "-ar", str(rate), "-f", "s16le",
                           "pipe:1"])
    return list(struct.unpack(f"<{len(raw) // 2}h", raw))


def pitch(pcm: list[int], start: float, end: float, rate: int = 48000) -> float:
    """The dominant frequency in [start, end) by counting zero crossings."""
    part = pcm[int(start * rate):int(end * rate)]
    crossings = sum(1 for a, b in zip(part, part[1:], strict=False) if (a < 0) != (b < 0))
    return crossings / 2 / (end - start)


def yellow(path: Path, frame: int) -> int:
    """Yellow pixels (the dialogue caption) in the bottom third of a frame."""
    w, h, pixels = media.decode_frame(path, frame)
    bottom = pixels[(h * 2 // 3) * w * 3:]
    return sum(1 for i in range(0, len(bottom), 3) if bottom[i] > 180 and bottom[i + 1] > 180 and bottom[i + 2] < 90)


def test_each_line_sounds_at_its_speakers_pitch_during_its_cue(tmp_path: Path) -> None:
    dest = tmp_path / "talk.mp4"
    LocalProvider().render(request(dialogue=LINES), dest)
    pcm = samples(dest)
    assert speaker_tone("Mei") != speaker_tone("Kai")
    assert abs(pitch(pcm, 0.3, 0.8) - speaker_tone("Mei")) < 0.05 * speaker_tone("Mei")
    assert abs(pitch(pcm, 1.2, 1.7) - speaker_tone("Kai")) < 0.05 * speaker_tone("Kai")
    # Between the lines: the key's quiet bed only.
    between = pcm[int(0.95 * 48000):int(1.05 * 48000)]
    during = pcm[int(0.4 * 48000):int(0.5 * 48000)]
    assert max(map(abs, between)) * 4 < max(map(abs, during))
    assert abs(pitch(pcm, 0.93, 1.07) - key_tone("talk")) < 0.1 * key_tone("talk")


def test_each_line_is_drawn_only_during_its_cue(tmp_path: Path) -> None:
    dest, plain = tmp_path / "talk.mp4", tmp_path / "plain.mp4"
    LocalProvider().render(request(dialogue=LINES), dest)
    LocalProvider().render(request(), plain)
    assert yellow(dest, 12) > 10 and yellow(dest, 36) > 10  # 0.5 s (Mei) and 1.5 s (Kai)
    assert yellow(dest, 24) == 0 and yellow(dest, 46) == 0   # 1.0 s and 1.92 s: no line
    assert yellow(plain, 12) == 0
