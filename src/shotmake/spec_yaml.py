"""Spec YAML with marks: every field path keeps the file, line and column its value came from.

PyYAML's C composer reads the text; the node tree is turned into plain data here, with the
limits that keep a hostile spec (an alias bomb, a 16 MB file, deep nesting, control characters)
from filling memory or reaching a subprocess, and with each field's place recorded for messages.
``parse_item`` reads one list item alone, at its own line numbers (``spec_delta``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import SourceLocation, SpecError

if TYPE_CHECKING:
    import yaml
else:
    class _PyYAML:
        """PyYAML, imported on first use: after a one-shot edit ``plain_yaml`` usually reads the
        changed shot, and importing PyYAML is ~7 ms of a 70 ms plan."""

        def __getattr__(self, name: str) -> Any:
            import yaml as module

            globals()["yaml"] = module
            return getattr(module, name)

    yaml = _PyYAML()


def _loader() -> Any:
    """The C composer is several times faster on big specs; PyYAML built without libyaml lacks it."""
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: Refuse specs whose alias expansion builds more values than the text could hold without
#: aliases (a "billion laughs" bomb): every plain value needs at least a few bytes of text.
BASE_VALUE_BUDGET = 100_000
#: The same for characters: aliases that repeat one long string (a prompt of 200 kB in 2,000
#: shots) are a bomb made of few values. Without aliases a spec expands to at most its length.
BASE_CHAR_BUDGET = 1 << 20
#: Hostile-input limits, all far above real episodes (a 10,000-shot spec is ~2 MB, ~200k values,
#: nested ~8 deep): past them composing alone would take seconds per MB and ~300 bytes of
#: memory per value, or overflow the stack.
MAX_SPEC_BYTES = 16 << 20
MAX_NODES = 500_000
MAX_DEPTH = 100

_STR = "tag:yaml.org,2002:str"
_ALLOWED_TAGS = {
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}


class Marks(Mapping[str, SourceLocation]):
    """Field path -> ``SourceLocation``, kept as ``(file, line, column)`` tuples and made on access.

    A 10,000-shot spec has ~100,000 field paths and messages need a handful: a tuple per path
    costs a fifth of a frozen dataclass, and merging files is one ``dict.update``.
    """

    __slots__ = ("raw",)

    def __init__(self, raw: dict[str, tuple[str, int, int]] | None = None) -> None:
        self.raw: dict[str, tuple[str, int, int]] = {} if raw is None else raw

    def __getitem__(self, path: str) -> SourceLocation:
        file, line, column = self.raw[path]
        return SourceLocation(file, line, column)

    def __contains__(self, path: object) -> bool:
        return path in self.raw

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)


@dataclass
class Document:
    """Parsed YAML data plus the source location of every field path in it."""

    data: Any
    #: Field path -> where its value starts (what most messages point at).
    locations: Marks
    file: str
    #: Field path -> where its key starts (for unknown or duplicate fields).
    key_locations: Marks = field(default_factory=Marks)
    #: Field path -> source text of a number written with colons (YAML 1.1 reads ``16:9`` as 969).
    colon_numbers: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# YAML with marks


def parse_yaml(text: str, file: str) -> Document:
    """Parse YAML text into plain data, recording where each field path came from."""
    try:
        if _node_estimate(text) > MAX_NODES:
            _count_nodes(text, file)  # before composing: a dense file would fill memory first
        root = yaml.compose(text, Loader=_loader())
    except RecursionError as exc:  # the pure-Python composer recurses once per nesting level
        raise SpecError(f"the spec nests deeper than {MAX_DEPTH} levels", location=SourceLocation(file, 1, 1),
                        hint="flatten the nested lists and mappings") from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = SourceLocation(file, mark.line + 1, mark.column + 1) if mark else None
        problem = exc.problem or str(exc)
        raise SpecError(f"invalid YAML: {problem}", location=loc, hint="check indentation and quoting") from exc
    except yaml.YAMLError as exc:
        raise SpecError(f"invalid YAML: {exc}", location=SourceLocation(file, 1, 1)) from exc
    if root is None:
        return Document(None, Marks(), file)
    builder = _Builder(file, BASE_VALUE_BUDGET + 4 * len(text), BASE_CHAR_BUDGET + 4 * len(text),
                       escapes="\\" in text)
    data = builder.build(root, "")
    return Document(data, Marks(builder.marks), file, Marks(builder.key_marks), builder.colon_numbers)


def _node_estimate(text: str) -> int:
    """An upper bound on the values in ``text``: each one starts after one of these characters."""
    return sum(text.count(c) for c in ",:-[{?\n") + 1


def _count_nodes(text: str, file: str) -> None:
    """Stream the parser's events (constant memory) and refuse past ``MAX_NODES`` values."""
    count = 0
    for event in yaml.parse(text, Loader=_loader()):
        if isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent, yaml.CollectionStartEvent)):
            count += 1
            if count > MAX_NODES:
                mark = event.start_mark
                where = SourceLocation(file, mark.line + 1, mark.column + 1) if mark else SourceLocation(file, 1, 1)
                raise SpecError(f"the spec holds more than {MAX_NODES:,} values", location=where,
                                hint="split it into episodes, or move shared parts into include files")


#: Characters no spec string may hold: C0 controls but tab and line breaks, DEL, and lone
#: surrogates. YAML refuses them written raw; a double-quoted escape ("\\0", "\\ud800") makes them,
#: and then an ffmpeg argument, a JSON request or a file name fails at the end of a build.
_BAD_CHARACTER = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


