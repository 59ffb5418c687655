"""Hostile specs: whatever the bytes, loading ends in an Episode or a SpecError with file:line.

No input may escape as another exception (a traceback and exit 1 instead of a message and
exit 2), run for long or take unbounded memory: YAML bombs (billion laughs, and aliases that
multiply one long string), huge files, deep nesting, bytes that are not UTF-8, tags that
construct objects, and asset or include paths that leave the project (``../``, absolute,
symlinks, and names the OS refuses: NUL bytes, over-long names, symlink loops).

The property tests use hypothesis with a fixed seed (``derandomize``) and a modest number of
examples, so every run tries the same inputs.
"""

from __future__ import annotations

import copy
import os
import resource
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shotmake import spec_yaml as spec_module
from shotmake.cli import cli
from shotmake.errors import SpecError
from shotmake.model import Episode
from shotmake.spec import load_episode
from shotmake.spec_schema import schema

FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

VALID = """\
version: 1
episode: tiny
style: {look: flat colours, negative: text}
defaults: {provider: local, resolution: 480p, duration: 2, fps: 12}
characters:
  mei:
    name: Mei
    description: a girl in a yellow raincoat
    references: [refs/mei.png]
    sheet: true
plates:
  dawn: {file: refs/dawn.png}
shots:
  - id: a
    prompt: "{mei} looks at the sea."
    first_frame: dawn
    trim: {in: 0.5, out: 1.5}
  - id: b
    prompt: A lighthouse at dusk.
    after: a
    takes: 2
    pick: 2
sequences:
  - id: one
    shots: [a, b]
    transition: {kind: crossfade, seconds: 0.5}
"""


def make_project(root: Path) -> Path:
    """A project root with the assets VALID names; returns the spec path (not yet written)."""
    (root / "shotmake.toml").write_text("")
    (root / "refs").mkdir(exist_ok=True)
    for name in ("mei.png", "dawn.png"):
        (root / "refs" / name).write_bytes(b"\x89PNG fake")
    return root / "ep.yaml"


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("hostile"))


def outcome(path: Path, data: bytes) -> Episode | SpecError:
    """Load ``data`` as the spec at ``path``: an Episode, or the SpecError; anything else fails the test."""
    path.write_bytes(data)
    try:
        return load_episode(path)
    except SpecError as exc:
        errors = getattr(exc, "errors", [exc])
        for error in errors:
            assert error.location is not None, f"no file:line in: {error.render()}"
            assert error.location.line >= 1 and error.location.file.endswith(path.name), error.render()
        return exc


def test_the_valid_seed_loads(spec_path: Path) -> None:
    assert isinstance(outcome(spec_path, VALID.encode()), Episode)


# -- properties ------------------------------------------------------------------------------

@FUZZ
@given(st.binary(max_size=400))
def test_any_bytes_load_or_fail_with_a_located_spec_error(spec_path: Path, data: bytes) -> None:
    outcome(spec_path, data)


@FUZZ
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_any_text_loads_or_fails_with_a_located_spec_error(spec_path: Path, text: str) -> None:
    outcome(spec_path, text.encode("utf-8", "surrogatepass") if text else b"")


#: Scalars YAML resolves to numbers, booleans, nulls and dates, and their near misses.
TRICKY_SCALARS = st.sampled_from([
    "0x_", "0b_", "0o_", "0_", "+0x1_", "0b2", "1_000", "._", "-.inf", ".nan", "1.0e+999", "0x", "0o",
    "2001-12-14", "2001-13-45", "12:30:45", "1:2:3:4", "~", "null", "yes", "No", "on", "=", "<<",
    "!!str 1", "!!int x", "!!float x", "!!python/object:os.system x", "*undefined", "&a", "''",
    '"\\x00"', '"\\ud800"', "a\tb", "|-\n  x", ">\n  y", "[", "{", "]", "}", "- - -", "? a",
    "9" * 5000, "-9e9999", "1e1000", "0." + "0" * 400 + "1",
])
VALUES = st.recursive(
    st.one_of(TRICKY_SCALARS, st.integers(), st.floats(allow_nan=False, allow_infinity=False),
              st.booleans(), st.none(), st.text(max_size=20)),
    lambda children: st.one_of(st.lists(children, max_size=3),
                               st.dictionaries(st.text(max_size=8), children, max_size=3)),
    max_leaves=8,
)


