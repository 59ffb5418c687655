"""Load an episode spec: YAML (with line marks) -> JSON Schema -> semantic checks -> model.

Every problem becomes a ``SpecError`` that names the file, line, column and field path and
says how to fix it, like a compiler: ``episodes/pilot.yaml:23:7: shots[3].characters[0]:
unknown character 'mai' (did you mean 'mei'?)``. Errors are collected and reported together.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .dialogue import base_language, languages
from .errors import SourceLocation, SpecError, SpecErrors
from .formats import (
    AUDIO_EXTENSIONS,
    FONT_EXTENSIONS,
    IMAGE_EXTENSIONS,
    REFERENCE_EXTENSIONS,
    RENDITIONS,
    VIDEO_EXTENSIONS,
    extension_problem,
)
from .model import (
    Character,
    Episode,
    Line,
    Plate,
    Sequence,
    SheetSpec,
    Shot,
    Style,
    Transition,
    Voice,
    clip_seconds,
    sequence_seconds,
    shown_seconds,
)
from .project import find_root
from .prompts import placeholders, shot_characters
from .providers.catalog import Route
from .spec_schema import validate_schema
from .spec_yaml import Document, Marks, parse_yaml, read_document

DEFAULTS: Mapping[str, Any] = {
    "provider": "local",
    "duration": 8.0,
    "aspect": "16:9",
    "resolution": "720p",
    "fps": 24,
    "audio": True,
    "sheet_provider": "local-image",
}

def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return a ``did you mean 'x'?`` hint for the closest choice, or ''."""
    import difflib  # only to word an error

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


def join_path(base: str, part: str | int) -> str:
    """Extend a field path: ``shots`` + 3 -> ``shots[3]``; ``shots[3]`` + ``id`` -> ``shots[3].id``."""
    if isinstance(part, int):
        return f"{base}[{part}]"
    return f"{base}.{part}" if base else part


# --------------------------------------------------------------------------------------------
# Semantic checks and the model


#: A voice sample: a recording, or a clip the character speaks in (what the adapters send as audio/video).
VOICE_SAMPLE_EXTENSIONS = (".wav", ".mp3", ".mp4", ".mov")
#: The largest seed (Veo takes a uint32); take n of a shot uses its seed + n - 1.
MAX_SEED = 2**32 - 1
#: Files an episode may pull in through nested includes.
MAX_INCLUDE_DEPTH = 16


def load_episode(path: str | Path, root: str | Path | None = None) -> Episode:
    """Read, validate and check an episode file and its includes; raise ``SpecError`` listing every problem."""
    spec = Path(path)
    doc = read_document(spec, str(path))
    return _episode_from_document(doc, spec, Path(root) if root is not None else find_root(spec))


def episode_from_text(text: str, file: str, root: str | Path | None = None) -> Episode:
    """Build an ``Episode`` from YAML text; ``file`` names it in messages and anchors relative paths."""
    spec = Path(file)
    return _episode_from_document(parse_yaml(text, file), spec,
                                  Path(root) if root is not None else spec.absolute().parent)


def _episode_from_document(doc: Document, spec: Path, root: Path) -> Episode:
    if not isinstance(doc.data, dict):
        raise SpecError("the spec must be a mapping with 'episode', 'shots' and 'sequences'",
                        location=SourceLocation(doc.file, 1, 1))
    errors = validate_schema(doc)
    if errors:
        raise SpecErrors(errors) if len(errors) > 1 else errors[0]
    root = root.resolve()
    included: list[tuple[Document, Path]] = []
    _collect_includes(doc, spec.absolute(), root, included, [spec.resolve()])
    return _build(doc, spec.absolute(), root, included, project_routes(root))


def project_routes(root: Path) -> Mapping[str, Route]:
    """The routes a project may name: the built-in catalog plus its ``shotmake.toml``'s ``[routes]``."""
    from .config import load_config

    return load_config(root).catalog


