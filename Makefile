# The README's two commands: `make demo` and `make test`. Everything else is a helper.
PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
PORT    ?= 7860
DEMO_DB ?= .prefdesk/demo.duckdb
LOG     := $(VENV)/install.log

.PHONY: demo test test-fast lint bench clean

# Installs say one line each; pip's own output goes to $(LOG), shown only when a step fails.
QUIET = sh -c 'echo "  $$1"; shift; "$$@" >>"$(LOG)" 2>&1 || { tail -n 40 "$(LOG)"; echo "failed: the whole log is in $(LOG)"; exit 1; }' quiet

$(BIN)/python:
	@echo "setting up $(VENV) (once; a few minutes on a fresh machine)"
	@$(PYTHON) -m venv $(VENV)
	@$(QUIET) "pip" $(BIN)/pip install --upgrade pip

# The app and its dev tools (no torch).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	@$(QUIET) "prefdesk and its dependencies" $(BIN)/pip install -e '.[dev]'
	@touch $@

# The trl and embeddings extras for the training and near-duplicate tests. torch's CPU build is
# installed first, on its own, and asked for by name (+cpu), so that nothing resolves PyPI's
# multi-GB CUDA build of 2.13.0: the extras' torch==2.13.0 is then already satisfied. On this
# project's machines the +cpu wheel lies on disk (pip's find-links); elsewhere it is on PyTorch's
# CPU index: PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu make test
TORCH := torch==2.13.0+cpu
$(VENV)/.installed-extras: $(VENV)/.installed
	@$(QUIET) "torch (CPU)" $(BIN)/pip install '$(TORCH)'
	@$(QUIET) "the trl and embeddings extras" $(BIN)/pip install -e '.[dev,trl,embeddings]'
	@touch $@

demo: $(VENV)/.installed
	@$(BIN)/prefdesk demo --db $(DEMO_DB) --port $(PORT)

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
	$(BIN)/python bench/cli.py
	$(BIN)/python bench/import_export.py
	$(BIN)/python bench/load.py
	$(BIN)/python bench/load.py --scarce
	$(BIN)/python bench/writer.py
	$(BIN)/python bench/rest_import.py
	$(BIN)/python bench/keys.py

clean:
	rm -rf $(VENV) .prefdesk .pytest_cache
