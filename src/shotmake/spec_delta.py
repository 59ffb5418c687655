"""An edited episode from its last load: only the shots whose lines changed are read again.

The edit loop changes one shot at a time (a prompt, a duration, a seed) and asks ``plan``
again. Reading a 10,000-shot spec in full costs ~0.3 s of YAML, schema and model building for
the one shot that changed. So a snapshot keeps the text it was loaded from and where each
shot's lines are (``Segments``); when the new text differs only inside shot items (the same
shots, in the same order), each changed item is parsed on its own at its own line numbers
(``plain_yaml.read_item``, else ``spec_yaml.parse_item``), checked against the schema's
``shot`` definition, built as the full load builds it (``spec.build_shot``), and the checks that
look across shots (links, cycles, transitions, the poster) run again over the whole episode.

When an edit adds or removes lines, what follows moves (``Moves``): the unchanged shots, the
sequences after them and every location and node taken from before are moved with it.

Anything else returns None and the spec is loaded in full: a changed line outside the shots,
a shot added, removed or moved, a changed id, an anchor or alias, a line break other than
``\\n``, or any problem in the changed shots (the full load then words it as it always does).
That the result equals a full load, edit by edit, is what the tests check.
"""

from __future__ import annotations

import dataclasses
import re
from bisect import bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from .errors import SourceLocation
from .model import Episode

#: YAML line breaks other than ``\n``: a text holding one is never cut into items here.
_OTHER_BREAKS = ("\r", "\x85", "\u2028", "\u2029")
#: The top-level ``shots:`` key with its items on the following lines.
_SHOTS_KEY = re.compile(r"^shots:[ \t]*(?:#.*)?$", re.MULTILINE)
#: Above this share of changed shots the full load is as quick: take it.
MAX_CHANGED_SHARE = 0.25


@dataclass(frozen=True)
class Segments:
    """Where a spec text's shot items are: the items' dash column, the first line of each
    (0-based), and the first line after the last one."""

    indent: int
    starts: tuple[int, ...]
    end: int

    def to_json(self) -> list[Any]:
        return [self.indent, list(self.starts), self.end]

    @classmethod
    def from_json(cls, value: Any) -> Segments | None:
        try:
            indent, starts, end = value
            made = cls(int(indent), tuple(int(s) for s in starts), int(end))
        except (TypeError, ValueError):
            return None
        return made if made.starts and list(made.starts) == sorted(set(made.starts)) and made.end > made.starts[-1] \
            else None


def _quiet(line: str) -> bool:
    """A blank or comment-only line (it belongs to the item above it)."""
    stripped = line.lstrip(" ")
    return not stripped or stripped.startswith("#")


def _item_start(line: str, indent: int) -> bool:
    return line[:indent].strip(" ") == "" and (line[indent:].startswith("- ") or line[indent:] == "-")


def segment(text: str) -> Segments | None:
    """The shot items of a spec text written in block style, or None when it is written otherwise."""
    if any(b in text for b in _OTHER_BREAKS):
        return None
    found = list(_SHOTS_KEY.finditer(text))
    if len(found) != 1:
        return None
    lines = text.split("\n")
    first = text.count("\n", 0, found[0].start()) + 1
    while first < len(lines) and _quiet(lines[first]):
        first += 1
    if first >= len(lines):
        return None
    line = lines[first]
    indent = len(line) - len(line.lstrip(" "))
    if not _item_start(line, indent):
        return None
    starts = []
    end = len(lines)
    for i in range(first, len(lines)):
        line = lines[i]
        if _quiet(line):
            continue
        depth = len(line) - len(line.lstrip(" "))
        if depth > indent:
            continue
        if depth == indent and _item_start(line, indent):
            starts.append(i)
            continue
        end = i
        break
    return Segments(indent, tuple(starts), end)


def plain(text: str) -> bool:
    """No anchors or aliases anywhere: each item's value is its own text's (a changed item could
    otherwise change another through an anchor it defines)."""
    if "&" not in text and "*" not in text:
        return True
    import yaml

    from .spec_yaml import _loader

    try:
        return not any(isinstance(e, yaml.AliasEvent) or getattr(e, "anchor", None) is not None
                       for e in yaml.parse(text, Loader=_loader()))
    except yaml.YAMLError:
        return False


