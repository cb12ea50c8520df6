# Charge HQ push meter firmware: host tooling.
# `make sim` and `make test` set everything up themselves (a .venv with pinned packages).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test sim bench faults build deploy ota vboard flash-micropython typecheck unix32 esp32-image clean help

help:
	@echo "make sim      run the firmware in the simulator (fake meter, local fake Charge HQ)"
	@echo "make test     run the test suite (CPython + MicroPython unix port)"
	@echo "make bench    measure speed and memory -> docs/benchmarks.md"
	@echo "make faults   inject 1000s of faults, power cuts, junk packets -> docs/reliability.md"
	@echo "make setup    create .venv with the pinned tools (done by the others)"
	@echo "make build    compile firmware, lib and Microdot to .mpy in build/ (the board's layout)"
	@echo "make deploy PORT=/dev/ttyUSB0 [BOARD=name]   copy changed files to a board, reset it"
	@echo "make ota HOST=192.168.1.50 [PASSWORD=...]   update a running meter over the LAN (docs/ota.md)"
	@echo "make typecheck  mypy of firmware/ and lib/ against the ESP32's MicroPython stubs"
	@echo "make unix32   the 32-bit MicroPython with the ESP32's heap shape, plain and app frozen in (cached)"
	@echo "make esp32-image   the ESP32_GENERIC firmware with the app frozen in (ESP-IDF's container image)"
	@echo "make vboard   a virtual board (unix port REPL on a pty) to deploy to"
	@echo "make flash-micropython PORT=/dev/ttyUSB0 [FIRMWARE=x.bin FLASH=yes]   stock MicroPython (esptool)"

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

# BENCH_ARGS: --quick for a smoke run, --only min_heap,alloc for some figures (with --update they
# replace their rows in docs/benchmarks.md)
bench: $(STAMP)
	$(BIN)/python tools/bench.py $(BENCH_ARGS)

build: $(STAMP)
	$(BIN)/python tools/build.py

# mypy against micropython-esp32-stubs (also run by make test: host_tests/firmware/test_typecheck.py)
typecheck: $(STAMP)
	$(BIN)/python tools/typecheck.py

# PORT: the board's serial port, or the virtual board's link (make vboard prints it)
deploy: build
	@test -n "$(PORT)" || { echo "usage: make deploy PORT=/dev/ttyUSB0 [BOARD=name] [FORCE=yes]"; exit 2; }
	$(BIN)/python tools/deploy.py --port $(PORT) $(if $(BOARD),--board $(BOARD)) $(if $(filter yes,$(FORCE)),--force)

# the memory yardstick: 32-bit unix port, ESP32 heap shape (UNIX32_ARGS: --source TARBALL|URL)
unix32: $(STAMP)
	$(BIN)/python tools/unix32.py $(UNIX32_ARGS)

# the firmware image for a plain ESP32 (docker, or IDF_PATH set): build/esp32/firmware-*.bin
esp32-image: $(STAMP)
	tools/esp32_image.sh

# over-the-air update of a running meter with build/ (docs/ota.md); OTA_ARGS: e.g. --version NAME
ota: build
	@test -n "$(HOST)" || { echo "usage: make ota HOST=192.168.1.50[:port] [PASSWORD=...]"; exit 2; }
	$(BIN)/python tools/ota.py --host $(HOST) --wait $(OTA_ARGS)  # PASSWORD reaches it in the environment

vboard: $(STAMP)
	$(BIN)/python tools/vboard.py $(VBOARD_ARGS)

flash-micropython:
	@test -n "$(PORT)" || { echo "usage: make flash-micropython PORT=/dev/ttyUSB0 [FIRMWARE=x.bin] [CHIP=esp32] [FLASH=yes]"; exit 2; }
	$(PYTHON) tools/flash_micropython.py --port $(PORT) $(if $(FIRMWARE),--firmware $(FIRMWARE)) $(if $(CHIP),--chip $(CHIP)) $(if $(filter yes,$(FLASH)),--run)

# the fault-injection suite -> docs/reliability.md (make test runs its short form)
faults: $(STAMP)
	$(BIN)/python tools/faults.py $(FAULTS_ARGS)

clean:
	rm -rf build .pytest_cache
