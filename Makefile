# DexNDM-ROS: the two commands of the README are `make main` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: setup main test bench clean

setup:
	@bash scripts/setup.sh

# The main job: the committed generalist rotating a cylinder on the simulated hand, palm down about
# +z, from an upright start in the fingers (its palm-down teacher's start; see docs/results.md).
main: setup
	$(PY) -m dexndm_control.cli rotate --sim --wrist palm_down --axis 0 0 1 --start-orientation upright \
		--duration 15 --out outputs/main

test: setup
	$(VENV)/bin/ruff check src benchmarks scripts
	$(PY) -m pytest $(PYTEST_ARGS)

bench: setup
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf build outputs .pytest_cache
