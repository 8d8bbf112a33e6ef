# DexNDM-ROS: the two commands of the README are `make main` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: setup main test bench clean

setup:
	@bash scripts/setup.sh

# The main job: the committed generalist rotating a cylinder on the simulated hand (palm up, -z:
# the sense its teacher, specialist (a), keeps the object in; see docs/results.md).
main: setup
	$(PY) -m dexndm_control.cli rotate --sim --wrist palm_up --axis 0 0 -1 --duration 15 --out outputs/main

test: setup
	$(VENV)/bin/ruff check src benchmarks scripts
	$(PY) -m pytest $(PYTEST_ARGS)

bench: setup
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf build outputs .pytest_cache
