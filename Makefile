# The README's two commands are `make lab` and `make test`. Both set up .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: lab test release lint bench clean-venv

lab: $(STAMP)
	$(BIN)/proximal lab

test: $(STAMP)
	$(BIN)/python -m pytest

release: $(STAMP)
	$(BIN)/proximal release

lint: $(STAMP)
	$(BIN)/proximal lint

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

clean-venv:
	rm -rf $(VENV)
