# Two commands do all the set-up: `make figures` and `make test` create .venv and install the
# package with the extras they need on first use (again whenever pyproject.toml changes);
# `make test` installs the `neural` extra (jax, flax, optax, orbax-checkpoint, pillow).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PRESET ?= quick
JOBS   ?= 1
SHARED_DATA := $(abspath ../shared/data)
ifneq ($(wildcard $(SHARED_DATA)),)
export KDTHEORY_DATA ?= $(SHARED_DATA)
endif
export MPLBACKEND := Agg

.PHONY: figures test test-slow bench bench-neural lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

$(VENV)/.stamp-base: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e .
	touch $@

$(VENV)/.stamp-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e ".[dev,neural]"
	touch $@

figures: $(VENV)/.stamp-base
	$(BIN)/kdtheory figures --preset $(PRESET) --n-jobs $(JOBS)

# pytest exits 5 when it collects no test: a suite that ran nothing is a failure, not a pass.
test: $(VENV)/.stamp-dev
	@$(BIN)/python -m pytest -n 2 --dist loadfile -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

test-slow: $(VENV)/.stamp-dev
	$(BIN)/python -m pytest -q -m slow

bench: $(VENV)/.stamp-base
	$(BIN)/python benchmarks/bench_rat_path.py

# images per second of the neural training step (JAX; beside PyTorch when it is installed)
bench-neural: $(VENV)/.stamp-dev
	$(BIN)/python benchmarks/bench_neural.py

lint: $(VENV)/.stamp-dev
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
