"""Compile prompts: the shot's text, the character bible and the style, verbatim and in order.

Consistency depends on sending the *exact same* character description in every prompt, so
this module never rewrites a description: it only places it. ``{mei}`` in a shot prompt
expands to the character's name; every character in the shot (listed or named by a
placeholder) gets its description appended word for word.

Dialogue follows the same rule: a speaking character's voice description is placed verbatim in
every shot where it speaks, and each line is written in the route's convention for spoken lines
(``dialogue.py``), the words untouched. The labels around all of it (``Characters:``,
``Voices:``...) follow the episode's ``language``: a Chinese episode's prompt is Chinese throughout.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .dialogue import convention, labels, render_line
from .model import Character, Episode, Shot, Style

PLACEHOLDER = re.compile(r"\{([A-Za-z0-9][A-Za-z0-9._-]*)\}")


def placeholders(text: str) -> list[str]:
    """Return the character ids named by ``{id}`` placeholders, in order of appearance."""
    return PLACEHOLDER.findall(text)


#: Where ``shot_characters`` keeps its answer on a shot: in the instance's ``__dict__``, not a
#: field, so the record's equality, hash, fields and snapshots are untouched.
_CHARACTERS = "_shotmake_characters"


def shot_characters(shot: Shot) -> tuple[str, ...]:
    """Characters in a shot: those listed, then those only named by placeholders (no repeats).

    Lint, the spec checks and the planner ask ~8 times per shot: the answer is kept on the shot,
    which is frozen (its ``characters`` and ``prompt`` cannot change under the kept answer).
    """
    kept = getattr(shot, "__dict__", None)
    if kept is not None and _CHARACTERS in kept:
        return kept[_CHARACTERS]  # type: ignore[no-any-return]
    seen = dict.fromkeys(shot.characters)
    seen.update(dict.fromkeys(placeholders(shot.prompt)))
    found = tuple(seen)
    if kept is not None:
        kept[_CHARACTERS] = found
    return found


def style_text(style: Style, language: str = "en") -> str:
    """The style suffix shared by every prompt of the episode."""
    words = labels(language)
    parts = []
    if style.look:
        parts.append(f"{words.style}{style.look.strip()}")
    if style.palette:
        parts.append(f"{words.palette}{style.palette.strip()}")
    return "\n".join(parts)


def speakers(shot: Shot) -> tuple[str, ...]:
    """Characters who speak in a shot, in order of their first line."""
    return tuple(dict.fromkeys(line.speaker for line in shot.dialogue))


def compile_shot_prompt(shot: Shot, episode: Episode, dialogue: str = "quoted",
                        voice_inputs: Mapping[str, tuple[str, int]] | None = None) -> str:
    """Return the full prompt for a shot: action, character bible entries, voices, dialogue, style.

    ``dialogue`` names the route's convention for spoken lines; ``voice_inputs`` maps a speaking
    character to the voice sample the request sends for it (``("audio", 1)``: the first audio input).
    """
    chars = episode.characters
    words = labels(episode.language)
    action = PLACEHOLDER.sub(lambda m: chars[m.group(1)].name if m.group(1) in chars else m.group(0), shot.prompt)
    sections = [action.strip()]
    present = [chars[c] for c in shot_characters(shot) if c in chars]
    if present:
        sections.append(words.characters + "\n" + "\n".join(
            words.item.format_map({"name": c.name, "text": c.description.strip()}) for c in present))
    if shot.dialogue:
        conv = convention(dialogue, episode.language)
        voiced = [chars[c] for c in speakers(shot) if c in chars and chars[c].voice is not None]
        voice_lines = [words.item.format_map({"name": c.name, "text": c.voice.description.strip()})
                       for c in voiced if c.voice is not None and c.voice.description.strip()]
        for c in voiced:
            if voice_inputs and c.id in voice_inputs:
                kind, n = voice_inputs[c.id]
                template = conv.voice_audio if kind == "audio" else conv.voice_video
                voice_lines.append(template.format_map({"speaker": c.name, "n": n}))
        if voice_lines:
            sections.append(words.voices + "\n" + "\n".join(voice_lines))
        sections.append(words.dialogue + "\n" + "\n".join(
            render_line(line, chars[line.speaker].name if line.speaker in chars else line.speaker, conv)
            for line in shot.dialogue))
    style = style_text(episode.style, episode.language)
    if style:
        sections.append(style)
    return "\n\n".join(sections)


def compile_negative(shot: Shot, style: Style) -> str:
    """Join the style's and the shot's negative prompts."""
    return ", ".join(p.strip() for p in (style.negative, shot.negative) if p.strip())


def compile_sheet_prompt(character: Character, style: Style, language: str = "en") -> str:
    """Return the prompt that draws a character's sheet from its template and the style."""
    template = character.sheet.prompt if character.sheet else ""
    text = template.replace("{name}", character.name).replace("{description}", character.description.strip())
    style_part = style_text(style, language)
    return f"{text}\n\n{style_part}" if style_part else text
