"""Snapshots: a loaded episode and its plan, kept as JSON and reused while their inputs stand still.

A null build would otherwise spend nearly all its time re-reading what did not change:
composing the YAML, checking it against the schema, resolving includes, hashing every node.
Like ninja's ``.ninja_deps`` or git's index, shotmake keeps the result, keyed by everything
it was made from:

* the episode file and each include, by content (SHA-256: they are small);
* each user file the spec names or the plan digests (reference images, plates, voice-overs,
  music), by ``(size, mtime_ns, inode, device)`` like make and ninja;
* the path as given, the working directory and the project root (messages and paths use them);
* shotmake itself: Python's version and the size and mtime of every source, schema and route catalog file.

A file modified less than ``RACY_SECONDS`` before its load began is not trusted (its mtime
could hide a second write, git's "racy clean" problem): no snapshot is saved, the next run
loads the spec again. Snapshots live in ``<cache>/specs/``, one per spec path, written
atomically; they are JSON (never pickle). One that cannot be read or decoded is ignored.

    specs = SpecCache(cache_dir)
    episode = specs.load(Path("episodes/pilot.yaml"))   # decoded, or loaded and checked
    plan = specs.plan(episode, file_digest)             # decoded, or planned and saved
"""

from __future__ import annotations

import collections.abc
import contextlib
import dataclasses
import gc
import json
import sys
import time
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .errors import SourceLocation
from .freshness import (
    FORMAT,
    content_of,
    entry_path,
    identity,
    inputs_hold,
    read_checked,
    read_json,
    stat_of,
    write_json,
)
from .hashing import sha256_hex
from .model import Episode, Node

if typing.TYPE_CHECKING:
    from .cache import Cache
    from .plan import Plan

_UNIONS = (typing.Union, types.UnionType)
_MAPPINGS = (dict, collections.abc.Mapping)
#: Files modified this recently when a load began are not trusted to have settled.
RACY_SECONDS = 2.0
#: Environment variables lint reads (the vendors' base URLs) end with this.
LINT_ENV_SUFFIX = "_BASE_URL"


class SnapshotError(ValueError):
    """A value cannot be written to or read from a snapshot (the spec is then loaded as usual)."""


# --------------------------------------------------------------------------------------------
# Model <-> JSON: dataclasses become positional lists, locations [file index, line, column]


