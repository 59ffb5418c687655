# shotmake: `make episode` builds the demo, `make test` runs the tests.
# Everything installs into .venv from pyproject.toml; nothing is needed beyond Python 3.11+.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
EPISODE ?= episodes/pilot.yaml

.PHONY: episode test test-slow check bench clean browser catalog

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

episode: $(VENV)/.installed      ## build the demo episode to build/pilot.mp4
	$(BIN)/shotmake build $(EPISODE)

# The tests start hundreds of `shotmake` processes; writing the bytecode once spares each of them
# compiling the sources again where PYTHONDONTWRITEBYTECODE is set (as on some CI machines).
test: $(VENV)/.installed-test    ## the test suite on every core (slow and bench tests deselected)
	$(BIN)/python -m compileall -q src/shotmake > /dev/null
	$(BIN)/python -m pytest -q -n auto

test-slow: $(VENV)/.installed-test  ## the slow crash/chaos tests (CI runs them after `make test`)
	$(BIN)/python -m compileall -q src/shotmake > /dev/null
	$(BIN)/python -m pytest -q -m slow -n auto

# The report page's browser tests drive the system's Chromium (Debian's package): playwright's own
# browser download is never used. Skipped when /usr/bin/chromium is already there; root or sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:                         ## install Chromium for the browser tests (tests/test_report_browser.py)
	@if [ -x /usr/bin/chromium ]; then echo "chromium: already installed"; \
	else $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; fi

check: $(VENV)/.installed-dev    ## lint and type-check
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: $(VENV)/.installed-test   ## run benchmarks; results go to docs/benchmarks.md
	$(BIN)/python bench/run.py

# routes.json is routes.toml, parsed and checked, for a fast start-up; it is used only while it
# matches routes.toml (tests/test_catalog.py fails until this is run after an edit).
catalog: $(VENV)/.installed      ## after editing src/shotmake/providers/routes.toml: write routes.json
	$(BIN)/python -c "from shotmake.providers.catalog import write_compiled; print('routes.json', 'written' if write_compiled() else 'already current')"

clean:
	rm -rf build .shotmake