def _lines() -> list[str]:
    return VALID.splitlines()


@settings(FUZZ, max_examples=300)
@given(st.data())
def test_mutated_valid_specs_load_or_fail_with_a_located_spec_error(spec_path: Path, data: st.DataObject) -> None:
    lines = _lines()
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(lines) - 1))
        line = lines[i]
        action = data.draw(st.sampled_from(["scalar", "scalar", "value", "raw", "delete", "duplicate", "indent",
                                            "chars"]))
        if action == "scalar" and ":" in line:
            lines[i] = f"{line.split(':', 1)[0]}: {data.draw(TRICKY_SCALARS)}"
        elif action == "value" and ":" in line:
            head = line.split(":", 1)[0]
            value = data.draw(VALUES)
            text = value if isinstance(value, str) and data.draw(st.booleans()) else \
                yaml.safe_dump(value, default_flow_style=True).strip().replace("\n...", "")
            lines[i] = f"{head}: {text}"
        elif action == "raw":
            lines[i] = line + data.draw(TRICKY_SCALARS)
        elif action == "delete":
            del lines[i]
        elif action == "duplicate":
            lines.insert(i, line)
        elif action == "indent":
            lines[i] = " " * data.draw(st.integers(0, 6)) + line.lstrip()
        else:
            at = data.draw(st.integers(0, len(line)))
            lines[i] = line[:at] + data.draw(st.text(max_size=4)) + line[at:]
        if not lines:
            break
    outcome(spec_path, "\n".join(lines).encode("utf-8", "surrogatepass"))


@FUZZ
@given(st.lists(st.sampled_from(["..", ".", "refs", "mei.png", "nope", "/etc", "passwd", "link", "loop",
                                 "\x00", "x" * 300, "", "~", "//"]), min_size=1, max_size=5))
def test_any_asset_path_is_refused_or_stays_in_the_project(spec_path: Path, parts: list[str]) -> None:
    root = spec_path.parent
    if not (root / "link").is_symlink():
        (root / "link").symlink_to("/etc")
        (root / "loop").symlink_to("loop")
    value = "/".join(parts)
    text = VALID.replace("references: [refs/mei.png]", f"references: [{yaml.safe_dump(value).split(chr(10))[0]}]")
    result = outcome(spec_path, text.encode())
    if isinstance(result, Episode):
        (ref,) = result.characters["mei"].references
        assert Path(ref).resolve().is_relative_to(root.resolve()), ref


# -- the CLI: exit 2 and a message, never a traceback ----------------------------------------

