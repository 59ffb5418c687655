"""plain_yaml.read_item answers what spec_yaml.parse_item (PyYAML) answers, or leaves the item to it."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shotmake.plain_yaml import read_item
from shotmake.spec_delta import segment
from shotmake.spec_yaml import parse_item

from .conftest import SMALL_EPISODE

EPISODES = Path(__file__).resolve().parent.parent / "episodes"

#: Scalars YAML 1.1 reads in surprising ways, or that end the plain subset, and ordinary ones.
WORDS = ["a", "kai", "s1", "yes", "no", "on", "Off", "null", "~", "true", "0", "012", "1", "-3", "+4", "1.5", "-0.5",
         "1.", ".5", "1e3", "1.0e+3", "1_000", "0x1f", "0o7", "0b1", "1:30", "16:9", "2001-12-14", ".inf", ".nan", "inf",
         "NaN", "=", "<<", "-", "--", "- a", "?", "? a", ":", "a:", "a: b", "a:b", "http://x.y/z", "#", "a #b", "a#b",
         "@x", "`x", "%x", "!x", "!!str x", "&a x", "*a", "|", ">", "[", "]", "{a: 1}", "[a, b]", "'q'", '"q"',
         "it's", 'say "hi"', "héllo", "日本語", "a,b", "a, b", "{x}", "{mei} waves.", "x]", "x[", "x{", "x}", "a  b",
         " lead", "trail ", "\\", "a\\nb", "\t", "a\tb", "\u00a0", "\u2028", "\x85", "\ufeff", "é", "-1", "-01", "00",
         "0.0", "1.50", "3.", "-.5", "+.5", "1__0", "Yes", "NO", "y", "n", "Y", "N", "none", "None", "NULL", "Null", "~a"]
KEYS = ["id", "prompt", "duration", "seed", "characters", "provider", "resolution", "x_1", "Prompt", "k"]


def items_of(text: str) -> list[str]:
    """Each shot item of a spec as spec_delta hands it over: alone, at its own line numbers."""
    segments = segment(text)
    assert segments is not None
    lines = text.split("\n")
    bounds = [*segments.starts, segments.end]
    return ["\n" * a + "\n".join(lines[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]


def same_or_left(item: str) -> bool:
    """Whether read_item either left the item to PyYAML or read it exactly as PyYAML does."""
    ours = read_item(item, "ep.yaml", "shots[3]")
    return ours is None or ours == parse_item(item, "ep.yaml", "shots[3]")


def generated(rng: random.Random) -> str:
    def scalar() -> str:
        word, r = rng.choice(WORDS), rng.random()
        if r < 0.45:
            return word
        if r < 0.7:
            return f'"{word}"'
        if r < 0.85:
            return "'" + word.replace("'", "''") + "'"
        return "'" + word + "'" if r < 0.9 else '"' + word.replace('"', '\\"') + '"'

    def value() -> str:
        r = rng.random()
        if r < 0.75:
            text = scalar()
        elif r < 0.95:
            sep = rng.choice([", ", ",", " , "])
            text = "[" + rng.choice(["", " "]) + sep.join(scalar() for _ in range(rng.randrange(4))) \
                + rng.choice(["", " ", ", "]) + "]"
        else:
            text = rng.choice(["", " ", "|", ">-", "&x a", "*x", "{a: 1}", "[a, [b]]"])
        return text + (rng.choice([" # note", "  #x", "#x", " #", "   "]) if rng.random() < 0.15 else "")

    indent = rng.choice([0, 2, 4])
    lines = []
    for j in range(rng.randrange(1, 5)):
        entry = f"{rng.choice(KEYS)}:{rng.choice([' ', ' ', '  '])}{value()}"
        if j == 0:
            lines.append(" " * indent + rng.choice(["- ", "- ", "-  "]) + entry)
        else:
            lines.append(" " * (indent + 2 + rng.choice([0, 0, 0, 0, 1, -1, 2])) + entry)
        if rng.random() < 0.1:
            lines.append(rng.choice(["", "   ", " " * (indent + 2) + "# c", "# top", " " * (indent + 6) + "more"]))
    return "\n" * rng.randrange(4) + "\n".join(lines)


def test_every_shot_of_the_demo_episodes_reads_as_pyyaml_reads_it() -> None:
    items = [item for spec in sorted(EPISODES.glob("*.yaml")) for item in items_of(spec.read_text())]
    assert len(items) > 10 and all(same_or_left(item) for item in items)
    read = [item for item in items if read_item(item, "ep.yaml", "shots[3]") is not None]
    assert len(read) >= len(items) * 3 // 4, "the plain subset should cover most real shots"


def test_a_typical_shot_is_read_with_its_marks() -> None:
    item = '\n\n  - id: s3   # the harbour\n    prompt: "{mei} looks at the sea."\n    characters: [mei, kai]\n' \
           "    duration: 4\n    seed: -7\n    note: it's 5.5 o'clock, at http://x.y\n"
    data, marks = read_item(item, "ep.yaml", "shots[3]")  # type: ignore[misc]
    assert data == {"id": "s3", "prompt": "{mei} looks at the sea.", "characters": ["mei", "kai"], "duration": 4,
                    "seed": -7, "note": "it's 5.5 o'clock, at http://x.y"}
    assert marks["shots[3]"] == ("ep.yaml", 3, 5) and marks["shots[3].characters[1]"] == ("ep.yaml", 5, 23)
    assert (data, marks) == parse_item(item, "ep.yaml", "shots[3]")


@pytest.mark.parametrize("word", WORDS)
@pytest.mark.parametrize("written", ["{}", '"{}"', "'{}'", "[{}]", "[x, {}]", "{} # c"])
def test_each_surprising_scalar_is_read_as_pyyaml_reads_it_or_left_to_it(word: str, written: str) -> None:
    assert same_or_left("  - id: s1\n    prompt: " + written.format(word) + "\n")


def test_thousands_of_generated_items_are_read_as_pyyaml_reads_them_or_left_to_it() -> None:
    rng = random.Random(15)
    items = [generated(rng) for _ in range(4000)]
    assert all(same_or_left(item) for item in items)
    assert sum(read_item(item, "ep.yaml", "shots[3]") is not None for item in items) > 300  # both paths ran


def test_a_plan_after_a_plain_edit_never_imports_pyyaml(tmp_path: Path) -> None:
    (tmp_path / "shotmake.toml").write_text("")
    spec = tmp_path / "ep.yaml"
    spec.write_text(SMALL_EPISODE)
    os.utime(spec, (time.time() - 3600, time.time() - 3600))  # settled: a build snapshots only settled files
    subprocess.run([sys.executable, "-m", "shotmake", "build", "-q", "ep.yaml"], cwd=tmp_path, check=True,
                   capture_output=True)
    spec.write_text(SMALL_EPISODE.replace("A lighthouse at dusk.", "A lighthouse at night."))
    probe = ("import sys\nfrom shotmake.quick import run\ncode = run(['plan', 'ep.yaml'])\n"
             "print(code, 'yaml' in sys.modules, file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert "prompt changed" in proc.stdout
    assert proc.stderr.split() == ["0", "False"]