def project_file(base: Path, value: str, root: Path) -> tuple[Path | None, str]:
    """Resolve ``value`` (relative to the directory ``base``) to a regular file inside ``root``.

    Returns ``(path, "")`` or ``(None, problem)`` with problem ``outside`` (absolute, ``../``,
    or a symlink that leads out), ``missing`` (nothing there, or not a regular file: a
    directory, a FIFO) or a reason the OS gave (a NUL byte, a name too long, a symlink loop).
    """
    if os.path.isabs(value):
        return None, "outside"
    try:
        target = (base / value).resolve(strict=False)
        if not target.is_relative_to(root):
            return None, "outside"
        return (target, "") if target.is_file() else (None, "missing")
    except ValueError:  # a NUL byte in the name
        return None, "the name contains a NUL byte"
    except RuntimeError:  # Python 3.11 reports symlink loops this way
        return None, "a symlink loop"
    except OSError as exc:
        return None, exc.strerror or str(exc)


#: Seconds between keyframes of a conformed clip (``conform.DeliveryFormat.gop``; a test keeps them equal).
CONFORM_GOP_SECONDS = 0.5


def _voice(value: Any, path: str, base: Path, asset: Callable[[str, str, Path, tuple[str, ...]], str]) -> Voice | None:
    """A character's ``voice:``: the description as written, the sample resolved like any asset."""
    if not isinstance(value, dict):
        return None
    sample = value.get("sample")
    return Voice(description=value.get("description", ""),
                 sample=asset(f"{path}.sample", sample, base, VOICE_SAMPLE_EXTENSIONS) if sample is not None else None)


def _check_dialogue(shot: Shot, characters: Mapping[str, Character], err: Callable[[str, str, str], None]) -> None:
    """Each line is spoken by a character in the shot, inside the shot's clip."""
    present = shot_characters(shot)
    for j, line in enumerate(shot.dialogue):
        path = f"{shot.path}.dialogue[{j}]"
        if line.speaker not in characters:
            err(f"{path}.speaker", f"unknown character '{line.speaker}'",
                did_you_mean(line.speaker, characters) or "declare it under 'characters:'")
        elif line.speaker not in present:
            err(f"{path}.speaker", f"'{line.speaker}' speaks but is not in the shot",
                f"add it to the shot's characters: [{', '.join([*present, line.speaker])}], "
                "or give the line to a character in the shot")
        if line.start is not None and line.start >= shot.duration and not shot.extends:
            err(f"{path}.start", f"the line starts at {line.start:g}s, after the {shot.duration:g}s shot ends",
                f"start it within 0..{shot.duration:g}")
        if line.end is not None and line.start is not None and line.end <= line.start:
            err(f"{path}.end", f"the line ends ({line.end:g}s) before it starts ({line.start:g}s)",
                "set end after start")
        elif line.end is not None and line.end > shot.duration + 1e-9 and not shot.extends:
            err(f"{path}.end", f"the line ends at {line.end:g}s, after the {shot.duration:g}s shot",
                f"end it by {shot.duration:g}")


def find_cycle(edges: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str]]:
    """The first loop a depth-first walk of ``edges`` (node -> successors, in order) meets, as edges; else [].

    The cycle starts at the node its closing edge returns to, as ``networkx.find_cycle``
    reports it: checking a spec's shot links must not import a graph library (~90 ms) when
    most specs have a handful of links or none.
    """
    explored: set[str] = set()
    for start in edges:
        if start in explored:
            continue
        path, on_path, seen = [start], {start}, {start}
        pending = [iter(edges[start])]
        while pending:
            for head in pending[-1]:
                if head in on_path:
                    ring = path[path.index(head):]
                    return list(zip(ring, [*ring[1:], head], strict=True))
                if head in seen or head in explored:
                    continue
                seen.add(head)
                path.append(head)
                on_path.add(head)
                pending.append(iter(edges.get(head, ())))
                break
            else:
                pending.pop()
                on_path.discard(path.pop())
        explored |= seen
    return []


