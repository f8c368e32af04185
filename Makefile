# Two commands on a fresh machine: `make demo` and `make test`.
# Every target bootstraps .venv first; it is rebuilt only when pyproject.toml changes.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv demo test lint pytest bench clean walkthrough

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/invoke --search-root $(CURDIR) demo

walkthrough: $(STAMP)
	$(BIN)/tokentool walkthrough

# ruff check, ruff format --check, no-pypi-tokens and no-dotenv: .pre-commit-config.yaml
# (local hooks from .venv; git-tracked files only, as the commit hook sees them).
lint: $(STAMP)
	$(BIN)/pre-commit run --all-files

pytest: $(STAMP)
	$(BIN)/pytest

test: lint pytest

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) dist build .pytest_cache .ruff_cache .hypothesis .tokentool benchmarks/.data
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
