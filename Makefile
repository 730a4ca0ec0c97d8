# Two commands do all the set-up on a fresh machine:
#   make demo   create .venv, install facerbm, train on the embedded LFW sample, write the pictures
#   make test   create .venv if needed and run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of PyTorch; set TORCH="torch" (or another pin) for a CUDA machine.
TORCH ?= torch==2.13.0
RUN ?= runs/demo

.PHONY: demo test lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/facerbm train --data sample --epochs 40 --out $(RUN) --overwrite
	@echo "pictures: $(RUN)/filters.png $(RUN)/reconstructions.png $(RUN)/curves.png"

test: $(VENV)/.installed
	$(BIN)/python -m pytest

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests benchmarks scripts

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/speed.py

clean:
	rm -rf $(VENV) runs .pytest_cache
