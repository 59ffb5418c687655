"""Edit a shot's ``pick:`` or ``takes:`` in the spec file, changing that one line and nothing else.

``shotmake pick`` and ``reroll`` (and the review page's buttons) write into the file that
defines the shot through ruamel.yaml's round-trip mode, so comments, quoting, block scalars and
key order stay as the user wrote them. Two checks make "that one line" a guarantee rather than a
hope: the unchanged document must dump back byte for byte (else the file is left alone and the
user is told which line to edit), and the edited text may differ from the original in one line
only (a changed value, or one added key).
"""

from __future__ import annotations

import difflib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import SourceLocation, SpecError, UsageError

#: Indentation styles tried until one dumps the unchanged file back exactly: (mapping, sequence, offset).
_INDENTS = ((2, 4, 2), (2, 2, 0), (4, 6, 4), (4, 4, 0), (2, 4, 0), (4, 4, 2))


@dataclass(frozen=True)
class Edit:
    """A one-line change made to a spec file: where, and the line before and after (``""``: added)."""

    file: Path
    line: int
    before: str
    after: str

    def describe(self) -> str:
        """``episodes/pilot.yaml:42: pick: 1 -> pick: 2`` (or ``added pick: 2``)."""
        if not self.before:
            return f"{self.file}:{self.line}: added `{self.after.strip()}`"
        return f"{self.file}:{self.line}: `{self.before.strip()}` -> `{self.after.strip()}`"


def _yaml(indent: tuple[int, int, int]) -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 1 << 16  # never re-wrap a long line
    yaml.indent(mapping=indent[0], sequence=indent[1], offset=indent[2])
    return yaml


def _dump(yaml: Any, data: Any) -> str:
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _load_exact(path: Path, text: str) -> tuple[Any, Any, bool]:
    """Parse ``text`` with the indentation style that reproduces it exactly: (yaml, data, True);
    (yaml, data, False) when none does (odd spacing, trailing blanks: the edit would touch them too)."""
    from ruamel.yaml.error import YAMLError

    data = None
    for indent in _INDENTS:
        yaml = _yaml(indent)
        try:
            data = yaml.load(text)
        except YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else 1
            raise SpecError(f"invalid YAML: {getattr(exc, 'problem', None) or exc}",
                            location=SourceLocation(str(path), line, 1)) from exc
        if _dump(yaml, data) == text:
            return yaml, data, True
    return yaml, data, False


def _shot_map(data: Any, path: Path, shot: str) -> Any:
    shots = data.get("shots") if hasattr(data, "get") else None
    for item in shots or ():
        if hasattr(item, "get") and item.get("id") == shot:
            return item
    raise UsageError(f"{path}: no shot '{shot}' defined in this file")


def set_shot_field(path: Path, shot: str, field: str, value: int) -> Edit | None:
    """Set ``field: value`` on shot ``shot`` in the spec at ``path``; None when it already says so.

    Raises ``UsageError`` when the file cannot be edited in one line (the message says what to
    type where), and never writes a file whose diff would be more than that line.
    """
    from .atomic import write_text

    try:
        text = path.read_text(encoding="utf-8")
        mode = os.stat(path).st_mode & 0o777
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    yaml, data, exact = _load_exact(path, text)
    item = _shot_map(data, path, shot)
    if item.get(field) == value:
        return None
    if field in item:
        item[field] = value
    else:
        _append(item, field, value)
    edit = _one_line(path, text, _dump(yaml, data)) if exact else None
    if edit is None:
        where = item.lc.key(field)[0] + 1 if field in item.lc.data else item.lc.line + 1
        raise UsageError(f"{path}: writing {field} on shot '{shot}' would also re-space other lines of this file "
                         f"(unusual indentation or spacing); set `{field}: {value}` by hand at line {where}")
    write_text(path, _dump(yaml, data), mode=mode)
    return edit


def _append(item: Any, field: str, value: int) -> None:
    """Add ``field: value`` after the mapping's last key, above the blank lines and comments that follow it.

    ruamel keeps what follows a value (its end-of-line comment, then blank lines and comments up to
    the next item) as one token on the last key; a key appended as is would land below them.
    """
    from ruamel.yaml.tokens import CommentToken

    keys = list(item.keys())
    item[field] = value
    tokens = item.ca.items.get(keys[-1]) if keys else None
    after = tokens[2] if tokens is not None and len(tokens) > 2 else None
    if after is None or not isinstance(after.value, str):
        return
    head, newline, tail = after.value.partition("\n")
    if not tail:
        return
    after.value = head + newline  # the end-of-line comment stays with its line
    # The leading newline ends the new key's line; the blank lines and comments follow it.
    item.ca.items[field] = [None, None, CommentToken("\n" + tail, after.start_mark, None), None]


