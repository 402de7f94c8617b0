# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8765

.PHONY: install run test test-fast bench clean

# Create the virtual environment if missing and install the project with its dev extra.
# The stamp file re-runs the install only when pyproject.toml changes.
install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# Serve the shipped models; open the printed URL.
run: install
	$(VENV)/bin/assistant serve --host $(HOST) --port $(PORT)

# The whole test suite, slow and browser tests included.
test: install
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not slow and not browser"

bench: install
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info
