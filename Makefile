# Two entry points, each sets itself up: `make book` (the main job) and `make test`.
# A virtualenv in .venv is created or refreshed from requirements.txt when that file changes.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: book test lint clean venv system-deps exercises

venv: $(STAMP)

# System packages the tests need: headless Chromium (to read the built book as a reader would).
# Installed only when missing and only where apt-get can run (root); tests that need them
# fail in CI and skip with a warning elsewhere when they are absent.
system-deps:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "warning: could not install chromium; browser tests will not run"; \
	  else echo "warning: chromium missing and apt-get unavailable; browser tests will not run"; fi; \
	fi

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# Build the HTML book from clean sources; fails on any cell error or Sphinx warning.
book: $(STAMP)
	$(BIN)/jupyter-book build --all -W -n --keep-going .
	@echo "Book: $(CURDIR)/_build/html/index.html"

# Regenerate the student release (exercises/) from the instructor source (solutions/) with nbgrader.
exercises: $(STAMP)
	$(BIN)/python tools/release_exercises.py

lint: $(STAMP)
	$(BIN)/ruff check .

# Every test: lint, notebook hygiene, rnnlib against torch, the built book in a browser,
# nbgrader end to end, and every notebook (book, solutions, release) run by nbval.
test: $(STAMP) system-deps
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 --dist loadgroup --nbval-lax tests book solutions exercises

clean:
	rm -rf _build .pytest_cache
