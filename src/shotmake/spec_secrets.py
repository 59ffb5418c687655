"""Secrets in a spec (lint SM201): API keys and tokens pasted into prompts, paths or names.

Pure: ``find_secret`` says what a string holds and how to show it redacted; ``spec_strings``
walks the parsed model for every string with a spec-like path (``shots[2].prompt``), and
``may_hold_secret`` answers the common case (no secret anywhere) with one scan of their text.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import fields, is_dataclass
from operator import attrgetter
from typing import Any

from .model import Episode

#: (pattern, what it is, the redacted form shown instead). Group ``prefix`` is safe to show.
_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?<![A-Za-z0-9])(?P<prefix>sk-(?:proj-|svcacct-|admin-|ant-)?)[A-Za-z0-9_-]{20,}"),
     "an API key"),
    (re.compile(r"(?<![A-Za-z0-9])(?P<prefix>AIza)[0-9A-Za-z_-]{30,}"), "a Google API key"),
    (re.compile(r"(?<![A-Za-z0-9])(?P<prefix>ya29\.)[0-9A-Za-z_-]{20,}"), "a Google OAuth token"),
    (re.compile(r"(?<![A-Za-z0-9])(?P<prefix>(?:ghp|gho|ghs|ghu|github_pat)_)[A-Za-z0-9_]{20,}"),
     "a GitHub token"),
    (re.compile(r"(?<![A-Za-z0-9])(?P<prefix>AKIA)[0-9A-Z]{16}(?![A-Za-z0-9])"), "an AWS access key"),
    (re.compile(r"(?<![A-Za-z0-9])(?P<prefix>[Bb]earer )[A-Za-z0-9._~+/=-]{16,}"), "a bearer token"),
)
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,}")
#: Every pattern above in one: a string none of them matches (nearly all) costs one search.
_ANY_SECRET = re.compile("|".join(p.pattern.replace("(?P<prefix>", "(?:") for p, _ in _SECRET_PATTERNS)
                         + "|" + _TOKEN.pattern)
#: What every pattern above needs (a run of 16 key characters, or a bearer token's "earer "): a
#: scan for it is ~7x faster than ``_ANY_SECRET`` over a whole spec's text, which it rarely holds.
_SECRET_HINT = re.compile(r"[A-Za-z0-9_-]{16}|earer ")
#: The run of ``_SECRET_HINT`` found from where it starts (after a character that is not a key
#: character, or a leading newline): ~4x faster than trying the run at every position.
_RUN_START = re.compile(r"[^A-Za-z0-9_-][A-Za-z0-9_-]{16}")


def _entropy(text: str) -> float:
    """Shannon entropy in bits per character."""
    counts = Counter(text)
    return -sum(c / len(text) * math.log2(c / len(text)) for c in counts.values())


def _looks_random(token: str) -> bool:
    # A long run mixing cases and digits with high entropy: how keys look, unlike words or hex digests.
    return (any(c.isupper() for c in token) and any(c.islower() for c in token)
            and any(c.isdigit() for c in token) and _entropy(token) >= 4.2)


def find_secret(text: str) -> tuple[str, str] | None:
    """Return (what it looks like, redacted prefix) for a key-like string in ``text``, or None.

    The redacted prefix never holds more than the public part of the format (``sk-proj-…``).
    """
    if _ANY_SECRET.search(text) is None:
        return None
    for pattern, what in _SECRET_PATTERNS:
        match = pattern.search(text)
        if match:
            return what, f"{match.group('prefix')}…"
    for match in _TOKEN.finditer(text):
        if _looks_random(match.group()):
            return f"a {len(match.group())}-character token", "…"
    return None


def redact(text: str) -> str:
    """Replace every key-like string in ``text`` by its redacted prefix."""
    for pattern, _ in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: f"{m.group('prefix')}…", text)
    return _TOKEN.sub(lambda m: "…" if _looks_random(m.group()) else m.group(), text)


#: Model fields that are not spec values (locations, resolved roots) or repeat a mapping key.
_NOT_SPEC_VALUES = frozenset({"location", "path", "locations", "root", "source", "lint", "includes"})


def spec_strings(value: Any, path: str, skip: frozenset[str] = _NOT_SPEC_VALUES) -> list[tuple[str, str]]:
    """Return (path, string) for every string in a model value, with spec-like paths.

    A mapping key is yielded at the key's own path (``characters.mei``); the ``id`` field of the
    record under it repeats the key and is skipped.
    """
    found: list[tuple[str, str]] = []
    _collect_strings(value, path, skip, found)
    return found


_SCALARS = (int, float, bool, type(None))
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
_ITEM_SKIP = _NOT_SPEC_VALUES | {"id"}


def _collect_strings(value: Any, path: str, skip: frozenset[str], out: list[tuple[str, str]]) -> None:
    # A loop with per-class field lists, not nested generators: a 10,000-shot spec has ~500k values.
    kind = type(value)
    if kind is str:
        out.append((path, value))
    elif kind in _SCALARS:
        return
    elif kind in _FIELD_NAMES or (is_dataclass(value) and not isinstance(value, type)):
        names = _FIELD_NAMES.get(kind)
        if names is None:
            names = _FIELD_NAMES[kind] = tuple(f.name for f in fields(value))
        for name in names:
            if name in skip:
                continue
            item = getattr(value, name)
            if type(item) is str:
                out.append((f"{path}.{name}" if path else name, item))
            elif type(item) not in _SCALARS:
                _collect_strings(item, f"{path}.{name}" if path else name, _NOT_SPEC_VALUES, out)
    elif isinstance(value, str):
        out.append((path, value))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            out.append((child, str(key)))
            _collect_strings(item, child, _ITEM_SKIP, out)
    elif isinstance(value, (tuple, list)):
        for i, item in enumerate(value):
            _collect_strings(item, f"{path}[{i}]", _NOT_SPEC_VALUES, out)


def may_hold_secret(episode: Episode) -> bool:
    """Whether any string SM201 looks at could hold a secret: one search over all of them joined.

    A superset test: the joining newline is in none of the patterns' classes, so a match inside
    one string is a match in the joined text (and stripping the project root, as ``secrets``
    does, only removes text). Only when it matches are the strings walked again with their paths.
    First, the hint every pattern needs is looked for in the shots' and sequences' fields read at
    once (``_field_texts``): a spec without one (nearly every spec) is never walked value by value.
    """
    texts: list[str] = [episode.name, episode.title, episode.output]
    for section in (episode.style, episode.characters, episode.plates, episode.delivery):
        _collect_texts(section, _NOT_SPEC_VALUES, texts)
    if not _hinted([*texts, *_field_texts(episode.shots.values()), *_field_texts(episode.sequences)]):
        return False  # nearly always: the shots and sequences were not walked value by value
    for shot in episode.shots.values():
        _collect_texts(shot, _NOT_SPEC_VALUES, texts)
    for seq in episode.sequences:
        _collect_texts(seq, _NOT_SPEC_VALUES, texts)
    joined = "\n".join(texts)
    return _SECRET_HINT.search(joined) is not None and _ANY_SECRET.search(joined) is not None


def _hinted(texts: list[str]) -> bool:
    """Whether ``_SECRET_HINT`` matches inside one of ``texts`` (no hint holds the joining newline)."""
    joined = "\n".join(["", *texts])  # the leading newline starts a run at the start of the text
    return "earer " in joined or _RUN_START.search(joined) is not None


#: Per record class: one getter of the fields ``_collect_texts`` reads (``_NOT_SPEC_VALUES`` left out).
_GETTERS: dict[type, Callable[[Any], tuple[Any, ...]]] = {}


def _field_texts(records: Iterable[Any]) -> list[str]:
    """A superset, for ``_hinted``, of the strings ``_collect_texts`` collects from each record.

    Each string field as it is; any other field that is not a number, a boolean or None (a tuple
    of ids, the dialogue's lines, a transition) as its ``repr``, which writes a string's letters,
    digits, ``_``, ``-`` and spaces unchanged (it escapes only quotes, backslashes and unprintable
    characters, none of which a hint contains) and adds only quotes, brackets, commas and short
    field names around them. So a hint in any string the walk collects is a hint here; the fields
    come by one C call per record instead of a Python walk of its ~30 fields.
    """
    out: list[str] = []
    for record in records:
        getter = _GETTERS.get(type(record))
        if getter is None:
            names = [f.name for f in fields(record) if f.name not in _NOT_SPEC_VALUES]
            getter = _GETTERS[type(record)] = attrgetter(*names, *names[:1])  # two names or more: a tuple
        out.extend([v if type(v) is str else repr(v) for v in getter(record) if v and type(v) not in _SCALARS])
    return out


def _collect_texts(value: Any, skip: frozenset[str], out: list[str]) -> None:
    """``_collect_strings`` without the paths: the strings only (the same ones, in the same order)."""
    kind = type(value)
    if kind is str:
        out.append(value)
    elif kind in _SCALARS:
        return
    elif kind in _FIELD_NAMES or (is_dataclass(value) and not isinstance(value, type)):
        names = _FIELD_NAMES.get(kind)
        if names is None:
            names = _FIELD_NAMES[kind] = tuple(f.name for f in fields(value))
        for name in names:
            if name in skip:
                continue
            item = getattr(value, name)
            if type(item) is str:
                out.append(item)
            elif type(item) not in _SCALARS:
                _collect_texts(item, _NOT_SPEC_VALUES, out)
    elif isinstance(value, str):
        out.append(value)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            out.append(str(key))
            _collect_texts(item, _ITEM_SKIP, out)
    elif isinstance(value, (tuple, list)):
        for item in value:
            _collect_texts(item, _NOT_SPEC_VALUES, out)
