# The two commands of the README:  make demo   |   make test
# Each creates or refreshes .venv from requirements.lock; a second run reinstalls nothing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
HASH := $(shell cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)
STAMP := $(VENV)/.installed-$(HASH)
TORCH := torch==2.13.0

.PHONY: demo test venv clean-venv browser

venv: $(STAMP)

$(STAMP):
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@# torch first and exactly: the CPU wheel on disk (see ../shared/STACK.md)
	$(VENV)/bin/python -m pip install -q $(TORCH)
	$(VENV)/bin/python -m pip install -q -r requirements.lock
	$(VENV)/bin/python -m pip install -q --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

demo: $(STAMP)
	$(VENV)/bin/connectome demo

test: $(STAMP) browser
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# Headless Chromium for the browser tests (Debian's chromium + chromium-driver; ~36 s, root or sudo).
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  SUDO=$$( [ "$$(id -u)" -ne 0 ] && echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	fi

clean-venv:
	rm -rf $(VENV)
