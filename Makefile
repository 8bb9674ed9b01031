# caseflow: `make run` starts the suite on the embedded defaults with a simulated day and a live view;
# `make stack` starts only the broker and the services; `make test` runs every check.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# uv installs exactly what uv.lock says; it is itself bootstrapped from PyPI with the machine's Python.
UV_VERSION := 0.13.9
UV     := .uv/bin/uv
PACKAGES := contracts services/kit services/intake services/routing services/sla services/claims services/notify devtools ops
export UV_PYTHON_DOWNLOADS := never

.PHONY: venv lock run stack test test-unit test-service test-e2e test-stress lint typecheck pytest kubectl promtool schemas publish-schemas docs dist clean

$(UV):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "caseflow needs Python 3.11 or newer")'
	$(PYTHON) -m venv .uv
	.uv/bin/pip install --disable-pip-version-check --quiet uv==$(UV_VERSION)

# Bytecode is compiled once here: every service, test subprocess and caseflowctl then starts without compiling
# its imports (1.8 s of CPU each where PYTHONDONTWRITEBYTECODE keeps Python from caching them itself).
$(STAMP): $(UV) uv.lock pyproject.toml $(addsuffix /pyproject.toml,$(PACKAGES))
	$(UV) sync --locked --python $(PYTHON) --quiet --compile-bytecode
	@touch $(STAMP)

venv: $(STAMP)
	@$(BIN)/python -m compileall -q -j 0 -x '/(build|\.venv)/' $(PACKAGES)

# After changing a dependency in a pyproject.toml: resolve again and commit uv.lock.
lock: $(UV)
	$(UV) lock

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

# tests/deploy run the alert rules' unit tests with promtool: the one on PATH, else Debian's prometheus package
# unpacked into .venv (only its promtool binary is used; nothing is installed system-wide).
promtool: venv
	@command -v promtool >/dev/null 2>&1 || test -x $(BIN)/promtool || { \
	  echo "promtool not on PATH: unpacking Debian's prometheus into $(BIN)"; \
	  rm -rf $(VENV)/promtool && mkdir -p $(VENV)/promtool && cd $(VENV)/promtool && \
	  { apt-get download prometheus 2>/dev/null || { apt-get update -qq && apt-get download prometheus; }; } && \
	  dpkg -x prometheus_*.deb root && ln -sf "$$PWD/root/usr/bin/promtool" "$(CURDIR)/$(BIN)/promtool"; }

PYTEST_ARGS ?=
pytest: venv kubectl promtool
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The tiers one at a time (see tests/conftest.py): unit needs nothing running, service one service
# against the real broker or an outside tool, e2e the whole suite as processes.
test-unit: venv
	$(BIN)/python -m pytest -m unit

test-service: venv kubectl promtool
	$(BIN)/python -m pytest -m service

test-e2e: venv
	$(BIN)/python -m pytest -m e2e

# CI must hold on a busy machine: the suite N times in a row (stop at the first failure) beside two CPU-bound
# processes, each run's result and duration printed; e.g. make test-stress N=1 PYTEST_ARGS=tests/kit
N ?= 3
test-stress: venv kubectl promtool
	$(BIN)/python -m caseflow_dev.stress --runs $(N) --hogs 2 -- $(PYTEST_ARGS)

schemas: venv
	$(BIN)/python -m caseflow_contracts.generate
	$(BIN)/python -m caseflow_dev.docs
	$(BIN)/python -m caseflow_ops.manifests

# One wheel of caseflowctl (with the contracts and the kit it runs on) that installs on its own:
# pip install dist/caseflowctl-*.whl
dist: venv
	UV=$(CURDIR)/$(UV) $(BIN)/python ops/build_dist.py dist

publish-schemas: venv
	$(BIN)/python -m caseflow_contracts.generate --publish

clean:
	rm -rf $(VENV) .uv .pytest_cache .mypy_cache .ruff_cache dist
