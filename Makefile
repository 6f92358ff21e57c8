# Two commands on a fresh machine: `make demo` and `make test`. Each sets up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint axe bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/digest demo --out digest-demo

lint: $(STAMP)
	$(BIN)/ruff check digest tests benchmarks tools
	$(BIN)/ruff format --check digest tests benchmarks tools
	$(BIN)/mypy digest

# axe-core for tests/test_accessibility.py, from npm (pinned by tests/axe/package-lock.json).
axe:
	@if command -v npm >/dev/null 2>&1; then cd tests/axe && npm ci --no-audit --no-fund --silent; \
	else echo "npm not found: the accessibility tests will be skipped"; fi

test: lint axe
	$(BIN)/pytest

# Each benchmark reports ratios against a baseline measured in the same run; exit 1 on a miss.
bench: $(STAMP)
	status=0; for name in gather export send subscribers; do \
	  $(BIN)/python -m benchmarks.$$name || status=1; done; exit $$status

clean:
	rm -rf $(VENV) digest-demo .pytest_cache .mypy_cache .ruff_cache tests/axe/node_modules
