# Two commands do everything on a fresh machine with Python >= 3.11 and make:
#   make book   — set up .venv, build both editions of the site into _build/html
#   make test   — set up .venv, lint, and run the whole test suite (chapters executed under `smoke`)
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed
# Notebook kernels and jupyter-book must find the venv's python first.
export PATH := $(BIN):$(PATH)
export PYTHONUNBUFFERED := 1

.PHONY: book test lint lab bench browser venv clean

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	@touch $@

book: venv
	$(BIN)/python book/build.py --preset $${EFFTX_PRESET:-cpu}

test: venv browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check .

# JupyterLab on the repository, opened at chapters/; jupytext (installed) opens the MyST chapter files as
# notebooks (book/lab/overrides.json makes that the default viewer). On a lab server, e.g.:
#   make lab LAB_ARGS="--ip=0.0.0.0 --no-browser --port=8888"
LAB_ARGS ?=
lab: venv
	@mkdir -p $(VENV)/share/jupyter/lab/settings
	@cp book/lab/overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	$(BIN)/python -m jupyter lab --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/chapters \
	  $$( [ "$$(id -u)" = 0 ] && echo --allow-root ) $(LAB_ARGS)

bench: venv
	$(BIN)/python -m efftx_mini.bench attention

# The browser test needs Debian's chromium; install it where we can (root + apt-get), else say so.
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's chromium for the browser test..."; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	    || echo "WARNING: could not install chromium; the browser test will be reported as skipped"; \
	else echo "WARNING: chromium is missing and cannot be installed here (needs root and apt-get);" \
	  "the browser test will be reported as skipped"; fi

clean:
	rm -rf _build .pytest_cache