def matches(segments: Segments, episode: Episode) -> bool:
    """Whether ``segments`` are the episode's shots, one item each, as its full load read them."""
    if len(segments.starts) != len(episode.shots):
        return False
    locations = episode.locations
    for i, (start, shot) in enumerate(zip(segments.starts, episode.shots.values(), strict=True)):
        where = locations.get(f"shots[{i}]")
        if shot.path != f"shots[{i}]" or where is None or where.line != start + 1 or where.file != episode.source:
            return False
    return True


class _HasLocation(Protocol):
    @property
    def location(self) -> SourceLocation | None: ...


_Located = TypeVar("_Located", bound=_HasLocation)


@dataclass(frozen=True)
class Moves:
    """Where the lines outside the changed shots went when an edit added or removed lines."""

    file: str
    #: The old text's item starts (0-based) and end, each item's move, and that of the lines after.
    starts: tuple[int, ...]
    end: int
    shifts: tuple[int, ...]
    after: int

    def line(self, line: int) -> int:
        """The new number of an old line (1-based) of the spec file, outside the changed shots."""
        i = line - 1
        if i < self.starts[0]:
            return line
        if i >= self.end:
            return line + self.after
        return line + self.shifts[bisect_right(self.starts, i) - 1]

    def location(self, where: SourceLocation | None) -> SourceLocation | None:
        if where is None or where.file != self.file:
            return where
        line = self.line(where.line)
        return where if line == where.line else SourceLocation(where.file, line, where.column)

    def record(self, record: _Located) -> _Located:
        """A frozen record with a ``location`` (a shot, a node, a lint finding), moved with its line."""
        where = self.location(record.location)
        return record if where is record.location else dataclasses.replace(record, location=where)  # type: ignore[type-var]


def _moved(segments: Segments, old_lines: list[str], new_text: str, new_lines: list[str],
           file: str) -> tuple[list[int], Segments, Moves] | None:
    """The changed items of an edit that added or removed lines, the new text's segments, and the moves."""
    new = segment(new_text)
    starts, end = segments.starts, segments.end
    if new is None or new.indent != segments.indent or len(new.starts) != len(starts) \
            or old_lines[:starts[0]] != new_lines[:new.starts[0]] or old_lines[end:] != new_lines[new.end:]:
        return None  # shots added or removed, or lines outside them changed
    old_bounds = [*starts, end]
    new_bounds = [*new.starts, new.end]
    changed = [i for i in range(len(starts)) if old_lines[old_bounds[i]:old_bounds[i + 1]]
               != new_lines[new_bounds[i]:new_bounds[i + 1]]]
    shifts = tuple(b - a for a, b in zip(starts, new.starts, strict=True))
    return changed, new, Moves(file, starts, end, shifts, new.end - end)


class PatchedLocations(Mapping[str, SourceLocation]):
    """An episode's locations with the field paths of some shots (``shots[3]``...) replaced."""

    __slots__ = ("_base", "_marks", "_moves", "_replaced")

    def __init__(self, base: Mapping[str, SourceLocation], replaced: frozenset[str],
                 marks: dict[str, tuple[str, int, int]], moves: Moves | None = None) -> None:
        self._base = base
        self._replaced = replaced
        self._marks = marks
        self._moves = moves

    def _owned(self, path: str) -> bool:
        return path.startswith("shots[") and path[:path.find("]") + 1] in self._replaced

    def __getitem__(self, path: str) -> SourceLocation:
        mark = self._marks.get(path)
        if mark is not None:
            return SourceLocation(*mark)
        if self._owned(path):
            raise KeyError(path)
        found = self._base[path]
        return found if self._moves is None else self._moves.location(found)  # type: ignore[return-value]

    def __contains__(self, path: object) -> bool:
        if path in self._marks:
            return True
        return isinstance(path, str) and not self._owned(path) and path in self._base

    def __iter__(self) -> Iterator[str]:
        yield from (p for p in self._base if not self._owned(p))
        yield from self._marks

    def __len__(self) -> int:
        return sum(1 for _ in self)


