"""A fast accept path for the episode schema: the JSON Schema compiled to plain Python checks.

``jsonschema`` interprets the schema for every value (a keyword dispatch, a ``$ref`` lookup
and an evolved validator per level): ~0.5 s for a 10,000-shot spec. Nearly every spec is
valid, so ``spec_schema.validate_schema`` asks this module first and only runs ``jsonschema`` (for
its precise error messages) when this one does not say "valid".

The contract is one-sided: ``accepts(data)`` True means ``jsonschema`` accepts it too.
False means "not sure". Checks are exact where that is cheap and conservative elsewhere
(an ``integer`` must be an ``int``; ``1.0`` goes to ``jsonschema``), and a schema using a
keyword this module does not know compiles to "never sure", so the schema can grow without
this file lying about it. ``tests/test_fastschema.py`` compares both on valid, mutated
and random documents.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

Check = Callable[[Any], bool]


def _all_of(checks: list[Check]) -> Check:
    """One check that passes when every one of ``checks`` does (plain calls: a generator per value
    of a big spec costs more than the checks themselves)."""
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        a, b = checks
        return lambda v: a(v) and b(v)
    if len(checks) == 3:
        a, b, c = checks
        return lambda v: a(v) and b(v) and c(v)

    def every(v: Any) -> bool:
        for check in checks:
            if not check(v):
                return False
        return True
    return every

#: Keywords that only annotate.
_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "title", "description", "examples", "default",
                          "deprecated", "readOnly", "writeOnly", "$defs", "definitions"})
_TYPES: Mapping[str, Callable[[Any], bool]] = {
    "object": lambda v: type(v) is dict,
    "array": lambda v: type(v) is list,
    "string": lambda v: type(v) is str,
    "boolean": lambda v: type(v) is bool,
    "null": lambda v: v is None,
    "integer": lambda v: type(v) is int,
    "number": lambda v: type(v) in (int, float),
}


class Unsupported(Exception):
    """The schema uses something this compiler does not handle: always defer to jsonschema."""


def _never(value: Any) -> bool:
    return False


def _always(value: Any) -> bool:
    return True


def _kind(value: Any) -> str | None:
    """The one JSON type name this module gives ``value`` (``integer`` only for ``int``)."""
    t = type(value)
    if t is dict:
        return "object"
    if t is list:
        return "array"
    if t is str:
        return "string"
    if t is bool:
        return "boolean"
    if value is None:
        return "null"
    if t is int:
        return "integer"
    if t is float:
        return "number"
    return None


class _Compiler:
    """Compile a schema to ``(check, exact)``: ``exact`` when False also means jsonschema says invalid."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.refs: dict[str, tuple[Check, bool]] = {}

    def resolve(self, ref: str) -> Mapping[str, Any] | bool:
        if not ref.startswith("#/"):
            raise Unsupported(f"remote $ref {ref}")
        target: Any = self.root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, Mapping) or part not in target:
                raise Unsupported(f"unresolvable $ref {ref}")
            target = target[part]
        if not isinstance(target, (Mapping, bool)):
            raise Unsupported(f"$ref {ref} is not a schema")
        return target

    def ref(self, ref: str) -> tuple[Check, bool]:
        if ref not in self.refs:
            slot: list[Check] = []
            self.refs[ref] = (lambda v: slot[0](v)), False  # a recursive $ref is never called exact
            check, exact = self.compile(self.resolve(ref))
            slot.append(check)
            self.refs[ref] = check, exact  # later users call it directly; only a recursion goes through the slot
        return self.refs[ref]

    def types(self, schema: Mapping[str, Any] | bool) -> frozenset[str] | None:
        """The kinds a schema can accept, when it says so (``type``/``enum``/``const``), else None."""
        if not isinstance(schema, Mapping):
            return None
        if "$ref" in schema and len(set(schema) - _ANNOTATIONS) == 1:
            return self.types(self.resolve(schema["$ref"]))
        if "type" in schema:
            names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            kinds = set(names)
            if "number" in kinds:
                kinds.add("integer")
            return frozenset(kinds)
        values = schema.get("enum", [schema["const"]] if "const" in schema else None)
        if isinstance(values, list):
            found = {_kind(v) for v in values}
            return None if None in found else frozenset(k for k in found if k is not None)
        return None

    def compile(self, schema: Mapping[str, Any] | bool) -> tuple[Check, bool]:
        if schema is True:
            return _always, True
        if schema is False:
            return _never, True
        if not isinstance(schema, Mapping):
            raise Unsupported(f"not a schema: {schema!r}")
        checks: list[Check] = []
        exact = True
        for keyword, value in schema.items():
            if keyword in _ANNOTATIONS:
                continue
            make = getattr(self, "k_" + keyword.lstrip("$"), None)
            if make is None:
                raise Unsupported(f"keyword {keyword}")
            check, sure = make(value, schema)
            checks.append(check)
            exact = exact and sure
        if not checks:
            return _always, True
        return _all_of(checks), exact

    # -- keywords (each returns a check of one value, and whether it is exact) ------------------
    def k_ref(self, value: str, schema: Mapping[str, Any]) -> tuple[Check, bool]:
        return self.ref(value)

    def k_type(self, value: Any, schema: Mapping[str, Any]) -> tuple[Check, bool]:
        names = value if isinstance(value, list) else [value]
        tests = [_TYPES[name] for name in names if name in _TYPES]
        if len(tests) != len(names):
            raise Unsupported(f"type {value}")
        exact = "integer" not in names  # jsonschema also calls 1.0 an integer
        if len(tests) == 1:
            return tests[0], exact
        return (lambda v: any(t(v) for t in tests)), exact

    def k_enum(self, value: list[Any], schema: Mapping[str, Any]) -> tuple[Check, bool]:
        # Exact type and value, so 1 never passes for True (jsonschema tells those apart too);
        # with a number among the values, 1 == 1.0 makes "no" unsure.
        allowed = {(type(v), v) for v in value if not isinstance(v, (dict, list))}
        exact = all(type(v) in (str, bool) or v is None for v in value)
        return (lambda v: not isinstance(v, (dict, list)) and (type(v), v) in allowed), exact

    def k_const(self, value: Any, schema: Mapping[str, Any]) -> tuple[Check, bool]:
        return self.k_enum([value], schema)

    def k_properties(self, value: Mapping[str, Any], schema: Mapping[str, Any]) -> tuple[Check, bool]:
        compiled = {name: self.compile(sub) for name, sub in value.items()}
        props = {name: check for name, (check, _) in compiled.items()}

        def check(v: Any) -> bool:
            if type(v) is not dict:
                return True
            for name, item in v.items():
                sub = props.get(name)
                if sub is not None and not sub(item):
                    return False
            return True
        return check, all(sure for _, sure in compiled.values())

    def k_additionalProperties(self, value: Any, schema: Mapping[str, Any]) -> tuple[Check, bool]:
        if "patternProperties" in schema:
            raise Unsupported("patternProperties")
        known = frozenset(schema.get("properties", {}))
        if value is True:
            return _always, True
        if value is False:
            return (lambda v: type(v) is not dict or known.issuperset(v)), True
        extra, exact = self.compile(value)
        return (lambda v: type(v) is not dict or all(k in known or extra(x) for k, x in v.items())), exact

    def k_required(self, value: list[str], schema: Mapping[str, Any]) -> tuple[Check, bool]:
        names = frozenset(value)
        return (lambda v: type(v) is not dict or names.issubset(v)), True

    def k_propertyNames(self, value: Any, schema: Mapping[str, Any]) -> tuple[Check, bool]:
        check, exact = self.compile(value)
        return (lambda v: type(v) is not dict or all(check(k) for k in v)), exact

    def k_items(self, value: Any, schema: Mapping[str, Any]) -> tuple[Check, bool]:
        if "prefixItems" in schema or isinstance(value, list):
            raise Unsupported("tuple items")
        check, exact = self.compile(value)

        def each(v: Any) -> bool:
            if type(v) is not list:
                return True
            for x in v:  # a loop, not all(genexpr): this runs for every shot of a 10,000-shot spec
                if not check(x):
                    return False
            return True
        return each, exact

    def k_minItems(self, value: int, schema: Mapping[str, Any]) -> tuple[Check, bool]:
        return (lambda v: type(v) is not list or len(v) >= value), True

    def k_maxItems(self, value: int, schema: Mapping[str, Any]) -> tuple[Check, bool]:
        return (lambda v: type(v) is not list or len(v) <= value), True

    def k_minLength(self, value: int, schema: Mapping[str, Any]) -> tuple[Check, bool]:
        return (lambda v: type(v) is not str or len(v) >= value), True

    def k_maxLength(self, value: int, schema: Mapping[str, Any]) -> tuple[Check, bool]:
        return (lambda v: type(v) is not str or len(v) <= value), True

    def k_pattern(self, value: str, schema: Mapping[str, Any]) -> tuple[Check, bool]:
        search = re.compile(value).search  # jsonschema uses re.search too
        return (lambda v: type(v) is not str or search(v) is not None), True

    @staticmethod
    def _number(test: Callable[[Any], bool]) -> tuple[Check, bool]:
        # Only int and float are checked; bools are not numbers and pass (jsonschema skips them too).
        return (lambda v: type(v) not in (int, float) or test(v)), True

    def k_minimum(self, value: float, schema: Mapping[str, Any]) -> tuple[Check, bool]:
        return self._number(lambda v: v >= value)

    def k_maximum(self, value: float, schema: Mapping[str, Any]) -> tuple[Check, bool]:
        return self._number(lambda v: v <= value)

    def k_exclusiveMinimum(self, value: float, schema: Mapping[str, Any]) -> tuple[Check, bool]:
        return self._number(lambda v: v > value)

    def k_exclusiveMaximum(self, value: float, schema: Mapping[str, Any]) -> tuple[Check, bool]:
        return self._number(lambda v: v < value)

    def k_oneOf(self, value: list[Any], schema: Mapping[str, Any]) -> tuple[Check, bool]:
        compiled = [self.compile(sub) for sub in value]
        if all(exact for _, exact in compiled):
            # Every branch's "no" is certain: count the branches that pass.
            checks = [check for check, _ in compiled]
            return (lambda v: sum(1 for c in checks if c(v)) == 1), True
        # Otherwise only branches told apart by type: "exactly one" is "the one of this value's type".
        branches: list[tuple[frozenset[str], Check]] = []
        seen: set[str] = set()
        for sub, (branch, _) in zip(value, compiled, strict=False):
            kinds = self.types(sub)
            if kinds is None or kinds & seen:
                raise Unsupported("oneOf whose branches are neither exact nor told apart by type")
            seen |= kinds
            branches.append((kinds, branch))

        def one_of(v: Any) -> bool:
            kind = _kind(v)
            for kinds, branch in branches:
                if kind in kinds:
                    return branch(v)
            return False
        return one_of, False

    def k_anyOf(self, value: list[Any], schema: Mapping[str, Any]) -> tuple[Check, bool]:
        compiled = [self.compile(sub) for sub in value]
        checks = [check for check, _ in compiled]
        return (lambda v: any(c(v) for c in checks)), all(exact for _, exact in compiled)

    def k_allOf(self, value: list[Any], schema: Mapping[str, Any]) -> tuple[Check, bool]:
        compiled = [self.compile(sub) for sub in value]
        checks = [check for check, _ in compiled]
        return _all_of(checks), all(exact for _, exact in compiled)


def compile_schema(schema: Mapping[str, Any]) -> Check:
    """A check for ``schema``: True only for documents it accepts; ``_never`` if it cannot compile."""
    try:
        return _Compiler(schema).compile(schema)[0]
    except (Unsupported, re.error, TypeError, KeyError):
        return _never


@cache
def episode_check(definition: str = "") -> Check:
    """The compiled episode schema (or, for includes, the same wrapper ``spec_schema._validator`` uses)."""
    from .spec_schema import schema

    root = schema()
    if definition:
        root = {**root, "$ref": f"#/$defs/{definition}", "required": [], "additionalProperties": True}
    return compile_schema(root)


@cache
def definition_check(definition: str) -> Check:
    """The compiled ``$defs/<definition>`` alone (one shot of an edited spec, say)."""
    from .spec_schema import schema

    root = schema()
    return compile_schema({"$defs": root["$defs"], "$ref": f"#/$defs/{definition}"})


def accepts(data: Any, definition: str = "") -> bool:
    """True when ``data`` is certainly valid against the episode schema (or ``$defs/<definition>``)."""
    try:
        return episode_check(definition)(data)
    except RecursionError:
        return False