def _one_line(path: Path, old: str, new: str) -> Edit | None:
    """The edit when ``new`` differs from ``old`` in exactly one changed or added line, else None."""
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    changes = [op for op in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes() if op[0] != "equal"]
    if len(changes) != 1:
        return None
    tag, i1, i2, j1, j2 = changes[0]
    if tag == "replace" and i2 - i1 == 1 and j2 - j1 == 1:
        return Edit(path, i1 + 1, a[i1], b[j1])
    if tag == "insert" and j2 - j1 == 1:
        return Edit(path, j1 + 1, "", b[j1])
    return None


def defining_file(episode: Any, shot: str) -> Path:
    """The spec file that defines ``shot``: where its ``pick:``/``takes:`` belong."""
    found = episode.shots.get(shot)
    if found is None:
        from .spec import did_you_mean

        hint = did_you_mean(shot, list(episode.shots))
        raise UsageError(f"no shot '{shot}' in {episode.source}" + (f"; {hint}" if hint else ""))
    if found.location is not None:
        candidate = Path(found.location.file)
        if not candidate.is_absolute():
            # Locations name files as the user typed them; the episode file's own path is absolute.
            source = Path(episode.source)
            if candidate.name == source.name:
                return source
            candidate = Path(os.path.normpath(source.parent / candidate))
        if candidate.is_file():
            return candidate
    return Path(episode.source)


def pick(episode: Any, shot: str, take: int) -> Edit | None:
    """Make the cut use take ``take`` of ``shot``; None when it already does."""
    found = episode.shots.get(shot)
    path = defining_file(episode, shot)
    if found is not None and not 1 <= take <= found.takes:
        raise UsageError(f"shot '{shot}' has {found.takes} take(s); pick one between 1 and {found.takes} "
                         f"(`shotmake reroll {episode.source} {shot}` adds one)")
    return set_shot_field(path, shot, "pick", take)


@dataclass(frozen=True)
class Reroll:
    """What a re-roll asked for: the new take, the request it sends, its estimated cost."""

    edit: Edit
    take: int
    seed: int | None
    seeded: bool
    estimate_usd: float

    def describe(self, shot: str, route: str) -> str:
        """What changes for the provider, in words (so a paid re-roll is never a surprise)."""
        if self.seeded and self.seed is not None:
            how = f"the same prompt under seed {self.seed}"
        elif self.seeded:
            how = "the same prompt; the route picks a new random seed"
        else:
            how = (f"the same request again: {route} takes no seed, so the new video comes from the "
                   "provider's own randomness")
        return (f"shot {shot}: take {self.take} added ({how}); `shotmake build` renders it for about "
                f"${self.estimate_usd:.2f}, then pick it")


#: Most takes a shot may have (the schema's maximum).
MAX_TAKES = 16


def reroll(episode: Any, shot: str, routes: Any, prices: Any = None) -> Reroll:
    """Add a take to ``shot`` (``takes: n+1``): a new request, never the same one under a new name.

    Take n of a shot with a seed sends seed + n - 1 (on routes that honour seeds); the other
    takes send the same prompt again and rely on the provider's randomness. The cut keeps its
    pick; `build` renders the new take (every existing take stays a cache hit).
    """
    from .costs import unit_price

    found = episode.shots.get(shot)
    path = defining_file(episode, shot)
    if found is None:  # defining_file raised already; kept for the type checker
        raise UsageError(f"no shot '{shot}'")
    if found.takes >= MAX_TAKES:
        raise UsageError(f"shot '{shot}' already has {MAX_TAKES} takes, the most a shot may have; pick one "
                         "and lower `takes:` first")
    take = found.takes + 1
    route = routes.get(found.provider) if routes is not None else None
    seeded = bool(route is not None and route.seed)
    seed = found.seed + take - 1 if found.seed is not None else None
    edit = set_shot_field(path, shot, "takes", take)
    assert edit is not None  # takes grew by one
    usd = unit_price(found.provider, found.resolution, prices, routes) * found.duration
    return Reroll(edit, take, seed, seeded, usd)
