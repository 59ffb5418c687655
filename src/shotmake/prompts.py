"""Compile prompts: the shot's text, the character bible and the style, verbatim and in order.

Consistency depends on sending the *exact same* character description in every prompt, so
this module never rewrites a description: it only places it. ``{mei}`` in a shot prompt
expands to the character's name; every character in the shot (listed or named by a
placeholder) gets its description appended word for word.
"""

from __future__ import annotations

import re

from .model import Character, Episode, Shot, Style

PLACEHOLDER = re.compile(r"\{([A-Za-z0-9][A-Za-z0-9._-]*)\}")


def placeholders(text: str) -> list[str]:
    """Return the character ids named by ``{id}`` placeholders, in order of appearance."""
    return PLACEHOLDER.findall(text)


def shot_characters(shot: Shot) -> tuple[str, ...]:
    """Characters in a shot: those listed, then those only named by placeholders (no repeats)."""
    seen = dict.fromkeys(shot.characters)
    seen.update(dict.fromkeys(placeholders(shot.prompt)))
    return tuple(seen)


def style_text(style: Style) -> str:
    """The style suffix shared by every prompt of the episode."""
    parts = []
    if style.look:
        parts.append(f"Style: {style.look.strip()}")
    if style.palette:
        parts.append(f"Palette: {style.palette.strip()}")
    return "\n".join(parts)


def compile_shot_prompt(shot: Shot, episode: Episode) -> str:
    """Return the full prompt for a shot: action, character bible entries, style."""
    chars = episode.characters
    action = PLACEHOLDER.sub(lambda m: chars[m.group(1)].name if m.group(1) in chars else m.group(0), shot.prompt)
    sections = [action.strip()]
    present = [chars[c] for c in shot_characters(shot) if c in chars]
    if present:
        sections.append("Characters:\n" + "\n".join(f"- {c.name}: {c.description.strip()}" for c in present))
    style = style_text(episode.style)
    if style:
        sections.append(style)
    return "\n\n".join(sections)


def compile_negative(shot: Shot, style: Style) -> str:
    """Join the style's and the shot's negative prompts."""
    return ", ".join(p.strip() for p in (style.negative, shot.negative) if p.strip())


def compile_sheet_prompt(character: Character, style: Style) -> str:
    """Return the prompt that draws a character's sheet from its template and the style."""
    template = character.sheet.prompt if character.sheet else ""
    text = template.replace("{name}", character.name).replace("{description}", character.description.strip())
    style_part = style_text(style)
    return f"{text}\n\n{style_part}" if style_part else text