@pytest.mark.parametrize("data", [
    b"episode: x\nk: !!python/object/apply:os.system ['echo pwned > pwned.txt']\n",
    b"a: 0x_\n",
    b"\xff\xfe\x00e\x00p\x00",
    b"[" * 990 + b"]" * 990,
    b"version: 1\nepisode: [unclosed\n",
])
def test_cli_reports_bad_specs_with_exit_2_and_file_line(tmp_path: Path, data: bytes,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("ep.yaml").write_bytes(data)
    for command in (["validate", "ep.yaml"], ["plan", "ep.yaml"], ["build", "ep.yaml"]):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 2, (command, result.output, result.exception)
        assert isinstance(result.exception, SystemExit), result.exception
        assert "Traceback" not in result.output and result.output.startswith("ep.yaml:"), result.output
    assert not Path("pwned.txt").exists() and not Path(".shotmake").exists()


# -- bombs, size, depth: refused quickly and in bounded memory -------------------------------

def refused_quickly(path: Path, data: bytes | str, *, seconds: float = 10.0, match: str = "") -> SpecError:
    """Load ``data`` and expect a located SpecError within ``seconds`` and < 400 MB of new memory."""
    if isinstance(data, str):
        data = data.encode()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    error = outcome(path, data)
    elapsed = time.monotonic() - started
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert isinstance(error, SpecError), "expected a refusal"
    assert match in error.render(), error.render()
    assert elapsed < seconds, f"took {elapsed:.1f}s"
    assert grown_mb < 400, f"peak memory grew by {grown_mb:.0f} MB"
    return error


def billion_laughs(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused(spec_path: Path) -> None:
    refused_quickly(spec_path, billion_laughs(), match="expands to more than")


def test_aliases_multiplying_one_long_string_are_refused(spec_path: Path) -> None:
    """Few nodes, but every shot's prompt is the same 200 kB string: 2,000 shots would be 400 MB."""
    shots = "\n".join(f"  - {{id: s{i}, prompt: *p}}" for i in range(2000))
    text = f"version: 1\nepisode: e\nstyle: {{look: &p '{'x' * 200_000}'}}\nshots:\n{shots}\n" \
           "sequences:\n  - {id: q, shots: [s0]}\n"
    refused_quickly(spec_path, text, match="expands to more than")


def test_a_50_mb_file_is_refused_without_reading_it_all(spec_path: Path) -> None:
    text = "version: 1\nepisode: big\nstyle: {look: '" + "x" * (50 << 20) + "'}\n"
    refused_quickly(spec_path, text, match="larger than")


def test_a_dense_file_of_millions_of_values_is_refused(spec_path: Path) -> None:
    refused_quickly(spec_path, "[" + "a," * 2_500_000 + "a]\n", match="more than")


@pytest.mark.parametrize("depth", [200, 990, 10_000])
def test_deep_nesting_is_refused(spec_path: Path, depth: int) -> None:
    refused_quickly(spec_path, "a: " + "[" * depth + "]" * depth + "\n")
    refused_quickly(spec_path, "".join("  " * i + "k:\n" for i in range(min(depth, 3000))) + "  " * depth + "v\n")


def test_deep_nesting_is_refused_by_the_pure_python_loader_too(spec_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spec_module, "_loader", lambda: yaml.SafeLoader)
    refused_quickly(spec_path, "a: " + "[" * 10_000 + "]" * 10_000 + "\n")


def test_not_utf8_is_refused_with_its_line(spec_path: Path) -> None:
    error = refused_quickly(spec_path, b"version: 1\nepisode: caf\xe9\n")
    assert error.location is not None and error.location.line == 2


@pytest.mark.parametrize("tag", ["!!python/object/apply:os.system ['true']", "!!python/name:os.system",
                                 "!!binary aGk=", "!!set {a: null}", "!!timestamp 2001-12-14", "!custom x"])
def test_constructing_tags_are_refused(spec_path: Path, tag: str) -> None:
    refused_quickly(spec_path, VALID.replace("name: Mei", f"name: {tag}"), match="unsupported YAML tag")


# -- paths out of the project ----------------------------------------------------------------

@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    make_project(root)
    (tmp_path / "outside.png").write_bytes(b"secret")
    (tmp_path / "outside.yaml").write_text("style: {look: stolen}\n")
    (root / "escape.png").symlink_to(tmp_path / "outside.png")
    (root / "escape.yaml").symlink_to(tmp_path / "outside.yaml")
    (root / "refs" / "up").symlink_to("..")
    (root / "loop.png").symlink_to("loop.png")
    (root / "fifo.yaml").parent.mkdir(exist_ok=True)
    os.mkfifo(root / "fifo.yaml")
    os.mkfifo(root / "fifo.png")
    return root


@pytest.mark.parametrize("ref", ["../outside.png", "/etc/passwd", "escape.png", "refs/up/../outside.png",
                                 "refs/../../outside.png", "loop.png", "fifo.png", "\x00.png",
                                 "x" * 5000 + ".png", "a/" * 3000 + "x.png", "refs"])
def test_asset_paths_outside_the_project_or_unreadable_are_refused(project: Path, ref: str) -> None:
    text = VALID.replace("references: [refs/mei.png]", f"references: [{yaml.safe_dump(ref).splitlines()[0]}]")
    error = refused_quickly(project / "ep.yaml", text, seconds=5)
    assert error.field == "characters.mei.references[0]", error.render()


@pytest.mark.parametrize("include", ["../outside.yaml", "/etc/hostname", "escape.yaml", "fifo.yaml",
                                     "\x00.yaml", "x" * 5000 + ".yaml", "refs/up/../outside.yaml"])
def test_include_paths_outside_the_project_or_unreadable_are_refused(project: Path, include: str) -> None:
    text = VALID.replace("version: 1\n", f"version: 1\ninclude: [{yaml.safe_dump(include).splitlines()[0]}]\n")
    error = refused_quickly(project / "ep.yaml", text, seconds=5)
    assert error.field == "include[0]", error.render()


def test_plate_and_voiceover_and_music_paths_are_checked_too(project: Path) -> None:
    spec = project / "ep.yaml"
    for old, new, field in [
        ("file: refs/dawn.png", "file: ../outside.png", "plates.dawn.file"),
        ("after: a\n", "after: a\n    voiceover: escape.png\n", "shots[1].voiceover"),
        ("sequences:", "delivery: {music: /etc/passwd}\nsequences:", "delivery.music"),
    ]:
        error = refused_quickly(spec, VALID.replace(old, new), seconds=5)
        assert error.field == field, error.render()


def test_each_missing_required_field_is_named_once(spec_path: Path) -> None:
    error = outcome(spec_path, b"version: 1\nepisode: e\n")
    assert isinstance(error, SpecError)
    lines = error.render().splitlines()
    assert len(lines) == 2 and "'shots'" in lines[0] and "'sequences'" in lines[1], lines


# -- validate ok => plan plans: mutate the data, not the text ---------------------------------

#: VALID with every delivery key and the fields assembly reads, so mutations reach them all.
RICH = VALID.replace("    pick: 2\n", "    pick: 2\n    subtitle: Hello.\n").replace(
    "  dawn: {file: refs/dawn.png}\n", "  dawn: {file: refs/dawn.png}\n  harbour: {prompt: an empty harbour, aspect: '16:9'}\n"
) + """\
delivery:
  format: {resolution: 480p, aspect: "16:9", fps: 12}
  loudness: -16
  music_gain_db: -14
  subtitles: {burn: true}
  poster_at: 1
  renditions: [vertical, proxy]
"""


def _field_names() -> list[str]:
    names: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            names.update(node.get("properties", {}) if isinstance(node.get("properties"), dict) else ())
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(schema())
    return sorted(names)


#: Values a user (or a fuzzer) might put anywhere: near misses of the values each field takes.
PLAUSIBLE = st.sampled_from([
    0, -1, 1, 2, 0.5, 3.0, 999, 1e9, -0.0, True, False, None, "", "a", "b", "mei", "dawn", "one", "x" * 90,
    "16:9", "9:16", "4:3", 969, "480p", "720p", "8k", "4k", "1K", "local", "veo-3.1", "sora-2", "local-image",
    "cut", "crossfade", "fade", "wipe", "vertical", "proxy", "square", "a\n", "café", "refs/mei.png",
    "refs\\mei.png", "C:/x.png", "SM104", "SM9", [], {}, ["a"], ["a", "a"], ["mei"], ["dawn"], ["vertical"],
    {"kind": "crossfade", "seconds": 5}, {"kind": "fade"}, {"in": 0.5}, {"out": 99}, {"burn": True},
    {"resolution": "4k"}, {"fps": 0}, {"provider": "gemini-3-pro-image"}, {"file": "refs/dawn.png"},
    {"prompt": "a harbour"}, {"description": "a cat"},
])


#: Values near the edge of what each field takes (a plausible value in the wrong field is a typo
#: validate catches at once; these reach the semantic checks and the planner).
NEAR_MISSES: dict[str, list[object]] = {
    "aspect": ["16:9", "9:16", "4:3", 969, "1:1", "0:0", "0:5", "abc"], "resolution": ["480p", "720p", "1080p", "4k", "8k", 720],
    "fps": [0, 1, 12, 24, 120, 121, "abc", 12.5], "duration": [0.1, 1, 2, 4, 8, 600, 0, -1],
    "poster_at": [0, 1, 1.9, 2.5, 3.4, 999, -1], "seconds": [0, 0.1, 0.5, 1, 1.5, 2, 5],
    "in": [0, 0.5, 1, 1.9, 2, 3], "out": [0, 0.5, 1, 1.5, 2, 2.5, 99], "kind": ["cut", "crossfade", "fade", "wipe"],
    "renditions": [[], ["vertical"], ["proxy", "vertical"], ["proxy", "proxy"], "vertical", ["square"]],
    "takes": [1, 2, 3, 16, 17, 0], "pick": [1, 2, 3, 0], "after": ["a", "b", "x"], "extends": ["a", "b", "x"],
    "first_frame": ["dawn", "nope"], "last_frame": ["dawn", "nope"], "loudness": [-16, -70, -5, 0, 3, "loud"],
    "music_gain_db": [-14, 0, 20, 100, "loud"], "burn": [True, False, "yes"],
    "format": [{}, {"fps": 0}, "720p", {"resolution": "4k", "aspect": "9:16"}, {"aspect": "4:3"}],
    "transition": ["cut", "fade", "wipe", {"kind": "crossfade", "seconds": 1.9}, {"kind": "fade", "seconds": 0.9}],
    "provider": ["local", "veo-3.1", "sora-2", "local-image", "veo3"], "sheet": [True, False, {}, {"size": "4K"}],
    "trim": [{"in": 0.5, "out": 1.5}, {"in": 1.9}, {"out": 2}, {}, {"in": 2}],
    "characters": [["mei"], [], ["kai"]], "references": [[], ["dawn"], ["refs/mei.png"], ["nope"]],
    "subtitle": ["", "Hi", "a\n", "\u00e9t\u00e9"], "prompt": ["x", "{mei} waves", "{kai}", ""],
    "id": ["a", "b", "one", "a\n", "caf\u00e9", "x"], "shots": [["a"], ["a", "b"], ["b", "a"], ["b"], [], ["x"]],
    "subtitles": [{}, {"burn": False}, True], "music": ["refs/dawn.png", "nope.mp3"],
    "seed": [0, -1, 2**40, 1.5], "audio": [True, False, "no"], "size": ["1K", "4K", "8K"], "output": ["o.mp4", "o"],
}


def _paths(data: object, path: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    found = [path] if path else []
    if isinstance(data, dict):
        for key, value in data.items():
            found.extend(_paths(value, (*path, key)))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found.extend(_paths(value, (*path, i)))
    return found


def _mutate(data: dict, draw: st.DataObject) -> None:
    """One or two edits a user might make: mostly a plausible value in a field, sometimes junk."""
    for _ in range(draw.draw(st.integers(1, 2))):
        path = draw.draw(st.sampled_from(_paths(data)))
        parent: object = data
        for part in path[:-1]:
            parent = parent[part]  # type: ignore[index]
        action = draw.draw(st.sampled_from(["set"] * 6 + ["junk", "delete", "add"]))
        if action in ("set", "junk"):
            name = next((p for p in reversed(path) if isinstance(p, str)), "")
            near = st.sampled_from(NEAR_MISSES[name]) if name in NEAR_MISSES else PLAUSIBLE
            value = draw.draw(near if action == "set" else VALUES)
            parent[path[-1]] = copy.deepcopy(value)  # type: ignore[index]
        elif action == "delete":
            del parent[path[-1]]  # type: ignore[attr-defined]
        elif isinstance(parent, dict):
            parent[draw.draw(st.sampled_from(FIELD_NAMES))] = copy.deepcopy(draw.draw(PLAUSIBLE))
        elif isinstance(parent, list):
            parent.append(copy.deepcopy(draw.draw(PLAUSIBLE)))


FIELD_NAMES = _field_names()


def _invoke(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--cache-dir", str(root / ".shotmake"), "--out-dir", str(root / "build"),
                                      *args])
    text = result.output
    assert "Traceback" not in text, text
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception)
    assert result.exit_code in (0, 2), (args, result.exit_code, text)
    return result.exit_code, text


def test_the_rich_seed_validates_and_plans(spec_path: Path) -> None:
    spec_path.write_text(RICH)
    assert _invoke(spec_path.parent, "validate", str(spec_path))[0] == 0
    assert _invoke(spec_path.parent, "plan", str(spec_path))[0] == 0


@settings(FUZZ, max_examples=200)
@given(st.data())
def test_whatever_validate_accepts_plan_plans(spec_path: Path, data: st.DataObject) -> None:
    """The invariant: ``validate`` never says ok to a spec ``plan`` cannot plan, and no command tracebacks."""
    spec = yaml.safe_load(RICH)
    _mutate(spec, data)
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))
    root = spec_path.parent
    validated, text = _invoke(root, "validate", str(spec_path))
    planned, plan_text = _invoke(root, "plan", str(spec_path))
    if validated == 0:
        assert planned == 0, plan_text
        assert _invoke(root, "status", str(spec_path))[0] == 0
        assert _invoke(root, "graph", str(spec_path))[0] == 0
    else:
        assert planned == 2 and text.splitlines()[0] in plan_text, (text, plan_text)
