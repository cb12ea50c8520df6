# Charge HQ push meter firmware: host tooling.
# `make sim` and `make test` set everything up themselves (a .venv with pinned packages).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test sim bench faults build deploy vboard flash-micropython clean help

help:
	@echo "make sim      run the firmware in the simulator (fake meter, local fake Charge HQ)"
	@echo "make test     run the test suite (CPython + MicroPython unix port)"
	@echo "make bench    measure speed and memory -> docs/benchmarks.md"
	@echo "make setup    create .venv with the pinned tools (done by the others)"

setup: $(STAMP)

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt
	touch $@

test: $(STAMP)
	$(BIN)/python -m pytest host_tests $(PYTEST_ARGS)

# SIM_ARGS passes flags through: make sim SIM_ARGS="--interval 30 --duration 120"
sim: $(STAMP)
	$(BIN)/python tools/sim.py $(SIM_ARGS)

# BENCH_ARGS: --quick for a smoke run, --only min_heap,alloc for some figures
bench: $(STAMP)
	$(BIN)/python tools/bench.py $(BENCH_ARGS)

clean:
	rm -rf build .pytest_cache