def check_links(shots: Mapping[str, Shot], err: Callable[..., None]) -> None:
    """Shot-to-shot edges (continuity and extension) point at real shots and do not loop."""
    edges: dict[str, dict[str, str]] = {}  # source -> {shot: field}, in spec order (a DiGraph's adjacency)
    for shot in shots.values():
        for field_name in ("after", "extends"):
            source = getattr(shot, field_name)
            if source is None:
                continue
            if source not in shots:
                err(f"{shot.path}.{field_name}", f"unknown shot '{source}'", did_you_mean(source, shots))
            elif source == shot.id:
                err(f"{shot.path}.{field_name}", f"a shot cannot {'continue' if field_name == 'after' else 'extend'} itself")
            else:
                edges.setdefault(source, {})[shot.id] = field_name
                edges.setdefault(shot.id, {})
    cycle = find_cycle(edges)
    if cycle:
        ring = " -> ".join([a for a, _ in cycle] + [cycle[0][0]])
        last = shots[cycle[0][1]]
        err(f"{last.path}.{edges[cycle[0][0]][cycle[0][1]]}", f"dependency cycle: {ring}",
            "break the loop: one of these shots must not depend on the next")


def _check_timing(shots: Mapping[str, Shot], sequences: list[Sequence], delivery: Mapping[str, Any],
                  err: Callable[[str, str, str], None]) -> None:
    """Refuse what assembly would fail on after every clip is paid for: transitions longer than
    the shots they join, a poster past the end, a rendition listed twice."""
    for shot in shots.values():  # an extension's clip holds its whole chain: known only now
        length = clip_seconds(shots, shot.id)
        if shot.extends and (shot.trim_out is not None and shot.trim_out > length or shot.trim_in >= length):
            err(f"{shot.path}.trim", f"trim falls outside the {length:g}s extended clip", "trim within 0..duration")
    for seq in sequences:
        t = seq.transition
        if t.kind == "cut" or t.seconds <= 0 or len(seq.shots) < 2 or any(s not in shots for s in seq.shots):
            continue
        last = len(seq.shots) - 1
        for j, sid in enumerate(seq.shots):
            shown = shown_seconds(shots, sid)
            if j in (0, last) and shown < t.seconds:
                err(f"{seq.path}.transition", f"a {t.seconds:g} s {t.kind} is longer than shot '{sid}' "
                    f"({shown:g} s shown)", "shorten the transition, or trim less of the shot")
                break
            need = 2 * t.seconds + CONFORM_GOP_SECONDS
            if 0 < j < last and shown < need:
                err(f"{seq.path}.transition", f"shot '{sid}' shows {shown:g} s, less than the {need:g} s two "
                    f"{t.seconds:g} s {t.kind}s and a keyframe between them need",
                    "shorten the transition, or trim less of the shot")
                break
    for j, kind in enumerate(delivery.get("renditions", ())):
        if kind in delivery["renditions"][:j]:
            err(f"delivery.renditions[{j}]", f"rendition '{kind}' is listed twice", "list each rendition once")
    poster_at = delivery.get("poster_at")
    if poster_at is not None:
        length = sum(sequence_seconds(shots, seq) for seq in sequences)
        used = [shots[sid].fps for seq in sequences for sid in seq.shots if sid in shots]
        fps = delivery.get("format", {}).get("fps") or min(used, default=24)
        last_frame = max(0.0, length - 1 / fps)  # a seek past the last frame's start finds no frame
        if poster_at > last_frame:
            err("delivery.poster_at", f"the poster at {poster_at:g} s is past the end of the episode "
                f"({length:g} s)", f"pick a second between 0 and {round(last_frame, 2):g}")


def recheck_shots(episode: Episode, changed: Iterable[Shot], err: Callable[..., None]) -> None:
    """What a full load checks across shots, again for an episode whose ``changed`` shots were
    built anew (``spec_delta``): their dialogue, then transitions, extensions and the poster."""
    for shot in changed:
        _check_dialogue(shot, episode.characters, err)
    _check_timing(episode.shots, list(episode.sequences), episode.delivery, err)


def _windows_hint(value: str) -> str:
    """A fix for a path written the Windows way (``vo\\line.wav``, ``C:\\proj\\x.png``), or ''."""
    if "\\" in value or re.match(r"[A-Za-z]:", value):
        return "write paths with '/' between folders, relative to the spec (e.g. vo/line.wav), not C:\\ or \\"
    return ""


def _shown(value: str) -> str:
    """A path as messages show it: never a 5,000-character line."""
    return value if len(value) <= 80 else value[:60] + "..." + value[-12:]


