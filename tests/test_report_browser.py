"""The report page in a real headless Chromium: offline, playable, laid out, and picking a take.

Chromium comes from the system (`make browser` installs Debian's package; CI runs it and sets
SHOTMAKE_REQUIRE_BROWSER=1, so a missing browser fails there instead of skipping). playwright
drives it through the driver its wheel bundles; `playwright install` is never needed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

SPEC = textwrap.dedent("""\
    # Two takes of the first shot, for the pick test.
    version: 1
    episode: tiny
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
    shots:
      - id: a
        prompt: "{mei} looks at the sea."
        takes: 2   # two tries
      - id: b
        prompt: A lighthouse at dusk.
        duration: 2
      - id: c
        prompt: "{mei} waves."
        after: a
    sequences:
      - id: one
        title: Opening
        shots: [a, b]
      - id: two
        shots: [c]
    """)

#: Elements sticking out of the viewport on the right, and images that did not decode.
LAYOUT_PROBLEMS = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll('body *')].filter(e => {
    const r = e.getBoundingClientRect();
    return r.width > 0 && r.right > width + 1;
  }).map(e => e.tagName + '.' + e.className);
  const broken = [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src);
  return {wide, broken, scroll: document.documentElement.scrollWidth - width};
}"""


def shotmake(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shotmake", *args], cwd=project, capture_output=True, text=True,
                          timeout=300, check=False)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless Chromium for the module (a fresh profile), or a skip saying how to get one."""
    if not CHROMIUM.exists():
        reason = "Chromium is not installed at /usr/bin/chromium: `make browser` installs it (Debian's package)"
        if os.environ.get("SHOTMAKE_REQUIRE_BROWSER", "") not in ("", "0"):
            pytest.fail(reason + "; SHOTMAKE_REQUIRE_BROWSER is set, so the browser tests must run")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM), headless=True,
            args=FLAGS, viewport={"width": 1280, "height": 900})
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose episode (two takes of shot a) is built and reported."""
    project = tmp_path_factory.mktemp("review-project")
    (project / ".git").mkdir()
    (project / "episodes").mkdir()
    (project / "episodes" / "tiny.yaml").write_text(SPEC)
    done = shotmake(project, "build", "-q", "--report", "episodes/tiny.yaml")
    assert done.returncode == 0, done.stderr
    return project


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh tab whose every request outside 127.0.0.1 and file: is aborted (and recorded)."""
    tab = browser.new_page()
    tab.outside = []

    def gate(route: Any) -> None:
        url = route.request.url
        if url.startswith(("file:", "http://127.0.0.1:")):
            route.continue_()
        else:
            tab.outside.append(url)
            route.abort()

    tab.route("**/*", gate)
    try:
        yield tab
    finally:
        tab.close()


def load_everything(tab: Any) -> None:
    """Scroll every lazy image into view and wait until each has loaded (or failed)."""
    tab.evaluate("() => { for (const i of document.images) i.loading = 'eager'; }")
    tab.wait_for_function("() => [...document.images].every(i => i.complete)", timeout=15000)


def check_layout(tab: Any, shot: Path) -> None:
    for width in (1280, 420):  # a laptop and a phone
        tab.set_viewport_size({"width": width, "height": 900})
        load_everything(tab)
        tab.screenshot(path=str(shot.with_name(f"{shot.stem}-{width}.png")), full_page=True)
        found = tab.evaluate(LAYOUT_PROBLEMS)
        assert found["broken"] == [], found
        assert found["wide"] == [] and found["scroll"] <= 0, found


def test_the_report_opens_offline_laid_out_with_every_picture(built: Path, page: Any, tmp_path: Path) -> None:
    page.goto((built / "build" / "tiny-report" / "index.html").as_uri())
    assert page.title().startswith("tiny")
    assert page.locator("article.shot").count() == 3
    assert page.locator("img.strip").count() == 4  # 2 takes of a, b, c
    check_layout(page, tmp_path / "report.png")
    assert page.outside == []  # nothing was fetched from the network (nor even tried)


def play(tab: Any, selector: str) -> None:
    """Wait until the video at ``selector`` has data and its clock moves."""
    tab.wait_for_function(f"() => {{ const v = document.querySelector('{selector}'); "
                          "return v && v.readyState >= 3 && v.currentTime > 0.2; }", timeout=20000)


@pytest.fixture
def review(built: Path) -> Iterator[str]:
    """`shotmake review` running on a free port; its URL."""
    server = subprocess.Popen([sys.executable, "-m", "shotmake", "review", "--no-open", "episodes/tiny.yaml"],
                              cwd=built, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stderr is not None
        line = server.stderr.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert found, line
        yield found.group(0)
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stderr is not None:
            server.stderr.close()


def test_the_master_and_a_take_play(review: str, page: Any) -> None:
    page.goto(review)
    page.evaluate("() => { const v = document.getElementById('master'); v.muted = true; return v.play(); }")
    play(page, "#master")
    page.click('#shot-a .take[data-node="clip:a@2"] button[data-play]')
    page.evaluate("() => { document.querySelector('#shot-a .take[data-node=\"clip:a@2\"] video').muted = true; }")
    play(page, '#shot-a .take[data-node="clip:a@2"] video')
    assert page.outside == []


def test_picking_take_2_in_the_page_changes_one_line_and_the_next_plan(
        review: str, page: Any, built: Path, tmp_path: Path) -> None:
    spec = built / "episodes" / "tiny.yaml"
    before = spec.read_text().splitlines()
    page.goto(review)
    with page.expect_navigation():
        page.click('button[data-pick="a:2"]')
    assert page.url.endswith("#shot-a"), page.content()
    after = spec.read_text().splitlines()
    added = [line for line in after if line not in before]
    assert added == ["    pick: 2"] and len(after) == len(before) + 1, added  # the YAML diff: that one line
    assert page.locator('#shot-a .take.picked').get_attribute("data-node") == "clip:a@2"
    assert "added `pick: 2`" in page.locator("#message").inner_text()
    check_layout(page, tmp_path / "review.png")
    planned = json.loads(shotmake(built, "plan", "--json", "episodes/tiny.yaml").stdout)
    dirty = {n["id"] for n in planned["rendered"]}
    # Exactly what is downstream of shot a's take 2: its last frame, the shot continuing from it
    # (c, `after: a`), their conforms, both sequences and the cut; no take is rendered again.
    from shotmake.cache import file_digest
    from shotmake.plan import build_plan
    from shotmake.spec import load_episode

    assert dirty == build_plan(load_episode(spec), file_digest).dependents("clip:a@2")
    assert {"frame:a", "clip:c", "sequence:one", "episode:tiny"} <= dirty
    assert not dirty & {"clip:a@1", "clip:a@2", "clip:b", "sheet:mei"}
