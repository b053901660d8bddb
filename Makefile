# Two commands: `make book` builds the executed book, `make test` runs every check.
# Both create .venv when it is missing and install the project into it.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin

# Every pip call takes torch==2.13.0 (the CPU wheel on this machine's disk); a bare
# range would pull a multi-GB CUDA build.
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export GDYNBOOK_FAST := 1
export PYDEVD_DISABLE_FILE_VALIDATION := 1
# Notebook kernels ("python3") must start from the project's environment.
export PATH := $(BIN):$(PATH)

STAMP := $(VENV)/.installed

.PHONY: all setup book book-no-solutions test lint unit notebooks build-book browser clean-install clean

all: book

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $@

## book: execute every chapter and build the HTML book into _build/html
book: setup build-book
	@echo "The book is at: $(CURDIR)/_build/html/index.html"

# Warnings are errors: a broken cross-reference, citation or figure fails the build.
BOOK_FLAGS := -W -n --keep-going

build-book: setup
	@# Executed chapters are cached by their code alone: a build in the other mode
	@# (GDYNBOOK_FAST) must not re-use them.
	@if [ "$$(cat _build/.executed-mode 2>/dev/null)" != "$(GDYNBOOK_FAST)" ]; then \
	    rm -rf _build/.jupyter_cache _build/.doctrees; fi
	$(BIN)/jupyter-book build $(BOOK_FLAGS) --path-output . .
	@echo "$(GDYNBOOK_FAST)" > _build/.executed-mode
	@test -f _build/html/index.html

## book-no-solutions: the book without the cells tagged "solution" (for graded
## exercises), built from a stripped copy into _build/no-solutions/_build/html
NO_SOLUTIONS := $(CURDIR)/_build/no-solutions
book-no-solutions: setup
	rm -rf $(NO_SOLUTIONS) && mkdir -p $(NO_SOLUTIONS)
	cp -r _config.yml _toc.yml intro.md reference CITATION.cff $(NO_SOLUTIONS)/
	$(BIN)/gdynbook notebooks --no-solutions --output $(NO_SOLUTIONS)/book
	cd $(NO_SOLUTIONS) && $(BIN)/jupyter-book build $(BOOK_FLAGS) --path-output . .
	@echo "The book without solutions is at: $(NO_SOLUTIONS)/_build/html/index.html"

## test: lint, unit tests, every chapter under nbval, the book build, the browser check,
## and a chapter run from a wheel installed in a fresh venv
test: setup lint unit notebooks build-book browser clean-install
	@echo "make test: all checks passed"

lint: setup
	$(BIN)/ruff check gdynbook tests benchmarks conftest.py
	$(BIN)/ruff format --check gdynbook

unit: setup
	$(BIN)/python -m pytest tests --ignore=tests/browser --ignore=tests/install

## browser: open every rendered chapter in headless Chromium (after build-book)
browser: setup
	@# .ci/run installs Debian's chromium in the background; wait for it here.
	@if [ -f /tmp/gdynbook-chromium.pid ]; then \
	    while kill -0 "$$(cat /tmp/gdynbook-chromium.pid)" 2>/dev/null; do sleep 2; done; fi
	$(BIN)/python -m pytest tests/browser

## clean-install: build a wheel, install it in a fresh venv, run a chapter outside the repo
clean-install: setup
	GDYNBOOK_INSTALL_TEST=1 $(BIN)/python -m pytest tests/install

notebooks: setup
	$(BIN)/python -m pytest --nbval-lax book

clean:
	rm -rf _build .pytest_cache .ruff_cache