def _collect_includes(doc: Document, spec: Path, root: Path, out: list[tuple[Document, Path]],
                      chain: list[Path]) -> None:
    """Depth-first: a file's includes come before the file itself (later files override style)."""
    for i, rel in enumerate(doc.data.get("include", ())):
        field = f"include[{i}]"
        where = doc.locations.get(field)
        display = os.path.normpath(os.path.join(os.path.dirname(doc.file), rel))
        found, problem = project_file(spec.parent, rel, root)
        if problem == "outside":
            raise SpecError(f"include '{_shown(rel)}' is outside the project", location=where, field=field,
                            hint=_windows_hint(rel) or f"keep series files under {root}")
        if found is None and problem != "missing":
            raise SpecError(f"cannot use include '{_shown(rel)}': {problem}", location=where, field=field)
        resolved = found if found is not None else (spec.parent / rel).resolve()
        if any(resolved == done for _, done in out):
            continue  # two series files that include one bible: read it once, define its ids once
        if resolved in chain:
            ring = " -> ".join(p.name for p in [*chain, resolved])
            raise SpecError(f"include cycle: {ring}", location=where, field=field, hint="remove one of the includes")
        if len(chain) > MAX_INCLUDE_DEPTH:
            raise SpecError(f"includes nest deeper than {MAX_INCLUDE_DEPTH}", location=where, field=field)
        if found is None:
            raise SpecError(f"included file '{_shown(rel)}' does not exist", location=where, field=field,
                            hint=_windows_hint(rel) or "paths are relative to the including file")
        child = read_document(resolved, display)
        if child.data is None:
            continue
        if not isinstance(child.data, dict):
            raise SpecError("an included file must be a mapping", location=SourceLocation(display, 1, 1))
        errors = validate_schema(child, "series")
        if errors:
            raise SpecErrors(errors) if len(errors) > 1 else errors[0]
        _collect_includes(child, resolved, root, out, [*chain, resolved])
        out.append((child, resolved))


def asset_resolver(root: Path, err: Callable[..., None]) -> Callable[[str, str, Path, tuple[str, ...]], str]:
    """``asset(field, value, base, accepted)``: resolve a media file named in the spec (relative to
    the file ``base`` that named it, inside ``root``, with an extension of ``accepted``: it is opened
    as that format); problems go to ``err``."""

    def asset(path: str, value: str, base: Path, accepted: tuple[str, ...]) -> str:
        found, problem = project_file(base.parent, value, root)
        if problem == "outside":
            err(path, f"'{_shown(value)}' is outside the project", _windows_hint(value) or f"keep assets under {root}")
        elif problem == "missing":
            err(path, f"file '{_shown(value)}' does not exist",
                _windows_hint(value) or "paths are relative to the spec that names them")
        elif problem:
            err(path, f"cannot use file '{_shown(value)}': {problem}")
        elif wrong := extension_problem(value, accepted):
            err(path, f"cannot use '{_shown(value)}': {wrong}", "convert the file (its extension says what it is)")
        return str(found) if found is not None else value

    return asset


def provider_check(routes: Mapping[str, Route], err: Callable[..., None]) -> Callable[[str, str, str], None]:
    """``check(field, name, kind)``: the route ``name`` exists and renders ``kind`` (video or image)."""

    def check_provider(path: str, name: str, kind: str) -> None:
        route = routes.get(name)
        if route is None:
            hint = did_you_mean(name, routes) or "`shotmake routes` lists every route"
            meant = routes.get(hint.partition("'")[2].rpartition("'")[0])
            if meant is not None and meant.status == "retired":  # say it before the hint leads into SM120
                hint += (f" it was retired on {meant.retired_on}; its successor is {meant.successor}" if meant.successor
                         else f" it was retired on {meant.retired_on}, with no successor; `shotmake routes` lists "
                              "the live routes")
            err(path, f"unknown provider '{name}'", hint)
        elif route.kind != kind:
            err(path, f"provider '{name}' renders {route.kind}s, not {kind}s",
                "use a video route (local, gemini-omni, seedance-2.0, wan-2.7...) for shots and an image route "
                "(local-image, gemini-3-pro-image, gpt-image-2...) for sheets; `shotmake routes` lists them")

    return check_provider


