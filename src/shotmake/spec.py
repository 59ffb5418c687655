"""Load an episode spec: YAML (with line marks) -> JSON Schema -> semantic checks -> model.

Every problem becomes a ``SpecError`` that names the file, line, column and field path and
says how to fix it, like a compiler: ``episodes/pilot.yaml:23:7: shots[3].characters[0]:
unknown character 'mai' (did you mean 'mei'?)``. Errors are collected and reported together.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping

import jsonschema
import networkx as nx
import yaml

from .errors import SourceLocation, SpecError, SpecErrors
from .model import Character, Episode, Sequence, SheetSpec, Shot, Style
from .prompts import placeholders
from .providers.catalog import ROUTES

try:  # the C composer is several times faster on big specs
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

#: Refuse specs whose alias expansion builds more values than the text could hold without
#: aliases (a "billion laughs" bomb): every plain value needs at least a few bytes of text.
BASE_VALUE_BUDGET = 100_000

DEFAULTS: Mapping[str, Any] = {
    "provider": "local",
    "duration": 8.0,
    "aspect": "16:9",
    "resolution": "720p",
    "fps": 24,
    "audio": True,
    "sheet_provider": "local-image",
}

_ALLOWED_TAGS = {
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}


@dataclass
class Document:
    """Parsed YAML data plus the source location of every field path in it."""

    data: Any
    #: Field path -> where its value starts (what most messages point at).
    locations: dict[str, SourceLocation]
    file: str
    #: Field path -> where its key starts (for unknown or duplicate fields).
    key_locations: dict[str, SourceLocation] = field(default_factory=dict)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return a ``did you mean 'x'?`` hint for the closest choice, or ''."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


def join_path(base: str, part: str | int) -> str:
    """Extend a field path: ``shots`` + 3 -> ``shots[3]``; ``shots[3]`` + ``id`` -> ``shots[3].id``."""
    if isinstance(part, int):
        return f"{base}[{part}]"
    return f"{base}.{part}" if base else part


# --------------------------------------------------------------------------------------------
# YAML with marks


def parse_yaml(text: str, file: str) -> Document:
    """Parse YAML text into plain data, recording where each field path came from."""
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = SourceLocation(file, mark.line + 1, mark.column + 1) if mark else None
        problem = exc.problem or str(exc)
        raise SpecError(f"invalid YAML: {problem}", location=loc, hint="check indentation and quoting") from exc
    except yaml.YAMLError as exc:
        raise SpecError(f"invalid YAML: {exc}", location=SourceLocation(file, 1, 1)) from exc
    locations: dict[str, SourceLocation] = {}
    key_locations: dict[str, SourceLocation] = {}
    if root is None:
        return Document(None, locations, file)
    builder = _Builder(file, locations, key_locations, BASE_VALUE_BUDGET + 4 * len(text))
    return Document(builder.build(root, ""), locations, file, key_locations)


class _Builder:
    """Turn a composed YAML node tree into dicts/lists/scalars with a location per path."""

    def __init__(self, file: str, locations: dict[str, SourceLocation],
                 key_locations: dict[str, SourceLocation], budget: int) -> None:
        self.file = file
        self.locations = locations
        self.key_locations = key_locations
        self.budget = budget
        self.count = 0
        self.constructor = yaml.SafeLoader("")  # only its scalar constructors are used

    def loc(self, node: yaml.Node) -> SourceLocation:
        return SourceLocation(self.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def build(self, node: yaml.Node, path: str) -> Any:
        self.count += 1
        if self.count > self.budget:
            raise SpecError(
                f"spec expands to more than {self.budget:,} values",
                location=self.loc(node),
                field=path,
                hint="YAML aliases are expanding recursively (a 'billion laughs' document?)",
            )
        if node.tag not in _ALLOWED_TAGS:
            raise SpecError(
                f"unsupported YAML tag '{node.tag}'",
                location=self.loc(node),
                field=path,
                hint="only plain mappings, lists, strings, numbers, booleans and null are allowed",
            )
        self.locations[path] = self.loc(node)
        if isinstance(node, yaml.MappingNode):
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
                    raise SpecError("mapping keys must be plain strings", location=self.loc(key_node), field=path,
                                    hint="YAML merge keys (<<) and non-string keys are not supported")
                key = str(key_node.value)
                child = join_path(path, key)
                if key in result:
                    raise SpecError(
                        f"duplicate key '{key}'",
                        location=self.loc(key_node),
                        field=child,
                        hint=f"'{key}' is already set at line {self.key_locations[child].line}",
                    )
                self.key_locations[child] = self.loc(key_node)
                result[key] = self.build(value_node, child)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, join_path(path, i)) for i, item in enumerate(node.value)]
        value = self.constructor.construct_object(node)
        if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
            raise SpecError("NaN and infinity are not allowed", location=self.loc(node), field=path)
        return value


# --------------------------------------------------------------------------------------------
# JSON Schema


@cache
def schema() -> dict[str, Any]:
    """The episode JSON Schema shipped with the package (also at ``schemas/``)."""
    text = resources.files("shotmake").joinpath("schemas/episode.schema.json").read_text(encoding="utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


@cache
def _validator() -> jsonschema.protocols.Validator:
    return jsonschema.Draft202012Validator(schema())


def _schema_error(error: jsonschema.ValidationError, doc: Document) -> SpecError:
    path = ""
    for part in error.absolute_path:
        path = join_path(path, part)
    location = doc.locations.get(path) or SourceLocation(doc.file, 1, 1)
    validator = error.validator
    hint = ""
    message = error.message
    if validator == "required":
        missing = [p for p in error.validator_value if isinstance(error.instance, dict) and p not in error.instance]
        message = f"missing required field '{missing[0]}'" if missing else message
        hint = f"add '{missing[0]}:'" if missing else ""
    elif validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(error.schema.get("properties", {}))
        extra = [k for k in error.instance if k not in allowed]
        if extra:
            path = join_path(path, extra[0])
            location = doc.key_locations.get(path, location)
            message = f"unknown field '{extra[0]}'"
            hint = did_you_mean(extra[0], allowed) or f"allowed fields: {', '.join(allowed)}"
    elif validator == "enum":
        message = f"{error.instance!r} is not allowed"
        hint = did_you_mean(str(error.instance), [str(v) for v in error.validator_value]) or (
            "allowed: " + ", ".join(str(v) for v in error.validator_value)
        )
    elif validator == "type":
        message = f"expected {error.validator_value}, got {type(error.instance).__name__} {error.instance!r}"
    elif validator == "pattern":
        message = f"{error.instance!r} is not a valid name"
        hint = "use letters, digits, '-', '_' and '.', starting with a letter or digit"
    elif validator == "oneOf" and path.endswith(".sheet"):
        message = "sheet must be true/false or a mapping"
        hint = "e.g. sheet: {provider: gemini-3-pro-image}"
    return SpecError(message, location=location, field=path, hint=hint)


def validate_schema(doc: Document) -> list[SpecError]:
    """Check the data against the JSON Schema; return errors sorted by position."""
    errors = [_schema_error(e, doc) for e in _validator().iter_errors(doc.data)]
    errors.sort(key=lambda e: (e.location.line, e.location.column) if e.location else (0, 0))
    return errors


# --------------------------------------------------------------------------------------------
# Semantic checks and the model


def load_episode(path: str | Path) -> Episode:
    """Read, validate and check an episode file; raise ``SpecError`` listing every problem."""
    file = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise SpecError(f"cannot read spec: {exc.strerror}", location=SourceLocation(file, 1, 1)) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpecError("file is not valid UTF-8", location=SourceLocation(file, line, 1),
                        hint="save the spec as UTF-8") from exc
    return episode_from_text(text, file)


def episode_from_text(text: str, file: str) -> Episode:
    """Build an ``Episode`` from YAML text; ``file`` is used in messages and for relative paths."""
    doc = parse_yaml(text, file)
    if not isinstance(doc.data, dict):
        raise SpecError("the spec must be a mapping with 'episode', 'shots' and 'sequences'",
                        location=SourceLocation(file, 1, 1))
    errors = validate_schema(doc)
    if errors:
        raise SpecErrors(errors) if len(errors) > 1 else errors[0]
    return _build(doc)


def _build(doc: Document) -> Episode:
    data = doc.data
    errors: list[SpecError] = []

    def err(path: str, message: str, hint: str = "") -> None:
        errors.append(SpecError(message, location=doc.locations.get(path), field=path, hint=hint))

    defaults = {**DEFAULTS, **data.get("defaults", {})}
    style_data = data.get("style", {})
    style = Style(look=style_data.get("look", ""), palette=style_data.get("palette", ""),
                  negative=style_data.get("negative", ""))

    def check_provider(path: str, name: str, kind: str) -> None:
        route = ROUTES.get(name)
        if route is None:
            err(path, f"unknown provider '{name}'", did_you_mean(name, ROUTES) or "see `shotmake providers`")
        elif route.kind != kind:
            err(path, f"provider '{name}' renders {route.kind}s, not {kind}s",
                "use a video route (local, veo-3.1, sora-2) for shots and an image route for sheets")

    for key in ("provider", "sheet_provider"):
        if key in data.get("defaults", {}):
            check_provider(f"defaults.{key}", defaults[key], "video" if key == "provider" else "image")

    characters: dict[str, Character] = {}
    for cid, cdata in data.get("characters", {}).items():
        base = join_path("characters", cid)
        sheet_value = cdata.get("sheet", False)
        sheet: SheetSpec | None = None
        if sheet_value is not False:
            sheet_fields = sheet_value if isinstance(sheet_value, dict) else {}
            provider = sheet_fields.get("provider", defaults["sheet_provider"])
            if "provider" in sheet_fields:
                check_provider(f"{base}.sheet.provider", provider, "image")
            sheet = SheetSpec(provider=provider, **{k: v for k, v in sheet_fields.items() if k != "provider"})
        characters[cid] = Character(
            id=cid,
            name=cdata.get("name", cid),
            description=cdata["description"],
            references=tuple(cdata.get("references", ())),
            sheet=sheet,
            cameo=cdata.get("cameo"),
            sora_character=cdata.get("sora_character"),
            location=doc.locations.get(base),
        )

    shots: dict[str, Shot] = {}
    for i, sdata in enumerate(data["shots"]):
        base = join_path("shots", i)
        sid = sdata["id"]
        if sid in shots:
            err(f"{base}.id", f"duplicate shot id '{sid}'",
                f"first defined at line {shots[sid].location.line if shots[sid].location else '?'}")
            continue
        for j, cid in enumerate(sdata.get("characters", ())):
            if cid not in characters:
                err(f"{base}.characters[{j}]", f"unknown character '{cid}'",
                    did_you_mean(cid, characters) or "declare it under 'characters:'")
        for cid in placeholders(sdata["prompt"]):
            if cid not in characters:
                err(f"{base}.prompt", f"placeholder '{{{cid}}}' names no character",
                    did_you_mean(cid, characters) or "declare it under 'characters:' or remove the braces")
        provider = sdata.get("provider", defaults["provider"])
        if "provider" in sdata:
            check_provider(f"{base}.provider", provider, "video")
        shots[sid] = Shot(
            id=sid,
            prompt=sdata["prompt"],
            provider=provider,
            model=sdata.get("model", defaults.get("model", "")) if provider == defaults["provider"]
            else sdata.get("model", ""),
            duration=float(sdata.get("duration", defaults["duration"])),
            aspect=sdata.get("aspect", defaults["aspect"]),
            resolution=sdata.get("resolution", defaults["resolution"]),
            fps=int(sdata.get("fps", defaults["fps"])),
            characters=tuple(sdata.get("characters", ())),
            seed=sdata.get("seed"),
            negative=sdata.get("negative", ""),
            audio=bool(sdata.get("audio", defaults["audio"])),
            after=sdata.get("after"),
            title=sdata.get("title", ""),
            path=base,
            location=doc.locations.get(base),
        )

    # Continuity edges must point at real shots and must not loop.
    continuity = nx.DiGraph()
    for shot in shots.values():
        if shot.after is None:
            continue
        if shot.after not in shots:
            err(f"{shot.path}.after", f"unknown shot '{shot.after}'", did_you_mean(shot.after, shots))
        elif shot.after == shot.id:
            err(f"{shot.path}.after", "a shot cannot continue from itself")
        else:
            continuity.add_edge(shot.after, shot.id)
    try:
        cycle = nx.find_cycle(continuity)
    except nx.NetworkXNoCycle:
        cycle = []
    if cycle:
        ring = " -> ".join([a for a, _ in cycle] + [cycle[0][0]])
        err(f"{shots[cycle[0][1]].path}.after", f"dependency cycle: {ring}",
            "break the loop: one of these shots must not use 'after:'")

    sequences: list[Sequence] = []
    seen_sequences: dict[str, str] = {}
    for i, qdata in enumerate(data["sequences"]):
        base = join_path("sequences", i)
        qid = qdata["id"]
        if qid in seen_sequences:
            err(f"{base}.id", f"duplicate sequence id '{qid}'")
            continue
        seen_sequences[qid] = base
        for j, sid in enumerate(qdata["shots"]):
            if sid not in shots:
                err(f"{base}.shots[{j}]", f"unknown shot '{sid}'", did_you_mean(sid, shots) or "declare it under 'shots:'")
        sequences.append(Sequence(id=qid, shots=tuple(qdata["shots"]), title=qdata.get("title", ""), path=base,
                                  location=doc.locations.get(base)))

    if errors:
        errors.sort(key=lambda e: (e.location.line, e.location.column) if e.location else (0, 0))
        raise SpecErrors(errors) if len(errors) > 1 else errors[0]

    name = data["episode"]
    return Episode(
        name=name,
        source=doc.file,
        output=data.get("output", f"{name}.mp4"),
        style=style,
        characters=characters,
        shots=shots,
        sequences=tuple(sequences),
        title=data.get("title", ""),
        locations=doc.locations,
    )