class _Codec:
    """Encode and decode the model's frozen dataclasses, driven by their type annotations.

    ``Any`` values (manifests, labels, delivery settings) must already be JSON values: dicts
    with string keys, lists, strings, numbers, booleans and None (a tuple would come back as a
    list; the round-trip tests catch one).
    """

    def __init__(self, files: list[str] | None = None) -> None:
        self.files: list[str] = files if files is not None else []
        self._file_index = {f: i for i, f in enumerate(self.files)}
        self._encoders: dict[Any, Callable[[Any], Any]] = {}
        self._decoders: dict[Any, Callable[[Any], Any]] = {}

    # -- locations --------------------------------------------------------------------------
    def location(self, loc: SourceLocation) -> list[int]:
        index = self._file_index.get(loc.file)
        if index is None:
            index = self._file_index[loc.file] = len(self.files)
            self.files.append(loc.file)
        return [index, loc.line, loc.column]

    def _marks(self, raw: Mapping[str, tuple[str, int, int]]) -> dict[str, list[int]]:
        """``spec_yaml.Marks`` as written: ``[file index, line, column]`` without making a SourceLocation each."""
        index = self._file_index
        out: dict[str, list[int]] = {}
        for path, (file, line, column) in raw.items():
            at = index.get(file)
            if at is None:
                at = index[file] = len(self.files)
                self.files.append(file)
            out[path] = [at, line, column]
        return out

    # -- encoders ---------------------------------------------------------------------------
    def encoder(self, tp: Any) -> Callable[[Any], Any]:
        if tp not in self._encoders:
            self._encoders[tp] = self._make_encoder(tp)
        return self._encoders[tp]

    def _make_encoder(self, tp: Any) -> Callable[[Any], Any]:
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if tp is SourceLocation:
            return self.location
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            hints = _hints(tp)
            plan = [(f.name, self._field_encoder(hints[f.name])) for f in dataclasses.fields(tp)]

            def encode_record(value: Any) -> list[Any]:
                if type(value) is not tp:
                    raise SnapshotError(f"expected {tp.__name__}, got {type(value).__name__}")
                return [getattr(value, name) if enc is None else enc(getattr(value, name)) for name, enc in plan]
            return encode_record
        if origin in _UNIONS:
            inner = [a for a in args if a is not type(None)]
            if len(inner) != 1:
                raise SnapshotError(f"unsupported union {tp}")
            enc = self.encoder(inner[0])
            return lambda v: None if v is None else enc(v)
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            item = self._field_encoder(args[0])
            return (lambda v: list(v)) if item is None else (lambda v: [item(x) for x in v])
        if origin in _MAPPINGS:
            if args[0] is not str:
                raise SnapshotError(f"mapping keys must be strings: {tp}")
            value_enc = self._field_encoder(args[1])
            if args[1] is SourceLocation:  # the big one: every field path of the spec
                loc = self.location
                # spec_yaml.Marks keeps (file, line, column) tuples in ``raw`` (not imported here: YAML)
                return lambda v: self._marks(v.raw) if isinstance(getattr(v, "raw", None), dict) \
                    else {k: loc(x) for k, x in v.items()}
            if value_enc is None:
                return _json_mapping
            return lambda v: {k: value_enc(x) for k, x in v.items()}
        raise SnapshotError(f"unsupported type {tp}")

    def _field_encoder(self, tp: Any) -> Callable[[Any], Any] | None:
        """None when the value is written as it is (strings, numbers, JSON values)."""
        if tp in (str, int, float, bool, Any) or typing.get_origin(tp) is typing.Literal:
            return None
        args = typing.get_args(tp)
        if typing.get_origin(tp) in _UNIONS and all(
                a in (str, int, float, bool, type(None)) for a in args):
            return None
        return self.encoder(tp)

    # -- decoders ---------------------------------------------------------------------------
    def decoder(self, tp: Any) -> Callable[[Any], Any]:
        if tp not in self._decoders:
            self._decoders[tp] = self._make_decoder(tp)
        return self._decoders[tp]

    def _make_decoder(self, tp: Any) -> Callable[[Any], Any]:
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        files = self.files
        if tp is SourceLocation:
            new_location = object.__new__

            def location(v: list[Any]) -> SourceLocation:
                record = new_location(SourceLocation)  # as decode_fields does: no frozen __init__
                record.__dict__.update(file=files[v[0]], line=v[1], column=v[2])
                return record
            return location
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            hints = _hints(tp)
            names = [f.name for f in dataclasses.fields(tp)]
            decs = [self._field_decoder(hints[name]) for name in names]
            cls: Any = tp
            if hasattr(cls, "__post_init__") or "__slots__" in vars(cls) or not all(
                    f.init for f in dataclasses.fields(cls)):
                def decode_record(row: list[Any]) -> Any:
                    if len(row) != len(decs):
                        raise SnapshotError(f"{cls.__name__}: {len(row)} fields, expected {len(decs)}")
                    return cls(*[x if dec is None else dec(x) for x, dec in zip(row, decs, strict=True)])
                return decode_record
            new = object.__new__
            count = len(decs)
            decoded = [(i, dec) for i, dec in enumerate(decs) if dec is not None]

            def decode_fields(row: list[Any]) -> Any:
                # Every field is in the row, so __init__ would only set them one by one through
                # object.__setattr__ (frozen): a 10,000-shot plan has 20,000 nodes to make. Only
                # the fields that need it are decoded, in a copy (a snapshot may be decoded twice).
                if len(row) != count:
                    raise SnapshotError(f"{cls.__name__}: {len(row)} fields, expected {count}")
                row = row.copy()
                for i, dec in decoded:
                    row[i] = dec(row[i])
                record = new(cls)
                record.__dict__.update(zip(names, row, strict=False))  # lengths checked above
                return record
            return decode_fields
        if origin in _UNIONS:
            dec = self.decoder(next(a for a in args if a is not type(None)))
            return lambda v: None if v is None else dec(v)
        if origin is tuple:
            item = self._field_decoder(args[0])
            return (lambda v: tuple(v)) if item is None else (lambda v: tuple(item(x) for x in v))
        value_dec = self._field_decoder(args[1])
        if args[1] is SourceLocation:
            return lambda v: Locations(files, v)
        if value_dec is None:  # a JSON object decoded for this snapshot alone: no copy needed
            return lambda v: v if type(v) is dict or type(v) is LazyJSON else dict(v)
        return lambda v: {k: value_dec(x) for k, x in v.items()}

    def _field_decoder(self, tp: Any) -> Callable[[Any], Any] | None:
        return None if self._field_encoder(tp) is None else self.decoder(tp)