@dataclass(frozen=True)
class ShotContext:
    """What building one shot reads besides its own fields: the episode's defaults, characters and
    plates, where fields were written, and the checks that report into the load's error list."""

    defaults: Mapping[str, Any]
    characters: Mapping[str, Character]
    plates: Mapping[str, Plate]
    locations: Mapping[str, SourceLocation]
    spec: Path
    check_provider: Callable[[str, str, str], None]
    asset: Callable[[str, str, Path, tuple[str, ...]], str]
    err: Callable[..., None]


def build_shot(i: int, sdata: Mapping[str, Any], ctx: ShotContext) -> Shot:
    """The ``Shot`` of ``shots[i]`` (schema-valid data); its problems go to ``ctx.err``."""
    base = join_path("shots", i)
    sid = sdata["id"]
    for j, cid in enumerate(sdata.get("characters", ())):
        if cid not in ctx.characters:
            ctx.err(f"{base}.characters[{j}]", f"unknown character '{cid}'",
                    did_you_mean(cid, ctx.characters) or "declare it under 'characters:'")
    for cid in placeholders(sdata["prompt"]):
        if cid not in ctx.characters:
            ctx.err(f"{base}.prompt", f"placeholder '{{{cid}}}' names no character",
                    did_you_mean(cid, ctx.characters) or "declare it under 'characters:' or remove the braces")
    for field_name in ("first_frame", "last_frame"):
        if field_name in sdata and sdata[field_name] not in ctx.plates:
            ctx.err(f"{base}.{field_name}", f"unknown plate '{sdata[field_name]}'",
                    did_you_mean(sdata[field_name], ctx.plates) or "declare it under 'plates:'")
    for j, pid in enumerate(sdata.get("references", ())):
        if pid not in ctx.plates:
            ctx.err(f"{base}.references[{j}]", f"unknown plate '{pid}'",
                    did_you_mean(pid, ctx.plates) or "declare it under 'plates:'")
    if "last_frame" in sdata and "first_frame" not in sdata and "after" not in sdata:
        ctx.err(f"{base}.last_frame", "a last frame needs a first frame",
                "add first_frame: PLATE or after: SHOT (interpolation runs from the first frame to the last)")
    if "first_frame" in sdata and "after" in sdata:
        ctx.err(f"{base}.first_frame", "first_frame and after both set the first frame", "keep one of them")
    if "extends" in sdata and ("after" in sdata or "first_frame" in sdata):
        ctx.err(f"{base}.extends", "an extension continues its source clip; it takes no first frame",
                "remove after:/first_frame: from this shot")
    provider = sdata.get("provider", ctx.defaults["provider"])
    if "provider" in sdata:
        ctx.check_provider(f"{base}.provider", provider, "video")
    duration = float(sdata.get("duration", ctx.defaults["duration"]))
    trim = sdata.get("trim", {})
    trim_in, trim_out = float(trim.get("in", 0.0)), trim.get("out")
    if trim_out is not None and trim_out <= trim_in:
        ctx.err(f"{base}.trim.out", f"trim out ({trim_out}s) must come after trim in ({trim_in}s)")
    elif "extends" not in sdata and (trim_out is not None and trim_out > duration or trim_in >= duration):
        ctx.err(f"{base}.trim", f"trim falls outside the {duration:g}s clip", "trim within 0..duration")
    takes = int(sdata.get("takes", 1))
    pick = int(sdata.get("pick", 1))
    if pick > takes:
        ctx.err(f"{base}.pick", f"pick {pick} but only {takes} take(s)", f"pick a take between 1 and {takes}")
    if isinstance(sdata.get("seed"), int) and sdata["seed"] + takes - 1 > MAX_SEED:
        ctx.err(f"{base}.seed", f"take {takes} would use seed {sdata['seed'] + takes - 1}, past {MAX_SEED}",
                f"use a seed up to {MAX_SEED - takes + 1}")
    return Shot(
        id=sid,
        prompt=sdata["prompt"],
        provider=provider,
        model=sdata.get("model", ctx.defaults.get("model", "")) if provider == ctx.defaults["provider"]
        else sdata.get("model", ""),
        duration=duration,
        aspect=sdata.get("aspect", ctx.defaults["aspect"]),
        resolution=sdata.get("resolution", ctx.defaults["resolution"]),
        fps=int(sdata.get("fps", ctx.defaults["fps"])),
        characters=tuple(sdata.get("characters", ())),
        seed=sdata.get("seed"),
        negative=sdata.get("negative", ""),
        audio=bool(sdata.get("audio", ctx.defaults["audio"])),
        after=sdata.get("after"),
        extends=sdata.get("extends"),
        first_frame=sdata.get("first_frame"),
        last_frame=sdata.get("last_frame"),
        references=tuple(sdata.get("references", ())),
        trim_in=trim_in,
        trim_out=float(trim_out) if trim_out is not None else None,
        takes=takes,
        pick=pick,
        subtitle=sdata.get("subtitle", ""),
        voiceover=ctx.asset(f"{base}.voiceover", sdata["voiceover"], ctx.spec, AUDIO_EXTENSIONS) if "voiceover" in sdata else None,
        dialogue=tuple(Line(speaker=d["speaker"], line=d["line"], delivery=d.get("delivery", ""),
                            start=d.get("start"), end=d.get("end")) for d in sdata.get("dialogue", ())),
        ignore=tuple(sdata.get("ignore", ())),
        title=sdata.get("title", ""),
        path=base,
        location=ctx.locations.get(base),
    )


