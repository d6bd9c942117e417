# Two commands do everything on a fresh machine with Python >= 3.11 and make:
#   make book   — set up .venv, build both editions of the site into _build/html
#   make test   — set up .venv, lint, and run the whole test suite (chapters executed under `smoke`)
# Course kit: `make book` also writes every chapter's slides (<lang>/slides/) and, with Chromium, PDF handouts
# (<lang>/handouts/); `make student` (= EFFTX_SOLUTIONS=hide make book) builds the site without solutions and
# self-check answers into _build/student/html.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed
# Notebook kernels and jupyter-book must find the venv's python first.
export PATH := $(BIN):$(PATH)
export PYTHONUNBUFFERED := 1

.PHONY: book student test lint lab lab-check quiz bench browser venv clean gpu-check

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	@touch $@

book: venv browser
	$(BIN)/python book/build.py --preset $${EFFTX_PRESET:-cpu}

student: venv browser
	$(BIN)/python book/build.py --preset $${EFFTX_PRESET:-cpu} --solutions hide

test: venv browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check .

# JupyterLab on the repository, opened at _build/lab/chapters/: reading copies of the chapters that
# book/lab/readable.py writes with every citation as author-year text (jupyterlab-myst cannot resolve {footcite}
# and would show raw keys); their code cells are the chapters' own. jupytext (installed) opens the MyST files as
# notebooks (book/lab/overrides.json makes that the default viewer); the sources stay in chapters/. On a lab
# server, e.g.:
#   make lab LAB_ARGS="--ip=0.0.0.0 --no-browser --port=8888"
LAB_ARGS ?=
lab: venv
	@mkdir -p $(VENV)/share/jupyter/lab/settings
	@cp book/lab/overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	$(BIN)/python book/lab/readable.py --out _build/lab
	$(BIN)/python -m jupyter lab --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/_build/lab/chapters \
	  $$( [ "$$(id -u)" = 0 ] && echo --allow-root ) $(LAB_ARGS)

# One graded lab's public tests against your code (labs/NN_*/solution.py, a copy of stub.py you fill in), e.g.
#   make lab-check LAB=01
# Without make (Windows): python -m pytest labs/01_attention
LAB ?= 01
lab-check:
	@test -d "$$(ls -d labs/$(LAB)_* 2>/dev/null | head -1)" || { echo "no lab $(LAB): see labs/labs.yml"; exit 2; }
	python -m pytest labs/$(LAB)_* -q

# The quiz bank with its answer key, for the instructor's LMS: _build/quiz/quiz-{en,ko}.{xml,csv} (Moodle XML, CSV)
quiz:
	@mkdir -p _build/quiz
	@for lang in en ko; do python book/quiz.py --lang $$lang --format moodle -o _build/quiz/quiz-$$lang.xml && \
	  python book/quiz.py --lang $$lang --format csv -o _build/quiz/quiz-$$lang.csv || exit 1; done

bench: venv
	$(BIN)/python -m efftx_mini.bench attention

# The browser test and the PDF handouts need Debian's chromium, and a Korean font for the Korean handouts
# (fonts-noto-cjk); install them where we can (root + apt-get), else say so.
browser:
	@if command -v chromium >/dev/null 2>&1 && fc-list :lang=ko 2>/dev/null | grep -q .; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's chromium and fonts-noto-cjk for the browser test and the PDF handouts..."; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null) \
	    || echo "WARNING: could not install chromium/fonts-noto-cjk; the browser test will be reported as skipped"; \
	else echo "WARNING: chromium or a Korean font is missing and cannot be installed here (needs root and apt-get);" \
	  "the browser test will be reported as skipped and the handouts not printed"; fi

clean:
	rm -rf _build .pytest_cache

# The lab server's `gpu` preset rehearsed on this machine (CPU or GPU): every chapter and experiment at the gpu
# sizes for a step or two (EFFTX_DRY_RUN=1), resume and torchrun x2 checks, memory at the full gpu batch; writes
# chapters/results/gpu_check/. GPU_CHECK_ARGS="--chapters 01 --experiments blocks" runs a part.
GPU_CHECK_ARGS ?=
gpu-check: venv
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(BIN)/python -m efftx_mini.gpu_check $(GPU_CHECK_ARGS)
