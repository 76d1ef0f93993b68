# Two commands for a newcomer: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test figures clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@if nvidia-smi >/dev/null 2>&1; then \
		echo "NVIDIA GPU found: installing tensorflow[and-cuda]"; \
		$(BIN)/python -m pip install --quiet "tensorflow[and-cuda]==2.21.0"; \
	fi
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

demo: setup
	$(BIN)/dcgan-sr demo

test: setup
	$(BIN)/python -m pytest

clean:
	rm -rf outputs .pytest_cache
