"""The compiled schema check may only say "valid" when jsonschema agrees (it is a fast accept path)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shotmake import fastschema, spec, spec_schema

EPISODES = Path(__file__).resolve().parent.parent / "episodes"


def documents() -> list[tuple[Any, str]]:
    docs = [(spec.read_document(p, str(p)).data, "") for p in sorted(EPISODES.glob("*.yaml"))]
    docs += [(spec.read_document(p, str(p)).data, "series") for p in sorted((EPISODES / "series").glob("*.yaml"))]
    return docs


def jsonschema_accepts(data: Any, definition: str) -> bool:
    return not any(True for _ in spec_schema._validator(definition).iter_errors(data))


def test_the_shipped_schema_compiles() -> None:
    assert fastschema.episode_check() is not fastschema._never
    assert fastschema.episode_check("series") is not fastschema._never


@pytest.mark.parametrize(("data", "definition"), documents())
def test_valid_examples_are_accepted(data: Any, definition: str) -> None:
    assert jsonschema_accepts(data, definition)
    assert fastschema.accepts(data, definition)


def test_an_unknown_keyword_never_claims_valid() -> None:
    check = fastschema.compile_schema({"type": "string", "format": "email"})
    assert check is fastschema._never


@pytest.mark.parametrize(("schema", "value", "fast"), [
    ({"type": "integer"}, 1, True),
    ({"type": "integer"}, 1.0, False),     # jsonschema accepts it; the fast path defers
    ({"type": "integer"}, True, False),
    ({"type": "number"}, False, False),
    ({"enum": [1, 2]}, True, False),
    ({"enum": ["a"]}, "a", True),
    ({"minimum": 0}, True, True),          # booleans are not numbers: the bound does not apply
    ({"pattern": "^a$"}, "a\n", True),      # re.search semantics, like jsonschema
    ({"pattern": "^a$(?!\\n)"}, "a\n", False),  # how the shipped schema anchors its patterns
    ({"pattern": "^a$(?!\\n)"}, "a", True),
    ({"oneOf": [{"required": ["a"]}, {"required": ["b"]}]}, {"a": 1, "b": 2}, False),
    ({"oneOf": [{"required": ["a"]}, {"required": ["b"]}]}, {"a": 1}, True),
    ({"oneOf": [{"type": "boolean"}, {"type": "object"}]}, {}, True),
])
def test_edge_cases_agree_with_jsonschema(schema: dict[str, Any], value: Any, fast: bool) -> None:
    assert fastschema.compile_schema(schema)(value) is fast
    if fast:
        assert jsonschema.Draft202012Validator(schema).is_valid(value)


# Values a YAML spec can hold, including the ones the schema is picky about.
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 700), st.floats(-2, 20, allow_nan=False),
                    st.sampled_from(["", "x", "local", "sora-2", "16:9", "9:16", "720p", "4k", "cut", "fade",
                                     "1K", "SM101", "bad id", "a.mp4", "{mei} runs", "mei", "s1"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.sampled_from(["id", "prompt", "shots", "kind", "seconds", "sheet", "file", "prompt",
                                     "provider", "duration", "fps", "x", "name", "description"]), inner, max_size=3)),
    max_leaves=8)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            found += paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += paths(v, (*prefix, i))
    return found


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_documents_are_never_accepted_wrongly(data: st.DataObject) -> None:
    base, definition = data.draw(st.sampled_from(documents()))
    doc = copy.deepcopy(base)
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.sampled_from(paths(doc)))
        if not where:
            continue
        parent = doc
        for part in where[:-1]:
            parent = parent[part]
        action = data.draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[where[-1]] = data.draw(values)
        elif action == "delete":
            del parent[where[-1]]
        elif isinstance(parent, dict):
            parent[data.draw(st.sampled_from(["extra", "title", "after", "trim", "takes", "pick"]))] = data.draw(values)
        else:
            parent.append(data.draw(values))
    if fastschema.accepts(doc, definition):
        assert jsonschema_accepts(doc, definition), doc


@settings(max_examples=200, deadline=None)
@given(values)
def test_random_values_are_never_accepted_wrongly(value: Any) -> None:
    for definition in ("", "series"):
        if fastschema.accepts(value, definition):
            assert jsonschema_accepts(value, definition)


def test_the_shipped_id_pattern_refuses_a_trailing_newline() -> None:
    check = fastschema.compile_schema({"$defs": spec_schema.schema()["$defs"], "$ref": "#/$defs/id"})
    assert check("s1") and not check("s1\n") and not check("caf\u00e9")
