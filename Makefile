# capture-status: every target does its own set-up (a virtualenv in .venv, pinned by
# requirements.lock) on a machine that has only Python 3.11+ and make.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

INTEROP := tests/interop/node_modules/.installed

.PHONY: install run test lint typecheck unit bench lock clean

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "capture-status needs Python 3.11 or newer (set PYTHON=python3.x)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# The MCP interoperability test drives the server with the official TypeScript SDK: install
# it (pinned by package-lock.json) when npm exists; without node the test is skipped.
$(INTEROP): tests/interop/package.json tests/interop/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		cd tests/interop && npm ci --no-audit --no-fund --silent && touch node_modules/.installed; \
	else \
		echo "npm not found: the TypeScript MCP interoperability test will be skipped"; \
	fi

## make run: the product. Without LSQ_API_KEY it runs on the built-in simulator (a demo).
run: $(STAMP)
	$(BIN)/capture-status run

## make test: lint, format check, strict type check and every test.
test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/pyright

unit: $(STAMP) $(INTEROP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m bench

## make lock: refresh requirements.lock from the current environment.
lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^capture-status' > requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis build *.egg-info tests/interop/node_modules