def _read_snapshot(path: Path) -> dict[str, Any] | None:
    """A snapshot file: its JSON line, with the manifests' text after it (kept as bytes) under
    ``MANIFESTS``; None when it is missing, truncated or corrupt (``write_json``'s checksum)."""
    body = read_checked(path)
    if body is None:
        return None
    head, _, manifests = body.partition(b"\n")
    try:
        data = json.loads(head)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    data[MANIFESTS] = manifests
    return data


@dataclasses.dataclass(frozen=True)
class _Edit:
    """An episode patched by ``spec_delta``: the snapshot and episode it came from, the changed
    shots, and where the other lines moved."""

    episode: Episode
    data: dict[str, Any]
    old: Episode
    changed: list[str]
    moves: Any  # spec_delta.Moves | None (spec_delta imports YAML: not on the hit path)


def _no_finding(row: Any) -> Any:
    raise SnapshotError("no finding to decode")


def _lint_key(inputs: Any, today: Any, urls: Mapping[str, str]) -> str:
    """What lint findings are remembered under: the snapshot's inputs, the date, the base URLs."""
    return sha256_hex(json.dumps([inputs, str(today), urls], sort_keys=True).encode())


def _json_mapping(value: Mapping[str, Any]) -> dict[str, Any]:
    return dict(value)


def _hints(cls: Any) -> dict[str, Any]:
    """A dataclass's field types, read from its annotation strings without ``typing.get_type_hints``.

    ``get_type_hints`` compiles every annotation (~1 ms per class): too slow for a null build.
    Handles the forms the model uses: names, ``A | None``, ``X[A, B]``, ``tuple[A, ...]``, ``Literal``.
    """
    import builtins

    namespace = {**vars(builtins), **vars(typing), **vars(sys.modules[cls.__module__])}

    def parse(text: str) -> Any:
        text = text.strip()
        parts = _split(text, "|")
        if len(parts) > 1:
            return typing.Union[tuple(parse(p) for p in parts)]  # noqa: UP007 - built at run time
        if text == "...":
            return Ellipsis
        if text.endswith("]"):
            head, _, inner = text[:-1].partition("[")
            origin = namespace[head.strip()]
            if origin is typing.Literal:
                return typing.Literal["?"]
            args = tuple(parse(a) for a in _split(inner, ","))
            return origin[args if len(args) > 1 else args[0]]
        if text not in namespace:
            raise SnapshotError(f"cannot resolve annotation {text!r} of {cls.__name__}")
        return namespace[text]

    return {f.name: parse(f.type) if isinstance(f.type, str) else f.type for f in dataclasses.fields(cls)}


