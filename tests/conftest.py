"""Shared fixtures: a temporary project with a small episode, and a CLI runner."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from shotmake.cli import cli


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the slow tests first, the rest in their order.

    Under xdist the workers take tests from the front: slow ones started first overlap the
    hundreds of quick ones instead of trailing alone at the end of the run.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)

#: A small, fast episode: 480p, short clips, one continuity edge, one sheet.
SMALL_EPISODE = """\
version: 1
episode: tiny
style:
  look: flat colours
  negative: text
defaults:
  provider: local
  resolution: 480p
  duration: 1
  fps: 12
characters:
  mei:
    name: Mei
    description: a girl in a yellow raincoat
    sheet: true
  kai:
    description: a boy with a green scarf
shots:
  - id: a
    prompt: "{mei} looks at the sea."
  - id: b
    prompt: A lighthouse at dusk.
    duration: 2
  - id: c
    prompt: "{kai} waves."
    characters: [kai]
    after: a
sequences:
  - id: one
    shots: [a, b]
  - id: two
    shots: [c]
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary project directory (the cwd) with ``episodes/tiny.yaml``."""
    (tmp_path / "episodes").mkdir()
    (tmp_path / "episodes" / "tiny.yaml").write_text(SMALL_EPISODE)
    monkeypatch.chdir(tmp_path)
    for var in ("OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "SHOTMAKE_CACHE", "SHOTMAKE_OUT"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a (dedented) spec into the temp dir and return its path."""

    def write(text: str, name: str = "ep.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    return write


@pytest.fixture
def run() -> Callable[..., Result]:
    """Invoke the CLI in-process, like a user would from the shell."""
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(cli, list(args), catch_exceptions=False)

    return invoke


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    """An HTTP client for a provider adapter under test (the adapters take it injected)."""
    with httpx.Client(timeout=10.0) as c:
        yield c
