# Two commands on a fresh machine: `make demo` and `make test`. `make help` lists the rest.
#
# PYTHON picks the interpreter .venv is built with (default python3; it must be
# >= 3.10): make PYTHON=python3.12 test. Every target first runs tools/venv.sh,
# which checks the interpreter before creating anything, rebuilds .venv when
# PYTHON or pyproject.toml changes, and trusts .venv only once its install
# finished (a stamp written last).

PYTHON  ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
# What tools/venv.sh installs: every extra (upload workflow, stand-in, tests, lint).
INSTALL ?= -e '.[dev]'

.PHONY: help venv demo test test-fast lint pytest bench clean walkthrough dist

help:  ## list the targets
	@echo "make targets (PYTHON=$(PYTHON); set PYTHON=/path/to/python3.10+ to change it):"
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z]+):.*## /  \1\t/' | expand -t 16

venv:  ## create or repair .venv (pip install -e '.[dev]')
	@sh tools/venv.sh "$(PYTHON)" "$(VENV)" $(INSTALL)

demo: venv  ## the whole upload flow on a throwaway local stand-in
	$(BIN)/invoke demo

walkthrough: venv  ## a tour of restrict, inspect and check on a throwaway token
	$(BIN)/tokentool walkthrough

# no-pypi-tokens, no-dotenv, ruff check, ruff format --check: .pre-commit-config.yaml
# (local hooks from .venv; git-tracked files only, as the commit hook sees them).
lint: venv  ## the pre-commit hooks on every tracked file
	$(BIN)/pre-commit run --all-files

pytest: venv  ## the test suite
	$(BIN)/pytest

test: lint pytest  ## lint, then the test suite (what CI runs)

# The in-process and single-server tests of each subpackage (tests/<subpackage>/);
# tests/e2e/ and the `slow` marker (real builds, real clients, make) are left to `make test`.
test-fast: venv  ## the fast tests (no tests/e2e/, no slow marker): the edit loop
	$(BIN)/pytest -m "not slow" --ignore=tests/e2e

bench: venv  ## the benchmarks, side by side (figures: benchmarks/README.md)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# No release of tokentool is on any index: this wheel is what another project installs
# (README, "Use it in your own repository"). hatchling and build come with .venv.
dist: venv  ## build the wheel and sdist into dist/ (pip install dist/tokentool-*.whl)
	rm -f dist/tokentool-*.whl dist/tokentool-*.tar.gz
	$(BIN)/python -m build --no-isolation --outdir dist .
	@ls dist/tokentool-*.whl

clean:  ## remove .venv and every generated file
	rm -rf $(VENV) dist build .pytest_cache .ruff_cache .hypothesis .tokentool benchmarks/.data
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
