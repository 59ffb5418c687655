"""docs/benchmarks.md: each benchmark script owns one marked section and rewrites only that one."""

from __future__ import annotations

from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def write_section(begin: str, end: str, block: str) -> None:
    """Put ``block`` (the section, ``begin`` and ``end`` markers included) in place of the marked
    section of docs/benchmarks.md, or after everything when the document has none yet."""
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text, encoding="utf-8")