def patch(episode: Episode, segments: Segments, old: str, new: str,
          routes: Mapping[str, Any]) -> tuple[Episode, list[str], Moves | None] | None:
    """``episode`` (loaded from ``old``) as ``new`` holds it, the ids of the shots that changed, and
    where the other lines moved (None: nowhere); None when only a full load can tell."""
    from .fastschema import definition_check
    from .plain_yaml import read_item  # most shots: without PyYAML
    from .spec import ShotContext, asset_resolver, build_shot, check_links, provider_check, recheck_shots
    from .spec_yaml import parse_item

    if any(b in new for b in _OTHER_BREAKS):
        return None
    old_lines, new_lines = old.split("\n"), new.split("\n")
    starts, end = segments.starts, segments.end
    moves: Moves | None = None
    if len(old_lines) == len(new_lines):  # the usual edit: one line compare, no text to segment again
        found: dict[int, None] = {}
        for i in (i for i, (a, b) in enumerate(zip(old_lines, new_lines, strict=True)) if a != b):
            if not starts[0] <= i < end:
                return None  # outside the shots: style, characters, sequences...
            found[bisect_right(starts, i) - 1] = None
        changed, new_starts, new_end = list(found), starts, end
    else:
        found_moves = _moved(segments, old_lines, new, new_lines, episode.source)
        if found_moves is None:
            return None
        changed, new_segments, moves = found_moves
        new_starts, new_end = new_segments.starts, new_segments.end
    if not changed or len(changed) > max(1, len(starts) * MAX_CHANGED_SHARE):
        return None
    ids = list(episode.shots)
    problems: list[Any] = []

    def err(*args: Any, **kwargs: Any) -> None:
        problems.append(args)

    marks: dict[str, tuple[str, int, int]] = {}
    built: dict[str, Any] = {}
    shot_check = definition_check("shot")
    for c in changed:
        first, stop = new_starts[c], new_starts[c + 1] if c + 1 < len(new_starts) else new_end
        item = new_lines[first:stop]
        if not _item_start(item[0], segments.indent) or not all(
                _quiet(line) or len(line) - len(line.lstrip(" ")) > segments.indent for line in item[1:]):
            return None
        written = "\n" * first + "\n".join(item)
        parsed = read_item(written, episode.source, f"shots[{c}]") or parse_item(written, episode.source, f"shots[{c}]")
        if parsed is None or not shot_check(parsed[0]) or parsed[0]["id"] != ids[c]:
            return None
        data, item_marks = parsed
        marks.update(item_marks)
        built[ids[c]] = data
    root = Path(episode.root)
    locations = PatchedLocations(episode.locations, frozenset(f"shots[{c}]" for c in changed), marks, moves)
    base = _relocated(episode, moves)
    context = ShotContext(base.defaults, base.characters, base.plates, locations,
                          Path(episode.source).absolute(), provider_check(routes, err), asset_resolver(root, err), err)
    shots = dict(base.shots)
    for c in changed:
        shots[ids[c]] = build_shot(c, built[ids[c]], context)
    edited = dataclasses.replace(base, shots=shots, locations=locations)
    recheck_shots(edited, [shots[ids[c]] for c in changed], err)
    check_links(shots, err)
    if problems:
        return None
    return edited, [ids[c] for c in changed], moves


def _relocated(episode: Episode, moves: Moves | None) -> Episode:
    """The episode's records with their locations moved (the changed shots are built anew after)."""
    if moves is None:
        return episode

    def move(records: Mapping[str, Any]) -> dict[str, Any]:
        return {key: moves.record(record) for key, record in records.items()}

    sequences = tuple(moves.record(seq) for seq in episode.sequences)
    return dataclasses.replace(episode, characters=move(episode.characters), plates=move(episode.plates),
                               shots=move(episode.shots), sequences=sequences)
