"""Why a dirty node is dirty, in words: the causes behind the difference of two manifests.

``plan.stale_nodes`` picks the manifest to compare with; this module says what changed as a
person would: ``character ren: description changed``, ``shot order changed``, ``input clip:s2
changed``, ``duration changed: 8 -> 4 s``. Never a hash, never a string cut off mid-word;
lists follow the story (a sequence's shots, an episode's sequences, a prompt's characters).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .model import Node


@dataclass(frozen=True)
class Context:
    """What reasons need besides the two manifests: who makes each key, and character names."""

    owners: Mapping[str, str]
    characters: Mapping[str, str]  # display name -> id


#: Manifest fields that are input keys, and what to call them when they are not a node's (a file).
_INPUT_FIELDS = {"first_frame": "first frame", "last_frame": "last frame", "extends": "extended clip",
                 "clip": "clip", "master": "master"}
#: Fields named for people; the rest go by their own name with '_' as ' '.
_FIELD_NAMES = {"negative_prompt": "negative prompt", "music_gain_db": "music gain", "at": "poster time",
                "burn_subtitles": "burned-in subtitles", "text": "subtitle text", "voiceovers": "voice-overs",
                "music": "music file", "reencode": "keyframes for the transition", "take": "take"}
#: Units shown after a changed value.
_UNITS = {"duration": " s", "at": " s", "loudness": " LUFS", "music_gain_db": " dB", "fps": " fps"}
#: Implied by another field's reason (a resolution change is also a width change).
_IMPLIED = {"width": ("resolution", "aspect", "size"), "height": ("resolution", "aspect", "size")}


def describe_changes(old: Mapping[str, Any], new: Mapping[str, Any], owners: Mapping[str, str], *,
                     node: Node | None = None, context: Context | None = None) -> list[str]:
    """List the causes of the differences between two manifests of one node, in the manifest's order.

    Causes, not diffs: ``character ren: description changed``, ``shot order changed``,
    ``input clip:s2 changed`` (an input key named by the node that now makes it). Values are
    shown only when short (``duration changed: 8 -> 4 s``); never a hash or a cut-off string.
    """
    context = context or Context(owners, {})
    reasons: list[str] = []
    fields = [*new, *(f for f in old if f not in new)]
    changed = {f for f in fields if old.get(f) != new.get(f)}
    for name in fields:
        if name not in changed or name == "kind" or any(f in changed for f in _IMPLIED.get(name, ())):
            continue
        before, after = old.get(name), new.get(name)
        if name == "prompt" and isinstance(before, str) and isinstance(after, str):
            reasons.extend(_prompt_causes(before, after, node, context))
        elif name in _INPUT_FIELDS:
            reasons.append(_input_cause(name, after, owners, node))
        elif name in ("references", "pieces", "sequences", "clips") and isinstance(after, list):
            reasons.extend(_list_causes(name, before if isinstance(before, list) else [], after, owners, node))
        elif name == "dialogue":  # the offline card's timed lines (the prompt's lines say the same)
            reasons.append("dialogue changed")
        elif name == "recipe":
            reasons.append(f"shotmake renders this kind of node differently now (recipe {before} -> {after})")
        elif name == "format" and isinstance(before, Mapping) and isinstance(after, Mapping):
            reasons.append(f"delivery format changed: {_format_text(before)} -> {_format_text(after)}")
        elif name == "transition" and isinstance(before, list) and isinstance(after, list):
            reasons.append(f"transition changed: {_transition_text(before)} -> {_transition_text(after)}")
        elif name == "trim" and isinstance(before, list) and isinstance(after, list) and len(before) == len(after) == 2:
            for side, a, b in (("in", before[0], after[0]), ("out", before[1], after[1])):
                if a != b:
                    reasons.append(f"trim {side} changed: {_seconds(a)} -> {_seconds(b)} s")
        elif name == "chapters" and isinstance(before, list) and isinstance(after, list):
            titles = [", ".join(map(str, before)), ", ".join(map(str, after))]
            short = all(len(t) <= 60 and "\n" not in t for t in titles)
            reasons.append(f"chapters changed: {titles[0]} -> {titles[1]}" if short else "chapter titles changed")
        else:
            reasons.append(_valued(_FIELD_NAMES.get(name, name.replace("_", " ")), before, after,
                                   _UNITS.get(name, "")))
    return list(dict.fromkeys(reasons))


def _valued(label: str, before: Any, after: Any, unit: str) -> str:
    """``label changed: a -> b unit`` when both values read well in a line, else ``label changed``."""
    shown = [_short_value(before), _short_value(after)]
    if shown[0] is None or shown[1] is None:
        return f"{label} changed"
    return f"{label} changed: {shown[0]} -> {shown[1]}{unit}"


def _short_value(value: Any) -> str | None:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (int, float)):
        return f"{value:g}"
    if isinstance(value, str):
        if len(value) > 60 or "\n" in value or _looks_like_a_key(value):
            return None
        return repr(value) if value else "''"
    return None


def _looks_like_a_key(value: str) -> bool:
    return len(value) >= 32 and all(c in "0123456789abcdef" for c in value)


def _seconds(value: Any) -> str:
    return "end" if value is None else f"{value:g}" if isinstance(value, (int, float)) else str(value)


def _format_text(fmt: Mapping[str, Any]) -> str:
    size = f"{fmt.get('width', '?')}x{fmt.get('height', '?')}"
    return f"{size} {fmt.get('fps', '?')} fps"


def _transition_text(value: list[Any]) -> str:
    kind = {"dip": "fade"}.get(str(value[0]), str(value[0])) if value else "?"
    seconds = value[1] if len(value) > 1 else 0
    return kind if kind == "cut" or not seconds else f"{kind} {seconds:g} s"


def _input_cause(name: str, key: Any, owners: Mapping[str, str], node: Node | None) -> str:
    if key is None:
        return f"{_INPUT_FIELDS[name]} removed"
    if isinstance(key, str) and key in owners:
        return f"input {owners[key]} changed"
    path = _file_named(node, key)
    return f"{_INPUT_FIELDS[name]} file {path} changed" if path else f"{_INPUT_FIELDS[name]} changed"


def _file_named(node: Node | None, digest: Any) -> str:
    """The user file whose digest this is, from the node's labels (never the digest itself)."""
    if node is None:
        return ""
    for entry in node.labels.get("reference_files", ()):
        if isinstance(entry, (list, tuple)) and len(entry) == 2 and entry[1] == digest:
            return Path(str(entry[0])).name if os.path.isabs(str(entry[0])) else str(entry[0])
    return ""