def _split(text: str, sep: str) -> list[str]:
    """Split at ``sep`` outside brackets."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


class Locations(Mapping[str, SourceLocation]):
    """Field path -> ``SourceLocation``, made on access from ``[file index, line, column]``.

    A spec of 10,000 shots has ~200,000 field paths; messages need a handful of them, and most
    runs none: a snapshot keeps them as one JSON text, decoded on the first look-up.
    """

    __slots__ = ("_files", "_raw", "_text")

    def __init__(self, files: list[str], raw: dict[str, list[int]] | str) -> None:
        self._files = files
        self._raw: dict[str, list[int]] | None = None if isinstance(raw, str) else raw
        self._text = raw if isinstance(raw, str) else ""

    @property
    def raw(self) -> dict[str, list[int]]:
        if self._raw is None:
            self._raw = json.loads(self._text)
        return self._raw

    def __getitem__(self, path: str) -> SourceLocation:
        index, line, column = self.raw[path]
        return SourceLocation(self._files[index], line, column)

    def __contains__(self, path: object) -> bool:
        return path in self.raw

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)


class LazyJSON(Mapping[str, Any]):
    """A JSON object kept as its text until it is read: a snapshot's node manifests.

    Planning after an edit reads the keys of 20,000 nodes and the manifests of the few that
    are dirty; decoding every manifest was a third of reading a 10,000-shot snapshot. The text is
    ``source[start:end]`` (the manifests written after the snapshot's JSON, ASCII).
    """

    __slots__ = ("_end", "_source", "_start", "_value")

    def __init__(self, source: str | bytes, start: int = 0, end: int | None = None) -> None:
        self._source = source
        self._start = start
        self._end = len(source) if end is None else end
        self._value: dict[str, Any] | None = None

    def text(self) -> str:
        raw = self._source[self._start:self._end]
        return raw.decode("ascii") if isinstance(raw, bytes) else raw

    def value(self) -> dict[str, Any]:
        if self._value is None:
            try:
                value = json.loads(self._source[self._start:self._end])
            except ValueError as exc:
                raise SnapshotError(f"unreadable manifest: {exc}") from exc
            if not isinstance(value, dict):
                raise SnapshotError("a manifest is not a JSON object")
            self._value = value
        return self._value

    def __getitem__(self, key: str) -> Any:
        return self.value()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.value().get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self.value()

    def __iter__(self) -> Iterator[str]:
        return iter(self.value())

    def __len__(self) -> int:
        return len(self.value())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazyJSON):
            return self.text() == other.text() or self.value() == other.value()
        return isinstance(other, Mapping) and self.value() == dict(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"LazyJSON({self.value()!r})"


#: The key of ``encode``'s value holding every node manifest's JSON text, one per line; a
#: snapshot file keeps it after the rest, so reading a snapshot decodes none of them.
MANIFESTS = "manifests"
#: Where the episode's locations and a node's manifest sit in their encoded rows.
_LOCATIONS = [f.name for f in dataclasses.fields(Episode)].index("locations")
_MANIFEST = [f.name for f in dataclasses.fields(Node)].index("manifest")


def encode(episode: Episode, plan: Plan | None = None) -> dict[str, Any]:
    """The JSON value of an episode and (optionally) its plan."""
    codec = _Codec()
    row = codec.encoder(Episode)(episode)
    row[_LOCATIONS] = json.dumps(row[_LOCATIONS], separators=(",", ":"))  # decoded when first looked up
    data: dict[str, Any] = {"episode": row}
    if plan is not None:
        encode_node = codec.encoder(Node)
        manifests: list[str] = []
        at = 0

        def node(nid: str) -> list[Any]:
            nonlocal at
            found = plan.node(nid)
            manifest = found.manifest
            row: list[Any] = encode_node(found)
            text = manifest.text() if isinstance(manifest, LazyJSON) else json.dumps(
                row[_MANIFEST], separators=(",", ":"), allow_nan=False)  # ASCII, no line breaks
            manifests.append(text)
            row[_MANIFEST] = [at, at + len(text)]
            at += len(text) + 1
            return row

        data["plan"] = {"order": list(plan.order), "nodes": [node(nid) for nid in plan.added],
                        "pieces": {nid: p for nid in plan.added if (p := plan.pieces_of(nid)) is not None}}
        data[MANIFESTS] = "\n".join(manifests)
    data["files"] = codec.files
    return data


def decode_episode(data: Mapping[str, Any]) -> Episode:
    """The episode of an ``encode``d value."""
    try:
        return _Codec(list(data["files"])).decoder(Episode)(data["episode"])  # type: ignore[no-any-return]
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise SnapshotError(f"unreadable snapshot: {exc}") from exc


def decode_plan(data: Mapping[str, Any], episode: Episode) -> Plan:
    """The plan of an ``encode``d value, for ``episode`` (its graph is made on first use)."""
    from .plan import Plan

    try:
        decode_node = _Codec(list(data["files"])).decoder(Node)

        source = data[MANIFESTS]
        if not isinstance(source, (str, bytes)):
            raise SnapshotError("the manifests are not text")

        def node(row: list[Any]) -> Node:
            start, end = row[_MANIFEST]
            if not (isinstance(start, int) and isinstance(end, int) and 0 <= start <= end <= len(source)):
                raise SnapshotError("a manifest is out of place")
            return decode_node([*row[:_MANIFEST], LazyJSON(source, start, end), *row[_MANIFEST + 1:]])  # type: ignore[no-any-return]

        raw = data["plan"]
        nodes = [node(row) for row in raw["nodes"]]
        order = [str(nid) for nid in raw["order"]]
        if sorted(n.id for n in nodes) != sorted(order):
            raise SnapshotError("plan order does not match its nodes")
        pieces = {str(k): [str(x) for x in v] for k, v in raw["pieces"].items()}
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise SnapshotError(f"unreadable snapshot: {exc}") from exc
    return Plan(episode, order=order, nodes={n.id: n for n in nodes}, pieces=pieces)


# --------------------------------------------------------------------------------------------
# What a snapshot was made from


def _asset_paths(episode: Episode) -> list[str]:
    """User files the episode names (resolved), beyond those the planner digests."""
    paths = [p for c in episode.characters.values() for p in c.references]
    paths += [c.sora_character for c in episode.characters.values() if c.sora_character]
    paths += [p.file for p in episode.plates.values() if p.file]
    paths += [s.voiceover for s in episode.shots.values() if s.voiceover]
    music = episode.delivery.get("music")
    if isinstance(music, str):
        paths.append(music)
    subtitles = episode.delivery.get("subtitles")
    if isinstance(subtitles, dict) and isinstance(subtitles.get("font"), str):
        paths.append(subtitles["font"])
    return paths


#: Objects made while loading above which they are moved out of the collector's sight.
FREEZE_ABOVE = 50_000


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cycle collection while a big acyclic tree is built: CPython would re-scan it again and again.

    A big load is then frozen (``gc.freeze``): the episode and plan live until the process ends,
    and every later collection would otherwise walk their million objects once more.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if gc.get_count()[0] > FREEZE_ABOVE:
            gc.freeze()
        if was:
            gc.enable()


# --------------------------------------------------------------------------------------------
# The store


class SpecCache:
    """Load episodes and plan them through snapshots under ``<cache_dir>/specs/``.

    Only a cache made with ``save`` writes (``build`` does; ``plan``, ``status`` and the like
    only read, and their cold runs do not pay for encoding a snapshot).
    """

    def __init__(self, cache_dir: str | Path, *, save: bool = True) -> None:
        self.folder = Path(cache_dir) / "specs"
        self.save = save
        self._hit: tuple[Episode, dict[str, Any]] | None = None
        self._miss: tuple[Episode, dict[str, Any], float, str] | None = None
        #: After an edit served by ``spec_delta``: what it was patched from.
        self._delta: _Edit | None = None
        self._lint_pending: tuple[Episode, Any, dict[str, str], list[Any], dict[str, Any]] | None = None
        #: For tests and benchmarks: "hit", "delta" (an edit patched in, ``spec_delta``), "miss" or ""
        #: (not loaded yet).
        self.last = ""
        self._identity_now: dict[str, Any] | None = None
        self._entries: dict[str, Any] | None = None
        self._saved: dict[str, Any] | None = None

    def _identity(self, path: Path) -> dict[str, Any]:
        return identity(path)

    def _entry_path(self, ident: Mapping[str, Any]) -> Path:
        return entry_path(self.folder, ident)

    def inputs(self) -> dict[str, Any] | None:
        """What the snapshot serving this run was made from (loaded, or saved by this run), else None."""
        if self._hit is not None:
            return dict(self._hit[1]["inputs"])
        return self._saved

    def load(self, path: str | Path) -> Episode:
        """The episode at ``path``: from its snapshot when nothing changed, else loaded (``spec.load_episode``)."""
        with _gc_paused():
            return self._load(Path(path))

    def _load(self, path: Path) -> Episode:
        self._delta = None
        identity = self._identity_now = self._identity(path)
        started = time.time()
        try:
            with open(path, "rb") as handle:  # read once: the digest checked and recorded is of the text loaded
                raw: bytes | None = handle.read()
        except OSError:
            raw = None
        spec_digest = sha256_hex(raw) if raw is not None else None
        # The inputs alone first (a few KB): after an edit they no longer hold, and the snapshot
        # itself (~2 KB per shot) need not be decoded just to find that out.
        head = read_json(self._entry_path(identity).with_suffix(".inputs.json"))
        head = head["inputs"] if isinstance(head, dict) and isinstance(head.get("inputs"), dict) else None
        data = self._read(identity, head, spec_digest)
        if data is not None:
            try:
                episode = decode_episode(data)
            except SnapshotError:
                pass
            else:
                self._hit, self._miss, self.last = (episode, data), None, "hit"
                return episode
        from .spec import episode_from_text, load_episode  # YAML: only on a miss
        from .spec_yaml import spec_text

        if raw is None or spec_digest is None:
            return load_episode(path, identity["root"])  # which words the error
        text = spec_text(raw, str(path))
        self._hit = None
        edited = self._edited(identity, head, text)
        if edited is not None:
            episode, self.last = edited, "delta"
        else:
            episode, self.last = episode_from_text(text, str(path), identity["root"]), "miss"
        self._miss = (episode, {**identity, "spec": spec_digest}, started, text)
        return episode

    def _edited(self, identity: dict[str, Any], head: dict[str, Any] | None, text: str) -> Episode | None:
        """The episode from the last snapshot when only some shots' lines changed (``spec_delta``), else None.

        ``head``: the inputs the last snapshot recorded (``<id>.inputs.json``)."""
        from . import spec_delta
        from .spec import project_routes

        if head is None or not inputs_hold(head, identity, spec=False):
            return None
        entry = self._entry_path(identity)
        kept = read_json(entry.with_suffix(".delta.json"))
        if not isinstance(kept, dict) or kept.get("spec") != head.get("spec") or not isinstance(kept.get("text"), str):
            return None
        segments = spec_delta.Segments.from_json(kept.get("segments"))
        data = _read_snapshot(entry) if segments is not None else None
        if not isinstance(data, dict) or not isinstance(data.get("inputs"), dict) \
                or data["inputs"].get("spec") != kept["spec"]:
            return None
        try:
            old = decode_episode(data)
        except SnapshotError:
            return None
        patched = spec_delta.patch(old, segments, kept["text"], text, project_routes(Path(identity["root"])))  # type: ignore[arg-type]
        if patched is None:
            return None
        self._delta = _Edit(patched[0], data, old, patched[1], patched[2])
        return patched[0]

    def plan(self, episode: Episode, digest_file: Callable[[Path], str], routes: Mapping[str, Any] | None = None) -> Plan:
        """The plan of an episode from ``load``: from its snapshot, or planned and saved.

        ``routes`` is the project's catalog; the snapshot's identity holds shotmake.toml, so a
        snapshot never outlives the routes it was planned with.
        """
        with _gc_paused():
            return self._plan(episode, digest_file, routes)

    def _plan(self, episode: Episode, digest_file: Callable[[Path], str], routes: Mapping[str, Any] | None) -> Plan:
        from .plan import build_plan
        from .providers.catalog import ROUTES

        if self._hit is not None and self._hit[0] is episode:
            try:
                return decode_plan(self._hit[1], episode)
            except SnapshotError:
                pass
        digested: list[str] = []

        def digest(path: Path) -> str:
            digested.append(str(path))
            return digest_file(path)

        previous, changed = self._previous_plan(episode)
        if previous is not None:  # the files the reused nodes were made from are still the plan's inputs
            digested.extend(str(p) for p, _ in self._delta.data["inputs"].get("assets", []))  # type: ignore[union-attr]
        moves = self._delta.moves if previous is not None and self._delta is not None else None
        plan = build_plan(episode, digest, ROUTES if routes is None else routes, previous, changed, moves)
        if self.save and self._miss is not None and self._miss[0] is episode:
            self._save(episode, plan, self._miss[1], self._miss[2], digested, self._miss[3])
        return plan

    def _previous_plan(self, episode: Episode) -> tuple[Plan | None, list[str]]:
        """After an edit served by ``spec_delta``: the last snapshot's plan and the changed shots."""
        if self._delta is None or self._delta.episode is not episode:
            return None, []
        try:
            return decode_plan(self._delta.data, self._delta.old), self._delta.changed
        except SnapshotError:
            return None, []

    # -- lint ---------------------------------------------------------------------------------
    def lint(self, episode: Episode, env: Mapping[str, str], today: Any,
             routes: Mapping[str, Any] | None = None) -> list[Any]:
        """``lint.lint`` of an episode from ``load``, remembered beside its snapshot.

        Lint reads the episode, the date and the ``*_BASE_URL`` variables (``lint.OFFICIAL_ENDPOINTS``);
        findings are reused while all three are the same. After an edit served by ``spec_delta``,
        the per-shot findings of the shots the edit did not reach are the last run's.
        """
        urls = {k: v for k, v in env.items() if k.endswith(LINT_ENV_SUFFIX)}
        key = None
        if self._hit is not None and self._hit[0] is episode and self._identity_now is not None:
            key = _lint_key(self._hit[1]["inputs"], today, urls)
            cached = self._read_lint(key)
            if cached is not None:
                return cached
        known = None
        if self._delta is not None and self._delta.episode is episode:
            stored = self._read_lint_shots(_lint_key(self._delta.data["inputs"], today, urls))
            if stored is not None:
                from .lint import shots_reading

                reading = shots_reading(episode, self._delta.changed)
                moves = self._delta.moves
                known = {sid: [(f if moves is None else moves.record(f), owner) for f, owner in stored.get(sid, [])]
                         for sid in episode.shots if sid not in reading}
        from .lint import lint_shots

        with _gc_paused():  # lint makes ~10 short-lived objects per spec value and no cycles
            findings, per_shot = lint_shots(episode, env=env, today=today, known=known, **(
                {} if routes is None else {"routes": routes}))
        if self.save:
            if key is not None:
                self._write_lint(key, findings, per_shot)
            else:  # its key is the inputs the snapshot saved with the plan will record
                self._lint_pending = (episode, today, urls, findings, per_shot)
        return findings

    def _write_lint(self, key: str, findings: list[Any], per_shot: Mapping[str, Any]) -> None:
        codec = _Codec()
        try:
            rows = [codec.encoder(type(f))(f) for f in findings]
            shots = {sid: [[codec.encoder(type(f))(f), owner] for f, owner in found]
                     for sid, found in per_shot.items() if found}
        except SnapshotError:
            return
        write_json(self._entry_path(self._identity_now).with_suffix(".lint.json"),  # type: ignore[arg-type]
                    json.dumps({"key": key, "files": codec.files, "findings": rows, "shots": shots},
                               separators=(",", ":")))

    def _read_lint(self, key: str) -> list[Any] | None:
        """The findings remembered under ``key``, or None."""
        found = self._lint_file(key, "findings")
        if found is None:
            return None
        rows, decode = found
        try:
            return [decode(row) for row in rows]
        except (ValueError, TypeError, IndexError, AttributeError):
            return None

    def _read_lint_shots(self, key: str) -> dict[str, list[tuple[Any, str | None]]] | None:
        """The per-shot findings remembered under ``key`` (shots without findings are absent)."""
        found = self._lint_file(key, "shots")
        if found is None:
            return None
        shots, decode = found
        try:
            return {str(sid): [(decode(row), None if owner is None else str(owner)) for row, owner in rows]
                    for sid, rows in shots.items()}
        except (ValueError, TypeError, IndexError, AttributeError):
            return None

    def _lint_file(self, key: str, part: str) -> tuple[Any, Callable[[Any], Any]] | None:
        """``part`` of the lint file written under ``key``, and the decoder of its findings. Lint's
        module is imported only when there is a finding to decode (the usual spec has none)."""
        data = read_json(self._entry_path(self._identity_now).with_suffix(".lint.json"))  # type: ignore[arg-type]
        if not isinstance(data, dict) or data.get("key") != key or not isinstance(data.get(part), (list, dict)) \
                or not isinstance(data.get("files"), list):
            return None
        if not data[part]:
            return data[part], _no_finding
        from .lint import Finding

        return data[part], _Codec([str(f) for f in data["files"]]).decoder(Finding)

    # -- index entries ------------------------------------------------------------------------
    def prefetch(self, cache: Cache, plan: Plan) -> None:
        """Prime ``cache`` for the plan's lookups: entries remembered from the last run, then one
        query for the rest (``Cache.prefetch``); keys the cache assumes cached need neither."""
        keys = [key for nid in plan.order if not cache.assumes(key := plan.node(nid).key)]
        if len(keys) < len(plan.order) // 2:  # an edit's few: one query, not the remembered entries of all
            cache.prefetch(keys)
            return
        if self._entries is None:
            self._entries = self._read_entries()
        cache.remember(self._entries)
        cache.prefetch(keys)

    @property
    def identity(self) -> dict[str, Any] | None:
        """What names the spec last loaded (``freshness.identity``), or None before a load."""
        return self._identity_now

    def remember(self, cache: Cache, plan: Plan) -> None:
        """Keep the plan's index entries for the next run (written only when they changed)."""
        if not self.save or self._identity_now is None:
            return
        entries = cache.known_entries(plan.node(nid).key for nid in plan.order)
        if entries == self._entries:
            return
        self._entries = entries
        write_json(self._entry_path(self._identity_now).with_suffix(".index.json"),
                    json.dumps({"format": FORMAT, "entries": entries}, separators=(",", ":")))

    def _read_entries(self) -> dict[str, Any]:
        if self._identity_now is None:
            return {}
        data = read_json(self._entry_path(self._identity_now).with_suffix(".index.json"))
        try:
            entries = data["entries"] if data.get("format") == FORMAT else {}
        except (KeyError, TypeError, AttributeError):
            return {}
        return entries if isinstance(entries, dict) else {}

    # -- reading and writing ------------------------------------------------------------------
    def _read(self, ident: Mapping[str, Any], head: dict[str, Any] | None, digest: str | None) -> dict[str, Any] | None:
        """The snapshot whose inputs hold (``head``: what the inputs file says they are; ``digest``: the spec's)."""
        if head is not None and not inputs_hold(head, ident, digest=digest):
            return None
        data = _read_snapshot(self._entry_path(ident))
        if data is None or not isinstance(data.get("inputs"), dict):
            return None
        return data if inputs_hold(data["inputs"], ident, digest=digest) else None

    def _save(self, episode: Episode, plan: Plan, identity: Mapping[str, Any], started: float,
              digested: list[str], source: str) -> None:
        threshold = (started - RACY_SECONDS) * 1e9
        includes: list[tuple[str, str | None]] = [(p, content_of(p)) for p in episode.includes]
        assets: list[tuple[str, list[int] | None]] = [
            (p, stat_of(p)) for p in dict.fromkeys([*_asset_paths(episode), *digested])]
        stats = [stat_of(str(identity["path"])), *(stat_of(str(p)) for p, _ in includes), *(s for _, s in assets)]
        if any(s is None or s[1] >= threshold for s in stats) or any(d is None for _, d in includes):
            return  # a file that just changed (or vanished) may change again unseen: load it next time too
        try:
            data = encode(episode, plan)
            data["inputs"] = {**identity, "includes": includes, "assets": assets}
            manifests = data.pop(MANIFESTS, "")
            text = json.dumps(data, separators=(",", ":"), allow_nan=False) + "\n" + manifests
        except (SnapshotError, TypeError, ValueError):
            return  # a value JSON cannot hold: this spec is simply loaded every time
        write_json(self._entry_path(identity), text)
        # Written after the snapshot: a stale one can only send a run down the full path, never
        # vouch for a snapshot (whose own inputs are checked again when it is read).
        write_json(self._entry_path(identity).with_suffix(".inputs.json"),
                   json.dumps({"inputs": data["inputs"]}, separators=(",", ":"), allow_nan=False))
        self._saved = json.loads(json.dumps(data["inputs"]))  # as the next run will read them
        self._save_text(episode, identity, source)
        if self._lint_pending is not None and self._lint_pending[0] is episode:
            _, today, urls, findings, per_shot = self._lint_pending
            self._write_lint(_lint_key(self._saved, today, urls), findings, per_shot)

    def _save_text(self, episode: Episode, identity: Mapping[str, Any], text: str) -> None:
        """Keep the spec's text and where its shots are, for ``spec_delta`` after the next edit."""
        from . import spec_delta

        target = self._entry_path(identity).with_suffix(".delta.json")
        segments = spec_delta.segment(text)
        if segments is None or not spec_delta.matches(segments, episode) or not spec_delta.plain(text):
            with contextlib.suppress(OSError):
                target.unlink()
            return
        write_json(target, json.dumps({"spec": identity["spec"], "text": text, "segments": segments.to_json()},
                                      separators=(",", ":")))
