# caseflow: `make run` starts the suite on the embedded defaults with a simulated day and a live view;
# `make stack` starts only the broker and the services; `make test` runs every check.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PACKAGES := contracts services/kit services/intake services/routing services/sla services/claims services/notify devtools ops
PIP_FLAGS := --disable-pip-version-check --quiet

.PHONY: venv run stack test lint typecheck pytest schemas publish-schemas docs clean

$(STAMP): requirements-dev.txt $(addsuffix /pyproject.toml,$(PACKAGES))
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "caseflow needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(PIP_FLAGS) --upgrade pip setuptools wheel
	$(BIN)/pip install $(PIP_FLAGS) -r requirements-dev.txt $(addprefix -e ,$(PACKAGES))
	@touch $(STAMP)

venv: $(STAMP)

run: venv
	$(BIN)/python -m caseflow_dev.demo

stack: venv
	$(BIN)/python -m caseflow_dev.stack

test: lint typecheck pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

pytest: venv
	$(BIN)/python -m pytest

schemas: venv
	$(BIN)/python -m caseflow_contracts.generate
	$(BIN)/python -m caseflow_dev.docs

publish-schemas: venv
	$(BIN)/python -m caseflow_contracts.generate --publish

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
