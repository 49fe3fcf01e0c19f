# The two commands a newcomer needs: `make run` (the sandbox) and `make test`.
PORT ?= 8000
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

SANDBOX_FLAGS := --port $(PORT) $(if $(RESET),--reset) $(if $(DEMO),--demo)

.PHONY: run test bench clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m infra.local.sandbox $(SANDBOX_FLAGS)

test: $(STAMP)
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) bench/cold_start.py
	$(PY) bench/matching.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