class _Builder:
    """Turn a composed YAML node tree into dicts/lists/scalars with a location per path."""

    def __init__(self, file: str, budget: int, char_budget: int, escapes: bool = True) -> None:
        self.file = file
        #: Field path -> (file, line, column) of its value, and of its key.
        self.marks: dict[str, tuple[str, int, int]] = {}
        self.key_marks: dict[str, tuple[str, int, int]] = {}
        self.budget = budget
        self.count = 0
        self.char_budget = char_budget
        self.chars = 0
        self.constructor = yaml.SafeLoader("")  # only its scalar constructors are used
        #: Only escapes in double quotes make the characters ``_BAD_CHARACTER`` finds.
        self.escapes = escapes
        self.colon_numbers: dict[str, str] = {}

    def check_text(self, text: str, node: yaml.Node, path: str) -> None:
        bad = _BAD_CHARACTER.search(text) if self.escapes else None
        if bad is not None:
            raise SpecError(f"the text holds the control character U+{ord(bad.group()):04X}",
                            location=self.loc(node), field=path,
                            hint="remove it: spec strings may hold tabs and line breaks, no other control characters")

    def loc(self, node: yaml.Node) -> SourceLocation:
        return SourceLocation(self.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def build(self, node: yaml.Node, path: str, depth: int = 0) -> Any:
        self.count += 1
        if depth > MAX_DEPTH:
            raise SpecError(f"the spec nests deeper than {MAX_DEPTH} levels", location=self.loc(node),
                            hint="flatten the nested lists and mappings")
        if isinstance(node, yaml.ScalarNode):
            self.chars += len(node.value)
        if self.chars > self.char_budget:
            raise SpecError(
                f"spec expands to more than {self.char_budget:,} characters",
                location=self.loc(node),
                field=path,
                hint="YAML aliases repeat a long value many times (a 'billion laughs' document?)",
            )
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
        mark = node.start_mark
        self.marks[path] = (self.file, mark.line + 1, mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            result: dict[str, Any] = {}
            prefix = f"{path}." if path else ""
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR:
                    raise SpecError("mapping keys must be plain strings", location=self.loc(key_node), field=path,
                                    hint="YAML merge keys (<<) and non-string keys are not supported")
                key = str(key_node.value)
                child = prefix + key  # join_path, inlined: this runs once per field of the spec
                if self.escapes:
                    self.check_text(key, key_node, child)
                if key in result:
                    raise SpecError(
                        f"duplicate key '{key}'",
                        location=self.loc(key_node),
                        field=child,
                        hint=f"'{key}' is already set at line {self.key_marks[child][1]}",
                    )
                mark = key_node.start_mark
                self.key_marks[child] = (self.file, mark.line + 1, mark.column + 1)
                result[key] = self.build(value_node, child, depth + 1)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(node.value)]
        if node.tag == _STR:  # what SafeConstructor.construct_yaml_str returns, without its dispatch
            self.check_text(node.value, node, path)
            return node.value
        try:
            value = self.constructor.construct_object(node)
        except (ValueError, TypeError, OverflowError, yaml.YAMLError) as exc:  # e.g. '0x_' resolves as an int
            raise SpecError(f"cannot read {node.value[:40]!r} as {node.tag.rsplit(':', 1)[-1]}",
                            location=self.loc(node), field=path, hint="quote it to make it a string") from exc
        if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
            raise SpecError("NaN and infinity are not allowed", location=self.loc(node), field=path)
        if isinstance(value, str):
            self.check_text(value, node, path)
        elif isinstance(value, (int, float)) and ":" in node.value:
            self.colon_numbers[path] = node.value
        return value


def read_document(path: Path, display: str) -> Document:
    """Read and parse one YAML file (UTF-8) into a ``Document`` with marks."""
    try:
        with open(path, "rb") as handle:  # never more than the limit, whatever the file claims
            raw = handle.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise SpecError(f"cannot read spec: {exc.strerror}", location=SourceLocation(display, 1, 1)) from exc
    return parse_yaml(spec_text(raw, display), display)


def spec_text(raw: bytes, display: str) -> str:
    """A spec file's bytes as text: refused past ``MAX_SPEC_BYTES`` or when they are not UTF-8."""
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError(f"the spec is larger than {MAX_SPEC_BYTES >> 20} MiB", location=SourceLocation(display, 1, 1),
                        hint="split it into episodes, or move shared parts into include files")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpecError("file is not valid UTF-8", location=SourceLocation(display, line, 1),
                        hint="save the spec as UTF-8") from exc


def parse_item(text: str, file: str, path: str) -> tuple[Any, dict[str, tuple[str, int, int]]] | None:
    """One list item written alone (``  - id: s3 ...``, after as many blank lines as came before it):
    its data and marks under ``path``, or None when it is not one plain item (no anchors or aliases)."""
    try:
        for event in yaml.parse(text, Loader=_loader()):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
                return None
        root = yaml.compose(text, Loader=_loader())
    except (yaml.YAMLError, RecursionError):
        return None
    if not isinstance(root, yaml.SequenceNode) or len(root.value) != 1:
        return None
    builder = _Builder(file, BASE_VALUE_BUDGET + 4 * len(text), BASE_CHAR_BUDGET + 4 * len(text),
                       escapes="\\" in text)
    try:
        data = builder.build(root.value[0], path)
    except SpecError:
        return None
    return data, builder.marks
