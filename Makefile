# Two entry points, each sets itself up: `make book` (the main job) and `make test`.
# A virtualenv in .venv is created or refreshed from requirements.txt when that file changes.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: book test lint clean venv system-deps exercises

venv: $(STAMP)

# rfc3987-syntax (jsonschema's non-GPL IRI format checker, pulled in by jupyter-events'
# jsonschema[format-nongpl]) builds 38 Earley parsers whenever jsonschema is imported: 2.5 CPU-s
# in every process that imports nbformat (each nbgrader command, classgrade and its fork server,
# each test worker). No schema here has an IRI format; without it jsonschema skips that check.
# Upstream: python-jsonschema/jsonschema#1428, jupyter-server/jupyter_server#1559.
$(STAMP): requirements.txt pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip uninstall --quiet --yes rfc3987-syntax
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# System packages the tests need: headless Chromium (to read the built book as a reader would),
# bubblewrap (the sandbox that grading kernels run in) and PostgreSQL (a server gradebook).
# Installed only when missing and only where apt-get can run (root); elsewhere the tests that
# need them say so.
SYSTEM_DEPS := chromium:chromium bwrap:bubblewrap pg_ctlcluster:postgresql
system-deps:
	@missing=""; for dep in $(SYSTEM_DEPS); do \
	  command -v $${dep%%:*} >/dev/null 2>&1 || missing="$$missing $${dep#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	      || echo "warning: could not install$$missing"; \
	  else echo "warning: missing$$missing and apt-get unavailable (not root)"; fi; \
	fi

# rnnlib's bytecode, written once. Where PYTHONDONTWRITEBYTECODE is set (this machine's
# environment sets it) Python never caches it, and every process that imports rnnlib (each
# nbgrader command, chapter kernel, test worker) compiled it again: 0.1 CPU-s for the grading
# modules. A module edited later is compiled in memory as before (its cached copy is stale).
BYTECODE = $(BIN)/python -m compileall -q rnnlib

# Build the HTML book from clean sources; fails on any cell error or Sphinx warning.
# tools/build_book.py runs the chapters missing from Jupyter Book's execution cache two at a
# time (a failing cell stops the build and names its chapter), then runs jupyter-book build,
# which finds every chapter in the cache.
# Jupyter Book's execution cache is keyed on the notebooks alone, but the chapters run rnnlib
# and the pinned packages too: when those change, the cache goes and every chapter runs again.
BOOK_INPUTS = $(sort $(shell find rnnlib -name '*.py')) requirements.txt
BOOK_HASH = cat $(BOOK_INPUTS) | sha256sum | cut -c1-16
# (One shell: the hash recorded is the one taken before the build, even if a file changes during it.)
book: $(STAMP)
	@$(BYTECODE)
	@mkdir -p _build; new=$$($(BOOK_HASH)); old=$$(cat _build/.book-inputs 2>/dev/null); \
	if [ "$$new" != "$$old" ]; then rm -rf _build/.jupyter_cache _build/.book-inputs; \
	  [ -z "$$old" ] || echo "rnnlib or requirements.txt changed: every chapter runs again"; fi; \
	$(BIN)/python tools/build_book.py --workers 2 -- --all -W -n --keep-going \
	  && echo "$$new" > _build/.book-inputs
	@echo "Book: $(CURDIR)/_build/html/index.html"

# Regenerate the student release (exercises/) from the instructor source (solutions/) with nbgrader.
exercises: $(STAMP)
	$(BIN)/python tools/release_exercises.py

lint: $(STAMP)
	$(BIN)/ruff check .

# Every test: lint, notebook hygiene, rnnlib against torch, the built book in a browser,
# nbgrader end to end, and the assignment notebooks (solutions, release) run by nbval. The
# chapters run once, in test_book.py's clean build (execution errors fail it): running them
# again under nbval doubled the book's share of the suite. The slowest 15 steps are listed at
# the end: the suite's budget is 10 minutes on 2 cores.
test: $(STAMP) system-deps
	$(BIN)/ruff check .
	$(BYTECODE)
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=15 --nbval-lax tests solutions exercises

clean:
	rm -rf _build .pytest_cache
