"""Burned-in subtitles: the font that draws them, the characters it lacks, lines wrapped by script.

Drawn by libass (ffmpeg's ``ass`` filter) from an ASS script written here for each picture
size, so a vertical rendition lays its lines out for its own frame instead of cropping the
master's. Three things decide whether a viewer can read them:

* **The font.** Text is drawn with one named font, never whatever fontconfig finds: by default
  Noto Sans CJK (OFL, shipped as the ``noto-cjk-sans-otc`` package), which covers Latin, Greek,
  Cyrillic, Chinese, Japanese and Korean; ``delivery.subtitles.font`` names a project font
  file instead. ``missing`` lists the characters the font has no glyph for (lint SM302): they
  would be drawn as boxes, or in some other font that happens to be installed.
* **Wrapping.** Lines break at spaces in scripts that use them and between any two characters
  in Chinese and Japanese (not before closing punctuation such as ``，`` or ``。``), measured in
  display cells (East Asian Width: a Han character is two cells, a Latin letter one).
* **Escaping.** Spec text is literal: ``{`` and ``\\`` never start ASS override codes.

Example::

    font = bundled_font()                           # the shipped Noto Sans CJK
    missing(font, ["你好 🦜"])                        # ['🦜']: lint SM302
    wrap("他说：我们明天早上八点在港口见面吧。", 20)    # two lines of at most 10 characters
    ass_script(cues, 720, 1280, family(font, text))  # for a 720x1280 frame
"""

from __future__ import annotations

import functools
import os
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from importlib import resources
from pathlib import Path

from .timeline import Cue

#: The package that ships the default font, and the file in it.
BUNDLED_PACKAGE = "noto_cjk_sans_otc"
BUNDLED_FILE = "NotoSansCJK-Regular.ttc"

#: The longest subtitle line in cells: 42 Latin characters or 21 Chinese ones, as broadcasters set it.
MAX_LINE_CELLS = 42
#: Characters no line may start with (closing punctuation, CJK and Latin) and none may end with.
_NO_START = set("，。、；：！？）」』】》〉”’,.;:!?)]}%…・ー〜ぁぃぅぇぉっゃゅょァィゥェォッャュョ")
_NO_END = set("（「『【《〈“‘([{")


def bundled_id() -> str:
    """What a node key records for the bundled font: its package and version pin the file."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"noto-cjk-sans-otc=={version('noto-cjk-sans-otc')}/{BUNDLED_FILE}"
    except PackageNotFoundError:
        return f"noto-cjk-sans-otc (not installed)/{BUNDLED_FILE}"


def bundled_font() -> Path | None:
    """The shipped Noto Sans CJK collection, or None when its package is not installed."""
    try:
        found = resources.files(BUNDLED_PACKAGE).joinpath(BUNDLED_FILE)
    except ModuleNotFoundError:
        return None
    path = Path(str(found))
    return path if path.is_file() else None


# --------------------------------------------------------------------------------------------
# Coverage


def _faces(path: str) -> tuple[tuple[str, frozenset[int]], ...]:
    """(family name, code points with a glyph) of each face in a font file or collection."""
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise FontError(f"cannot read font {path}: {exc.strerror}") from exc
    return _read_faces(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _read_faces(path: str, size: int, mtime_ns: int) -> tuple[tuple[str, frozenset[int]], ...]:
    """``_faces``, remembered while the file's size and mtime stand still (a CJK cmap takes ~0.15 s)."""
    from fontTools.ttLib import TTCollection, TTFont, TTLibError  # ~0.25 s: only when subtitles are burned

    try:
        faces = []
        # Our own handle, closed whatever fontTools makes of the bytes; every table is read inside.
        with open(path, "rb") as handle:
            collection = handle.read(4) == b"ttcf"
            handle.seek(0)
            opened = TTCollection(handle, lazy=True) if collection else TTFont(handle, lazy=True)
            for font in opened.fonts if isinstance(opened, TTCollection) else [opened]:
                name = font["name"].getDebugName(1) or Path(path).stem
                faces.append((name, frozenset((font.getBestCmap() or {}).keys())))
        return tuple(faces)
    except (OSError, TTLibError, KeyError, AssertionError, ValueError) as exc:
        raise FontError(f"{path} is not a usable font file ({exc})") from exc


class FontError(ValueError):
    """A font file that cannot be read (lint words it; assembly raises it as a media error)."""


def _script_face(names: Sequence[str], text: str) -> int:
    """Which face of a CJK collection suits ``text``: Japanese with kana, Korean with Hangul, else Chinese."""
    wanted = "SC"
    if any("\u3040" <= ch <= "\u30ff" for ch in text):
        wanted = "JP"
    elif any("\uac00" <= ch <= "\ud7af" or "\u1100" <= ch <= "\u11ff" for ch in text):
        wanted = "KR"
    for i, name in enumerate(names):
        if name.endswith(f" {wanted}") and "Mono" not in name:
            return i
    return 0


