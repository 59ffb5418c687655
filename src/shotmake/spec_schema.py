"""The episode JSON Schema: the packaged file, validation, and its errors worded for people.

``jsonschema`` says "'wipe' is not valid under any of the given schemas"; a user needs
``sequences[0].transition: 'wipe' is not allowed (allowed: cut, crossfade, fade)`` at the
file:line:col it came from. The compiled fast path (``fastschema``) answers for valid specs;
``jsonschema`` runs only to word what is wrong.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import SourceLocation, SpecError

if TYPE_CHECKING:  # imported where used: a spec loaded from a snapshot needs neither
    import jsonschema

    from .spec_yaml import Document



@cache
def schema() -> dict[str, Any]:
    """The episode JSON Schema shipped with the package (also at ``schemas/``)."""
    # Beside this module, as freshness.code_fingerprint finds it (importlib.resources costs ~4 ms to import).
    text = (Path(__file__).parent / "schemas" / "episode.schema.json").read_text(encoding="utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


@cache
def _validator(definition: str = "") -> jsonschema.protocols.Validator:
    import jsonschema

    root = schema()
    if not definition:
        return jsonschema.Draft202012Validator(root)
    # Validate an included series file against $defs/<definition>, sharing the root's $refs.
    return jsonschema.Draft202012Validator({**root, "$ref": f"#/$defs/{definition}", "required": [],
                                            "additionalProperties": True})


def _schema_error(error: jsonschema.ValidationError, doc: Document) -> SpecError:
    from .spec import did_you_mean, join_path

    path = ""
    for part in error.absolute_path:
        path = join_path(path, part)
    location = doc.locations.get(path) or SourceLocation(doc.file, 1, 1)
    validator = error.validator
    hint = ""
    message = error.message
    if validator in ("oneOf", "anyOf"):
        branch = _best_branch(error)
        if branch is not None:
            return _schema_error(branch, doc)
        message, hint = _no_branch(error)
    elif validator == "required":
        missing = [p for p in error.validator_value if isinstance(error.instance, dict) and p not in error.instance]
        # jsonschema reports each missing field as its own error: name that one, not the first.
        missing = [p for p in missing if error.message.startswith(f"{p!r} ")] or missing
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
        choices = "allowed: " + ", ".join(str(v) for v in error.validator_value)
        close = did_you_mean(str(error.instance), [str(v) for v in error.validator_value])
        hint = f"{close} {choices}" if close else choices
    elif validator == "type":
        message = f"expected {error.validator_value}, got {type(error.instance).__name__} {error.instance!r}"
    elif validator == "pattern":
        message, hint = _pattern_problem(error.instance, str(error.validator_value))
    if path in doc.colon_numbers:
        text = doc.colon_numbers[path]
        hint = (f"YAML reads an unquoted {text} as the number {error.instance!r}: quote it, \"{text}\""
                + (f"; {hint}" if hint else ""))
    return SpecError(message, location=location, field=path, hint=hint)


def _best_branch(error: jsonschema.ValidationError) -> jsonschema.ValidationError | None:
    """The error of the oneOf/anyOf branch the value was meant for: the one whose type it has.

    ``transition: wipe`` fails the string branch on its value and the mapping branch on its
    type; the first says what to fix ("'wipe' is not allowed; allowed: cut, crossfade, fade").
    """
    by_branch: dict[Any, list[jsonschema.ValidationError]] = {}
    for sub in error.context or ():
        by_branch.setdefault(sub.relative_schema_path[0], []).append(sub)
    branches = error.validator_value
    fitting = [errs for index, errs in by_branch.items()
               if _takes_type(branches[index], error.instance)
               and not all(e.validator == "required" and not e.relative_path for e in errs)]
    if len(fitting) != 1:
        return None
    return max(fitting[0], key=lambda e: len(e.relative_path))


def _takes_type(branch: Any, value: Any) -> bool:
    """Whether a oneOf branch is meant for values of ``value``'s JSON type."""
    if not isinstance(branch, dict):
        return False
    if "$ref" in branch and branch["$ref"].startswith("#/$defs/"):
        branch = schema()["$defs"].get(branch["$ref"][len("#/$defs/"):], {})
    names = {"object": dict, "array": list, "string": str, "boolean": bool}
    if "type" in branch:
        wanted = branch["type"] if isinstance(branch["type"], list) else [branch["type"]]
        return any(isinstance(value, names[w]) if w in names else
                   isinstance(value, (int, float)) and not isinstance(value, bool) for w in wanted)
    if "enum" in branch:
        return any(type(v) is type(value) for v in branch["enum"])
    return True


def _no_branch(error: jsonschema.ValidationError) -> tuple[str, str]:
    """Word a oneOf/anyOf failure no single branch explains: list the forms the value may take."""
    branches = [b for b in error.validator_value if isinstance(b, dict)]
    if branches and all(set(b) == {"required"} and len(b["required"]) == 1 for b in branches):
        names = " and ".join(f"'{b['required'][0]}'" for b in branches)
        if error.context:
            return f"needs {names.replace(' and ', ' or ')}", f"set one of {names}"
        return f"set only one of {names}", "remove the others"
    forms = [_form(b) for b in branches]
    return f"expected {' or '.join(forms)}, got {type(error.instance).__name__} {error.instance!r}", ""


def _form(branch: dict[str, Any]) -> str:
    """A branch of a oneOf as a reader would say it: "one of cut, crossfade, fade", "a mapping (kind, seconds)"."""
    if "enum" in branch:
        return "one of " + ", ".join(str(v) for v in branch["enum"])
    kind = branch.get("type")
    if kind == "object":
        fields = ", ".join(branch.get("properties", {}))
        return f"a mapping ({fields})" if fields else "a mapping"
    return {"boolean": "true or false", "array": "a list", "string": "a string", "number": "a number",
            "integer": "a whole number"}.get(str(kind), str(kind))


def _pattern_problem(value: Any, pattern: str) -> tuple[str, str]:
    """Why a string fails one of the schema's patterns, and how to write it."""
    text = str(value)
    if pattern.startswith("^SM"):
        message, hint = f"{text!r} is not a rule id", "rule ids look like SM104 (docs/lint.md)"
    elif ":[1-9]" in pattern:
        message, hint = f"{text!r} is not an aspect ratio", "write it as W:H in whole numbers, quoted: \"16:9\""
    elif ".mp4" in pattern:
        message, hint = f"{text!r} is not a file name", "a name like pilot.mp4: ASCII letters, digits, '-', '_', '.'; no folders"
    else:
        message = f"{text!r} is not a valid id"
        hint = "ids use ASCII letters, digits, '-', '_' and '.', starting with a letter or digit"
        if not text.isascii():
            hint += " (no accents or other scripts; the title fields take any text)"
    if text.endswith(("\n", "\r")):
        hint = "it ends with a line break (a block scalar '|' or a quoted \\n?); remove it"
    return message, hint


def validate_schema(doc: Document, definition: str = "") -> list[SpecError]:
    """Check the data against the JSON Schema (or one of its $defs); errors sorted by position."""
    from .fastschema import accepts

    if accepts(doc.data, definition):  # compiled checks: jsonschema only runs to word the errors
        return []
    errors = [_schema_error(e, doc) for e in _validator(definition).iter_errors(doc.data)]
    errors.sort(key=lambda e: (e.location.line, e.location.column) if e.location else (0, 0))
    return errors
