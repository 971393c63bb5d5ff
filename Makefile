# The README's two commands: `make demo` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 7860

.PHONY: demo test test-fast lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The app and its dev tools (no torch).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# The trl and embeddings extras for the training and near-duplicate tests. torch is pinned to
# the CPU wheel first, on its own, so that nothing resolves a multi-GB CUDA build.
$(VENV)/.installed-extras: $(VENV)/.installed
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,trl,embeddings]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/prefdesk demo --db .prefdesk/demo.duckdb --port $(PORT)

test: $(VENV)/.installed-extras lint
	$(BIN)/pytest --durations=10

# Unit and app layers only: seconds, no browser, no torch.
test-fast: $(VENV)/.installed
	$(BIN)/pytest tests/unit tests/app

lint: $(VENV)/.installed
	$(BIN)/ruff check apps labeling store exports tests bench
	$(BIN)/ruff format --check apps labeling store exports tests bench
	$(BIN)/mypy

bench: $(VENV)/.installed
	$(BIN)/python bench/import_export.py
	$(BIN)/python bench/load.py
	$(BIN)/python bench/keys.py

clean:
	rm -rf $(VENV) .prefdesk .pytest_cache