def family(font: Path, text: str) -> str:
    """The family name libass should select in ``font`` for ``text``."""
    faces = _faces(str(font))
    return faces[_script_face([name for name, _ in faces], text)][0]


def missing(font: Path, texts: Iterable[str]) -> list[str]:
    """Characters of ``texts`` the font (the face ``family`` picks) has no glyph for, in first-seen order."""
    texts = list(texts)
    faces = _faces(str(font))
    covered = faces[_script_face([name for name, _ in faces], "".join(texts))][1]
    seen: dict[str, None] = {}
    for text in texts:
        for ch in text:
            if ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Mn") or ord(ch) in covered:
                continue
            seen.setdefault(ch)
    return list(seen)


# --------------------------------------------------------------------------------------------
# Wrapping


def cells(text: str) -> int:
    """Display width in cells: wide and fullwidth characters two, combining marks none, others one."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch) == "Cf":
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def _tokens(text: str) -> list[str]:
    """Units a line may break between: words of spaced scripts (with their trailing space), single
    wide characters, and punctuation glued to what it must not be parted from."""
    tokens: list[str] = []
    for ch in text:
        wide = unicodedata.east_asian_width(ch) in ("W", "F")
        if not tokens:
            tokens.append(ch)
        elif ch in _NO_START or unicodedata.combining(ch) or tokens[-1][-1] in _NO_END:
            tokens[-1] += ch  # kept with what comes before it
        elif wide or tokens[-1][-1] == " " or unicodedata.east_asian_width(tokens[-1][-1]) in ("W", "F"):
            tokens.append(ch)
        else:
            tokens[-1] += ch
    return tokens


def wrap(text: str, max_cells: int) -> list[str]:
    """Break ``text`` into lines of at most ``max_cells`` cells (a longer single word stays whole).

    Spaces break lines in Latin and other spaced scripts; Chinese and Japanese break between
    any two characters, never before closing punctuation. Explicit newlines are kept.
    """
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for token in _tokens(" ".join(paragraph.split())):
            if line and cells((line + token).rstrip()) > max_cells:
                lines.append(line.rstrip())
                line = token.lstrip()
            else:
                line += token
        if line.strip():
            lines.append(line.rstrip())
    return lines


# --------------------------------------------------------------------------------------------
# The ASS script


@dataclass(frozen=True)
class Layout:
    """How subtitles sit in a frame of ``width`` x ``height``: sizes in pixels."""

    width: int
    height: int

    @property
    def font_size(self) -> int:
        # From the short side, so a 9:16 frame gets the same size as its 16:9 sibling.
        return max(10, round(min(self.width, self.height) * 0.055))

    @property
    def margin(self) -> int:
        return max(4, round(self.width * 0.05))

    @property
    def max_cells(self) -> int:
        """Cells per line: what fits (a cell is about half the font size wide), at most the usual 42."""
        return max(8, min(MAX_LINE_CELLS, (self.width - 2 * self.margin) * 2 // self.font_size))


def _escape(text: str) -> str:
    """Spec text as literal ASS text: no override blocks, no ``\\N``-style escapes."""
    # A word joiner after each backslash keeps "\N", "\h", "\{" from forming; braces are escaped.
    return text.replace("\\", "\\\u2060").replace("{", "\\{").replace("}", "\\}")


def _time(t: Fraction) -> str:
    cs = round(t * 100)
    h, rem = divmod(cs, 360_000)
    m, rem = divmod(rem, 6_000)
    s, cs = divmod(rem, 100)
    return f"{h}:{m:02d}:{s:02d}.{cs:02d}"


def ass_script(cues: Sequence[Cue], width: int, height: int, font_family: str) -> str:
    """An ASS script drawing ``cues`` for a ``width`` x ``height`` frame, wrapped for that frame."""
    layout = Layout(width, height)
    size, margin = layout.font_size, layout.margin
    outline = max(1, size // 14)
    head = [
        "[Script Info]", "ScriptType: v4.00+", f"PlayResX: {width}", f"PlayResY: {height}",
        # 2: libass does not wrap; lines are broken here, by script.
        "WrapStyle: 2", "ScaledBorderAndShadow: yes", "",
        "[V4+ Styles]",
        "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, "
        "Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, "
        "MarginL, MarginR, MarginV, Encoding",
        f"Style: Default,{font_family},{size},&H00FFFFFF,&H000000FF,&H00000000,&H80000000,0,0,0,0,100,100,0,0,"
        f"1,{outline},0,2,{margin},{margin},{max(4, round(height * 0.05))},1",
        "",
        "[Events]",
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
    ]
    events = []
    for cue in sorted(cues, key=lambda c: c.start):
        lines = wrap(cue.text.strip(), layout.max_cells)
        if lines:
            text = "\\N".join(_escape(line) for line in lines)
            events.append(f"Dialogue: 0,{_time(cue.start)},{_time(cue.end)},Default,,0,0,0,,{text}")
    return "\n".join([*head, *events]) + "\n"