def _build(doc: Document, spec: Path, root: Path, included: list[tuple[Document, Path]],
           routes: Mapping[str, Route]) -> Episode:
    errors: list[SpecError] = []
    # Merge the series files, then the episode itself: mappings of ids must not collide,
    # style/defaults keys are overridden by later files.
    locations = Marks()
    key_locations = Marks()
    merged: dict[str, Any] = {"characters": {}, "plates": {}, "style": {}, "defaults": {}, "lint": {}}
    origin: dict[str, Path] = {}  # "characters.mei" -> the file that defined it (for relative paths)
    for source_doc, source_path in [*included, (doc, spec)]:
        data = source_doc.data
        for section in ("characters", "plates"):
            for ident, value in data.get(section, {}).items():
                path = f"{section}.{ident}"
                if ident in merged[section]:
                    first = key_locations.get(path) or locations.get(path)
                    errors.append(SpecError(
                        f"{section[:-1]} '{ident}' is defined twice", location=source_doc.key_locations.get(path),
                        field=path, hint=f"first defined at {first}" if first else ""))
                    continue
                merged[section][ident] = value
                origin[path] = source_path
        for section in ("style", "defaults"):
            merged[section].update(data.get(section, {}))
        if "language" in data:  # the episode's own wins over its series'
            merged["language"] = data["language"]
        if "lint" in data:
            lint = data["lint"]
            merged["lint"]["ignore"] = [*merged["lint"].get("ignore", []), *lint.get("ignore", [])]
            if "max_sequence_seconds" in lint:
                merged["lint"]["max_sequence_seconds"] = lint["max_sequence_seconds"]
        for mapping, into in ((source_doc.locations, locations), (source_doc.key_locations, key_locations)):
            if source_doc is doc:  # the episode's own places win
                into.raw.update(mapping.raw)
            else:
                into.raw.update({path: at for path, at in mapping.raw.items() if path not in into.raw})
    data = {**doc.data, **{k: v for k, v in merged.items()}}
    view = Document(data, locations, doc.file, key_locations)

    def err(path: str, message: str, hint: str = "") -> None:
        errors.append(SpecError(message, location=locations.get(path), field=path, hint=hint))

    asset = asset_resolver(root, err)

    defaults = {**DEFAULTS, **data["defaults"]}
    style_data = data["style"]
    style = Style(look=style_data.get("look", ""), palette=style_data.get("palette", ""),
                  negative=style_data.get("negative", ""))

    check_provider = provider_check(routes, err)

    for key in ("provider", "sheet_provider"):
        if key in data["defaults"]:
            check_provider(f"defaults.{key}", defaults[key], "video" if key == "provider" else "image")

    language = str(merged.get("language", "en"))
    if base_language(language) not in languages():
        err("language", f"shotmake has no prompt labels for language '{language}'",
            f"use one of {', '.join(languages())} (the language of the prompt's labels and the dialogue)")
        language = "en"

    characters: dict[str, Character] = {}
    for cid, cdata in data["characters"].items():
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
            references=tuple(asset(f"{base}.references[{j}]", ref, origin[base], REFERENCE_EXTENSIONS)
                             for j, ref in enumerate(cdata.get("references", ()))),
            sheet=sheet,
            cameo=cdata.get("cameo"),
            sora_character=(asset(f"{base}.sora_character", cdata["sora_character"], origin[base], VIDEO_EXTENSIONS)
                            if "sora_character" in cdata else None),
            voice=_voice(cdata.get("voice"), f"{base}.voice", origin[base], asset),
            location=locations.get(base),
        )

    plates: dict[str, Plate] = {}
    for pid, pdata in data["plates"].items():
        base = join_path("plates", pid)
        provider = pdata.get("provider", defaults["sheet_provider"]) if "prompt" in pdata else ""
        if "provider" in pdata:
            check_provider(f"{base}.provider", provider, "image")
        plates[pid] = Plate(
            id=pid,
            file=asset(f"{base}.file", pdata["file"], origin[base], IMAGE_EXTENSIONS) if "file" in pdata else None,
            prompt=pdata.get("prompt", ""), provider=provider, model=pdata.get("model", ""),
            aspect=pdata.get("aspect", "16:9"), size=pdata.get("size", "1K"), location=locations.get(base),
        )

    shots: dict[str, Shot] = {}
    shot_context = ShotContext(defaults, characters, plates, locations, spec, check_provider, asset, err)
    for i, sdata in enumerate(data["shots"]):
        sid = sdata["id"]
        if sid in shots:
            first = shots[sid].location
            err(f"shots[{i}].id", f"duplicate shot id '{sid}'", f"first defined at line {first.line if first else '?'}")
            continue
        shots[sid] = build_shot(i, sdata, shot_context)

    for shot in shots.values():
        _check_dialogue(shot, characters, err)

    check_links(shots, err)

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
        transition = qdata.get("transition", "cut")
        if isinstance(transition, str):
            transition = {"kind": transition}
        kind = transition["kind"]
        seconds = float(transition.get("seconds", 0.0 if kind == "cut" else 0.5))
        sequences.append(Sequence(id=qid, shots=tuple(qdata["shots"]), transition=Transition(kind, seconds),
                                  title=qdata.get("title", ""), path=base, location=locations.get(base)))

    delivery = dict(data.get("delivery", {}))
    if isinstance(delivery.get("format", {}), dict):
        # The master's format is what the spec says, never a vote of its shots: a vote flips the
        # whole master when two shots swap or one is added. Unset keys come from `defaults:`.
        delivery["format"] = {**{k: defaults[k] for k in ("resolution", "aspect", "fps")},
                              **delivery.get("format", {})}
    if "music" in delivery:
        delivery["music"] = asset("delivery.music", delivery["music"], spec, AUDIO_EXTENSIONS)
    renditions = delivery.get("renditions", [])
    for j, kind in enumerate(renditions if isinstance(renditions, list) else []):
        if kind not in RENDITIONS:
            err(f"delivery.renditions[{j}]", f"unknown rendition '{kind}'", f"use one of {', '.join(RENDITIONS)}")
    subtitles = delivery.get("subtitles")
    if isinstance(subtitles, dict) and isinstance(subtitles.get("font"), str):
        delivery["subtitles"] = {**subtitles, "font": asset("delivery.subtitles.font", subtitles["font"], spec,
                                                            FONT_EXTENSIONS)}
    _check_timing(shots, sequences, delivery, err)

    if errors:
        errors.sort(key=lambda e: (e.location.file, e.location.line, e.location.column) if e.location else ("", 0, 0))
        raise SpecErrors(errors) if len(errors) > 1 else errors[0]

    name = data["episode"]
    del view
    return Episode(
        name=name,
        source=doc.file,
        output=data.get("output", f"{name}.mp4"),
        style=style,
        characters=characters,
        shots=shots,
        sequences=tuple(sequences),
        title=data.get("title", ""),
        plates=plates,
        includes=tuple(str(p) for _, p in included),
        root=str(root),
        delivery=delivery,
        lint=merged["lint"],
        locations=locations,
        language=language,
        defaults=defaults,
    )
