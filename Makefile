# Two commands do all the set-up: `make figures` and `make test` create .venv and install the
# package with the extras they need on first use (again whenever pyproject.toml or
# constraints.txt changes); `make test` installs the `neural` extra (jax, flax, optax,
# orbax-checkpoint, pillow), `make docs` the `docs` extra (Sphinx).
#
# Installs are pinned by constraints.txt (every dependency at one version, so that a fresh clone
# regenerates the committed tables to the last digit); the package's own ranges in pyproject.toml
# stay open. `make lock` refreshes the pins from a fresh environment; `make test CONSTRAINTS=`
# installs without pins.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PRESET ?= quick
# workers: 2 for the full presets (two cores; every table is the same for any number), 1 for
# the quick ones (seconds each: starting workers would cost more than it saves)
JOBS   ?= $(if $(filter full,$(PRESET)),2,1)
SHARED_DATA := $(abspath ../shared/data)
ifneq ($(wildcard $(SHARED_DATA)),)
export KDTHEORY_DATA ?= $(SHARED_DATA)
endif
export MPLBACKEND := Agg
CONSTRAINTS ?= constraints.txt
PIP_INSTALL  = $(BIN)/python -m pip install $(if $(CONSTRAINTS),-c $(CONSTRAINTS))

.PHONY: figures test test-slow docs bench bench-neural lint lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

$(VENV)/.stamp-base: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(PIP_INSTALL) -e .
	touch $@

$(VENV)/.stamp-dev: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(PIP_INSTALL) -e ".[dev,neural]"
	touch $@

$(VENV)/.stamp-docs: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(PIP_INSTALL) -e ".[neural,docs]"
	touch $@

# the quick presets of every simulation (PRESET=full: the paper's), then the claims document
figures: $(VENV)/.stamp-base
	$(BIN)/kdtheory figures --preset $(PRESET) --n-jobs $(JOBS)
	$(BIN)/kdtheory claims

# the documentation site, warnings as errors: docs/_build/html/index.html
docs: $(VENV)/.stamp-docs
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

# pytest exits 5 when it collects no test: a suite that ran nothing is a failure, not a pass.
test: $(VENV)/.stamp-dev
	@$(BIN)/python -m pytest -n 2 --dist loadfile -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

test-slow: $(VENV)/.stamp-dev
	$(BIN)/python -m pytest -q -m slow

bench: $(VENV)/.stamp-base
	$(BIN)/python benchmarks/bench_rat_path.py

# images per second of the neural training step: JAX, beside PyTorch when it is importable
# (optional: install the CPU build of PyTorch to compare; see benchmarks/README.md)
bench-neural: $(VENV)/.stamp-dev
	$(BIN)/python benchmarks/bench_neural.py

lint: $(VENV)/.stamp-dev
	$(BIN)/ruff check .

# refresh constraints.txt: a fresh environment with every extra, frozen (Python 3.11, Linux)
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install -q --upgrade pip
	.venv-lock/bin/python -m pip install -q -e ".[dev,neural,docs,dask]"
	{ echo "# pinned versions for make figures / test / docs; refresh with make lock"; \
	  .venv-lock/bin/python -m pip freeze --exclude-editable | sort -f; } > $(CONSTRAINTS)
	rm -rf .venv-lock

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis docs/_build