def _list_causes(name: str, before: list[Any], after: list[Any], owners: Mapping[str, str],
                 node: Node | None) -> list[str]:
    """Reasons for a changed list of input keys, in the list's (story) order."""
    noun = {"pieces": "shot", "sequences": "sequence", "clips": "clip", "references": "reference"}[name]
    if sorted(map(str, before)) == sorted(map(str, after)):
        return [f"{noun} order changed"]
    reasons: list[str] = []
    if len(before) != len(after):
        reasons.append(f"{noun}s changed: {len(before)} -> {len(after)}")
    old = set(map(str, before))
    for key in after:
        if str(key) in old:
            continue
        if key in owners:
            reasons.append(f"input {owners[key]} changed" if len(before) == len(after) else f"input {owners[key]} is new")
        elif (path := _file_named(node, key)):
            reasons.append(f"reference file {path} changed")
        elif name == "references":
            reasons.append("reference images changed")
    return list(dict.fromkeys(reasons)) or [f"{noun}s changed"]


def _prompt_sections(prompt: str) -> tuple[str, dict[str, str], str, dict[str, str], str]:
    """Split a compiled shot prompt into (action, character name -> description, style,
    character name -> voice, dialogue), whichever language its labels are in."""
    from .dialogue import labels, languages

    tables = [labels(lang) for lang in languages()]

    def entries(block: str) -> dict[str, str]:
        found: dict[str, str] = {}
        for line in block.splitlines()[1:]:
            if line.startswith("- "):
                name, _, text = line[2:].replace("：", ": ", 1).partition(": ")
                found[name] = text
            else:  # the sentence tying a speaker to a voice sample
                found[f"\0{line}"] = ""
        return found

    parts = prompt.split("\n\n")
    style = ""
    if parts and parts[-1].startswith(tuple(w for t in tables for w in (t.style, t.palette))):
        style = parts.pop()
    dialogue = ""
    if parts and any(parts[-1].startswith(t.dialogue + "\n") for t in tables):
        dialogue = parts.pop()
    voices: dict[str, str] = {}
    if parts and any(parts[-1].startswith(t.voices + "\n") for t in tables):
        voices = entries(parts.pop())
    characters: dict[str, str] = {}
    if parts and any(parts[-1].startswith(t.characters + "\n") for t in tables):
        characters = {k: v for k, v in entries(parts.pop()).items() if not k.startswith("\0")}
    return "\n\n".join(parts), characters, style, voices, dialogue


def _prompt_causes(before: str, after: str, node: Node | None, context: Context) -> list[str]:
    """Which part of a compiled prompt changed: the shot's text, a character's description, the style."""
    old_action, old_chars, old_style, old_voices, old_lines = _prompt_sections(before)
    new_action, new_chars, new_style, new_voices, new_lines = _prompt_sections(after)
    kind = node.kind if node is not None else "clip"
    reasons: list[str] = []
    if kind == "clip":
        if old_action != new_action:
            reasons.append(_valued("prompt", old_action, new_action, ""))
        for name, description in new_chars.items():
            cid = context.characters.get(name, name)
            if name not in old_chars:
                reasons.append(f"character {cid} added")
            elif old_chars[name] != description:
                reasons.append(f"character {cid}: description changed")
        reasons.extend(f"character {context.characters.get(n, n)} removed" for n in old_chars if n not in new_chars)
        for name in dict.fromkeys([*old_voices, *new_voices]):
            if old_voices.get(name) != new_voices.get(name):
                reasons.append(f"character {context.characters.get(name, name)}: voice changed"
                               if not name.startswith("\0") else "voice samples changed")
        if old_lines != new_lines:
            reasons.append("dialogue changed")
    elif old_action != new_action:
        label = node.labels.get("character") if node is not None else None
        reasons.append(f"character {label}: description or sheet prompt changed" if label
                       else f"{kind} prompt changed")
    if old_style != new_style:
        reasons.append("style changed")
    return reasons or ["prompt changed"]
