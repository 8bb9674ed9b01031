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

# tests/deploy render the overlays with kubectl: the one on PATH, else Debian's kubernetes-client unpacked into .venv.
kubectl: venv
	@command -v kubectl >/dev/null 2>&1 || test -x $(BIN)/kubectl || { \
	  echo "kubectl not on PATH: unpacking Debian's kubernetes-client into $(BIN)"; \
	  rm -rf $(VENV)/kubectl && mkdir -p $(VENV)/kubectl && cd $(VENV)/kubectl && \
	  { apt-get download kubernetes-client 2>/dev/null || { apt-get update -qq && apt-get download kubernetes-client; }; } && \
	  dpkg -x kubernetes-client_*.deb root && ln -sf "$$PWD/root/usr/bin/kubectl" "$(CURDIR)/$(BIN)/kubectl"; }

pytest: venv kubectl
	$(BIN)/python -m pytest

schemas: venv
	$(BIN)/python -m caseflow_contracts.generate
	$(BIN)/python -m caseflow_dev.docs
	$(BIN)/python -m caseflow_ops.manifests

publish-schemas: venv
	$(BIN)/python -m caseflow_contracts.generate --publish

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
