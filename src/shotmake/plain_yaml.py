"""The plainest YAML a shot is written in, read without PyYAML: ``key: value`` lines of one list item.

After a one-shot edit only that shot's lines are read again (``spec_delta``). Nearly every shot
is a handful of ``key: value`` lines with quoted or plain text, whole or decimal numbers and
lists like ``[mei, kai]``; importing PyYAML for them was a tenth of the decision (~7 ms of a
70 ms ``plan``). ``read_item`` reads exactly that subset and answers what ``spec_yaml.parse_item``
would, data and marks; on anything else (a nested block, a multi-line or escaped string, a number
YAML 1.1 reads its own way, a tab, a control character, an anchor...) it answers None and the
caller asks PyYAML. Tests compare the two on every shot of the demo episodes and on thousands of
generated ones.
"""

from __future__ import annotations

import re
from typing import Any

#: A key as shots write them.
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Plain scalars YAML 1.1 (PyYAML's SafeLoader) reads as something other than a string, or reads
#: in a way this module does not repeat: they start with one of these, or are one of the words.
_NOT_TEXT_START = frozenset("-?:,[]{}#&*!|>'\"%@`+.~=<0123456789")
_WORDS = frozenset({"yes", "Yes", "YES", "no", "No", "NO", "true", "True", "TRUE", "false", "False", "FALSE",
                    "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL"})
_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"-?[0-9]+\.[0-9]+")
#: Characters that end this reader's part of YAML: tabs, carriage returns, control characters,
#: YAML's other line breaks (NEL, LS, PS), the byte-order mark and lone surrogates.
_OUTSIDE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")


def read_item(text: str, file: str, path: str) -> tuple[dict[str, Any], dict[str, tuple[str, int, int]]] | None:
    """One list item written alone (``  - id: s3`` and its ``key: value`` lines, after as many blank
    lines as came before it): its data and marks under ``path`` as ``spec_yaml.parse_item`` gives
    them, or None when the item is not in this reader's plain subset."""
    if _OUTSIDE.search(text) is not None or "&" in text or "*" in text:
        return None
    lines = text.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return None
    head = lines[first]
    indent = len(head) - len(head.lstrip(" "))
    if not head.startswith("- ", indent) or head[indent + 2:indent + 3] in (" ", ""):
        return None
    column = indent + 2  # where the item's keys start
    data: dict[str, Any] = {}
    marks: dict[str, tuple[str, int, int]] = {path: (file, first + 1, column + 1)}
    for number in range(first, len(lines)):
        line = lines[number]
        if number == first:
            body = line[column:]
        else:
            stripped = line.lstrip(" ")
            if not stripped or stripped.startswith("#"):
                continue  # a blank or comment line inside the item
            if len(line) - len(stripped) != column:
                return None  # a nested block, a continued scalar, or the next item
            body = stripped
        if not _entry(body, number + 1, column, file, path, data, marks):
            return None
    return data, marks


def _entry(body: str, line: int, column: int, file: str, path: str, data: dict[str, Any],
           marks: dict[str, tuple[str, int, int]]) -> bool:
    """Read ``key: value`` (``body`` starts at 0-based ``column`` of ``line``) into ``data``."""
    key = _KEY.match(body)
    if key is None or body[key.end():key.end() + 2] != ": " or key.group() in data:
        return False
    name = key.group()
    at = key.end() + 2
    while body[at:at + 1] == " ":
        at += 1
    value = _value(body, at)
    if value is None:
        return False
    child = f"{path}.{name}"
    parsed, items = value
    data[name] = parsed
    marks[child] = (file, line, column + at + 1)
    for i, item_at in enumerate(items):
        marks[f"{child}[{i}]"] = (file, line, column + item_at + 1)
    return True


def _value(body: str, at: int) -> tuple[Any, list[int]] | None:
    """The value starting at ``body[at]`` and, for a list, where each item starts; None if not plain."""
    if at >= len(body) or body[at] == "#":
        return None  # an empty value: a nested block follows, or null
    if body[at] == "[":
        return _flow_list(body, at)
    scalar = _scalar(body, at, flow=False)
    if scalar is None:
        return None
    value, end = scalar
    return (value, []) if _rest_is_comment(body, end) else None


def _flow_list(body: str, at: int) -> tuple[Any, list[int]] | None:
    """``[a, "b c", 3]`` on one line: scalars only."""
    items: list[Any] = []
    starts: list[int] = []
    i = at + 1
    while True:
        while body[i:i + 1] == " ":
            i += 1
        if body[i:i + 1] == "]" and not items:
            return ([], []) if _rest_is_comment(body, i + 1) else None
        scalar = _scalar(body, i, flow=True)
        if scalar is None:
            return None
        items.append(scalar[0])
        starts.append(i)
        i = scalar[1]
        while body[i:i + 1] == " ":
            i += 1
        if body[i:i + 1] == ",":
            i += 1
            continue
        if body[i:i + 1] == "]":
            return (items, starts) if _rest_is_comment(body, i + 1) else None
        return None


def _scalar(body: str, at: int, *, flow: bool) -> tuple[Any, int] | None:
    """A quoted or plain scalar at ``body[at]``: its value and where it ends; None if not plain."""
    first = body[at:at + 1]
    if first == '"':
        end = body.find('"', at + 1)
        if end < 0 or "\\" in body[at + 1:end]:
            return None  # runs on to the next line, or holds escapes
        return body[at + 1:end], end + 1
    if first == "'":
        i, parts = at + 1, []
        while True:
            end = body.find("'", i)
            if end < 0:
                return None
            parts.append(body[i:end])
            if body[end + 1:end + 2] != "'":
                return "'".join(parts), end + 1
            i = end + 2
    stops = ",[]{}#" if flow else "#"
    end = at
    while end < len(body) and body[end] not in stops:
        if body[end] == ":" and body[end + 1:end + 2] in (" ", ""):
            return None  # a mapping, not a scalar
        end += 1
    if end < len(body) and body[end] == "#" and body[end - 1] != " ":
        return None  # '#' inside a word is text to YAML; keep it simple
    if flow and end < len(body) and body[end] in "[{}":
        return None
    text = body[at:end].rstrip(" ")
    if not text or (flow and ":" in text):
        return None
    if text[0] not in _NOT_TEXT_START and text not in _WORDS:
        return text, at + len(text)
    if _INT.fullmatch(text):  # YAML 1.1 has its own ideas about every other number-like word
        return int(text), at + len(text)
    if _FLOAT.fullmatch(text):
        return float(text), at + len(text)
    return None


def _rest_is_comment(body: str, end: int) -> bool:
    rest = body[end:]
    stripped = rest.lstrip(" ")
    return not stripped or (stripped.startswith("#") and len(stripped) < len(rest))  # '#' after a space
