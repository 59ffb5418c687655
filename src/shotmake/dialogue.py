"""Dialogue: spoken lines as prompt text in each route's convention, as timed cues, and as speech time.

A creator writes each line once (``dialogue: [{speaker: mei, line: "...", delivery: whispering}]``)
and shotmake derives three things from it, all pure:

* **prompt text**: each line in the convention of the route's prompting guide (``dialogue.toml``
  beside the route catalog, by language), the words placed verbatim, never rewritten;
* **cues**: where each line sits in the shot's clip, given (``start``/``end``) or spread across the
  clip by length, which become subtitle cues and the offline renderer's tones;
* **speech time**: how long the words take at a given pace, counted in words for scripts that put
  spaces between words and in characters for Chinese, Japanese and Korean (lint SM161).

Example::

    spans = line_spans(shot.dialogue, 6.0)          # [(0.0, 2.4), (2.4, 6.0)]
    convention("seedance", "zh").line.format(...)   # '美（低声）：“走吧。”'
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .formats import AUDIO_EXTENSIONS, VIDEO_EXTENSIONS
from .model import Line

#: A normal speaking pace: what cues are spread by (about 150 words or 240 CJK characters a minute).
NORMAL_WORDS_PER_SECOND = 2.5
NORMAL_CJK_PER_SECOND = 4.0
#: The brisk pace past which lint SM161 says the lines do not fit the shot (180 words / 360 characters
#: a minute: fast news reading), plus a breath between two lines.
MAX_WORDS_PER_SECOND = 3.0
MAX_CJK_PER_SECOND = 6.0
PAUSE_SECONDS = 0.25

#: Voice samples by kind: what a route's ``voice_samples`` lists.
SAMPLE_KINDS: Mapping[str, tuple[str, ...]] = MappingProxyType({"audio": AUDIO_EXTENSIONS, "video": VIDEO_EXTENSIONS})


@dataclass(frozen=True)
class Labels:
    """The words around bible entries, dialogue and style in one language's prompts."""

    characters: str
    voices: str
    dialogue: str
    style: str
    palette: str
    item: str


@dataclass(frozen=True)
class Convention:
    """How one route family writes a spoken line, and ties a speaker to a voice sample."""

    line: str
    line_delivery: str
    voice_audio: str
    voice_video: str


@functools.cache
def _data() -> Mapping[str, Any]:
    import tomllib  # only where a shot speaks or a route's convention is checked

    text = Path(__file__).with_name("providers").joinpath("dialogue.toml").read_text(encoding="utf-8")
    return MappingProxyType(tomllib.loads(text))


def base_language(tag: str) -> str:
    """``zh`` for ``zh-CN``: label tables are kept per language, not per region."""
    return tag.split("-", 1)[0].lower()


def languages() -> tuple[str, ...]:
    """Languages shotmake has prompt labels for."""
    return tuple(_data()["labels"])


def conventions() -> tuple[str, ...]:
    """Names of the dialogue conventions a route may name."""
    return tuple(_data()["conventions"])


@functools.cache
def labels(language: str) -> Labels:
    """The label table of ``language`` (a tag such as ``zh-CN`` uses ``zh``); KeyError when there is none."""
    table = _data()["labels"][base_language(language)]
    return Labels(**table)


@functools.cache
def convention(name: str, language: str) -> Convention:
    """Convention ``name`` in ``language``; an unknown name falls back to ``quoted``."""
    table = _data()["conventions"]
    found = table.get(name, table["quoted"])
    return Convention(**found[base_language(language)])


def render_line(line: Line, speaker: str, conv: Convention) -> str:
    """One spoken line in a convention: the words exactly as written."""
    template = conv.line_delivery if line.delivery.strip() else conv.line
    # format_map over a fixed set of names: braces in the words are data, not placeholders.
    parts = {"speaker": speaker, "delivery": line.delivery.strip(), "line": "\x00"}
    return template.format_map(parts).replace("\x00", line.line.strip())


def sample_kind(path: str) -> str | None:
    """``audio`` or ``video`` for a voice sample file, by its extension; None for anything else."""
    suffix = "." + path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    return next((kind for kind, exts in SAMPLE_KINDS.items() if suffix in exts), None)


# --------------------------------------------------------------------------------------------
# Speech time and cues


def _is_cjk(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in ("W", "F") and unicodedata.category(ch).startswith("L")


def measure(text: str) -> tuple[int, int]:
    """(words of spaced scripts, CJK characters) in ``text``: what its speech time is counted in."""
    cjk = sum(1 for ch in text if _is_cjk(ch))
    spaced = "".join(" " if _is_cjk(ch) else ch for ch in text)
    words = sum(1 for w in spaced.split() if any(c.isalnum() for c in w))
    return words, cjk


def speech_seconds(text: str, words_per_second: float = NORMAL_WORDS_PER_SECOND,
                   cjk_per_second: float = NORMAL_CJK_PER_SECOND) -> float:
    """Seconds ``text`` takes to say at a pace: its words and its CJK characters each at their rate."""
    words, cjk = measure(text)
    return words / words_per_second + cjk / cjk_per_second


def needed_seconds(lines: Sequence[Line]) -> float:
    """The least time the lines take at the brisk pace, with a breath between two lines (lint SM161)."""
    if not lines:
        return 0.0
    spoken = sum(speech_seconds(ln.line, MAX_WORDS_PER_SECOND, MAX_CJK_PER_SECOND) for ln in lines)
    return spoken + PAUSE_SECONDS * (len(lines) - 1)


def line_spans(lines: Sequence[Line], seconds: float) -> list[tuple[float, float]]:
    """Where each line sits in a clip of ``seconds``: as given, else spread by length.

    Untimed lines between two timed ones (or the clip's ends) share that gap in proportion to
    their speech time, in order. Spans are clipped to the clip and never run backwards.
    """
    spans: list[tuple[float, float] | None] = [None] * len(lines)
    for i, ln in enumerate(lines):
        if ln.start is not None or ln.end is not None:
            start = ln.start if ln.start is not None else max(0.0, (ln.end or 0.0) - speech_seconds(ln.line))
            end = ln.end if ln.end is not None else start + speech_seconds(ln.line)
            spans[i] = (min(start, seconds), min(max(end, start), seconds))
    i = 0
    while i < len(lines):
        if spans[i] is not None:
            i += 1
            continue
        j = i
        while j < len(lines) and spans[j] is None:
            j += 1
        begin = spans[i - 1][1] if i > 0 and spans[i - 1] is not None else 0.0  # type: ignore[index]
        finish = spans[j][0] if j < len(lines) and spans[j] is not None else seconds  # type: ignore[index]
        finish = max(finish, begin)
        weights = [max(speech_seconds(ln.line), 0.1) for ln in lines[i:j]]
        total = sum(weights)
        t = begin
        for k, w in zip(range(i, j), weights, strict=True):
            step = (finish - begin) * w / total
            spans[k] = (round(t, 3), round(t + step, 3))
            t += step
        i = j
    return [s for s in spans if s is not None]
