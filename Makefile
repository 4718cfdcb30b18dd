# The README's two commands are `make lab` and `make test`. Both set up .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HUB_STAMP := $(VENV)/.hub-installed

.PHONY: lab test release lint bench clean-venv hub hub-deps

lab: $(STAMP)
	$(BIN)/proximal lab

test: $(STAMP) $(HUB_STAMP)
	$(BIN)/python -m pytest

release: $(STAMP)
	$(BIN)/proximal release

lint: $(STAMP)
	$(BIN)/proximal lint

# A workshop hub on loopback (as root: one Unix user per learner). See docs/instructor.md.
hub: $(HUB_STAMP)
	$(BIN)/proximal hub

bench: $(STAMP)
	$(BIN)/python benchmarks/notebook_times.py

# torch first, on its own: the pin in requirements.txt picks the CPU build on disk;
# resolving it together with torch-geometric could pull a multi-GB CUDA build.
$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$$(grep -E '^torch==' requirements.txt)"
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# JupyterHub's proxy from the npm registry, beside the venv (the hub and its test use it).
# Without npm the hub test is skipped; `make hub-deps` retries.
$(HUB_STAMP): $(STAMP)
	if command -v npm >/dev/null; then \
	  npm install --silent --no-audit --no-fund --prefix $(VENV)/node configurable-http-proxy@5.3.0 \
	    || echo "npm install failed: the hub test will be skipped (make hub-deps retries)"; \
	else echo "npm not found: configurable-http-proxy not installed (the hub test will be skipped)"; fi
	touch $(HUB_STAMP)

hub-deps:
	rm -f $(HUB_STAMP)
	$(MAKE) $(HUB_STAMP)

clean-venv:
	rm -rf $(VENV)
