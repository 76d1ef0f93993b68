# Two commands for a newcomer: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: lock setup app-setup demo app screenshot test bench figures notebooks presets preset-real clean

setup: $(STAMP)

# requirements.lock pins every package, the web app's included, to the versions the committed
# figures and notebook outputs were made with; requirements*.txt say what is needed. `make
# setup` and `make app-setup` install through it. After changing a requirements file, `make
# lock` writes it anew (pip-tools' pip-compile, in .venv: Python 3.11 on Linux x86_64).
lock: setup
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links --annotation-style line \
		requirements.txt requirements-app.txt -o requirements.lock

$(STAMP): requirements.txt requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@if nvidia-smi >/dev/null 2>&1; then \
		echo "NVIDIA GPU found: installing tensorflow[and-cuda]"; \
		$(BIN)/python -m pip install --quiet "tensorflow[and-cuda]==2.21.0"; \
	fi
	$(BIN)/python -m pip install --quiet -r requirements.txt -c requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

demo: setup
	$(BIN)/dcgan-sr demo

# The web app (Gradio), an optional extra: `make app` serves it on http://127.0.0.1:7860.
APP_STAMP := $(VENV)/.installed-app
app-setup: $(APP_STAMP)

$(APP_STAMP): $(STAMP) requirements-app.txt
	$(BIN)/python -m pip install --quiet -r requirements-app.txt -c requirements.lock
	@touch $(APP_STAMP)

app: app-setup
	$(BIN)/dcgan-sr serve

# images/app.png: the app after upscaling a sample face, in headless Chromium.
screenshot: app-setup
	$(BIN)/python tests/browser.py --screenshot images/app.png

# ruff (lint), unit tests, then the four notebooks under nbval in quick mode (cells marked
# NBVAL_CHECK_OUTPUT must reproduce their committed output). pytest-xdist runs the test files
# in up to 4 processes (a file's tests, and a notebook's cells, stay in one).
test: setup
	$(BIN)/ruff check src tests benchmarks
	DCGAN_SR_QUICK=1 $(BIN)/python -m pytest notebooks tests -n auto --maxprocesses 4 \
		--dist loadfile --nbval-lax --sanitize-with notebooks/nbval_sanitize.cfg

# Speeds on this machine, one run: a table, and bench.json.
bench: setup
	$(BIN)/python benchmarks/bench.py --json bench.json

# The README's images, rebuilt from the shipped weights and data/sample; the perception-distortion
# figure from the robustness table of the 510 test faces that the README shows (its JSON is kept).
ROBUSTNESS_JSON := benchmarks/robustness_test_2026-12-04_real_ft.json
figures: setup
	$(BIN)/dcgan-sr demo --out outputs/figures
	cp outputs/figures/comparison_grid.png outputs/figures/comparison_table.png \
	   outputs/figures/training_curves.png outputs/figures/metrics.png \
	   outputs/figures/robustness.png images/
	$(BIN)/python -m dcgan_sr.plots perception-distortion $(ROBUSTNESS_JSON) images/perception_distortion.png

# Re-execute the four notebooks in full mode and save them with their outputs (no timing
# metadata, so a rerun changes only what the cells print and draw).
notebooks: setup
	cd notebooks && ../$(BIN)/jupyter nbconvert --to notebook --execute --inplace \
		--ExecutePreprocessor.record_timing=False --ExecutePreprocessor.timeout=3600 \
		01_data.ipynb 02_models.ipynb 03_training.ipynb 04_results.ipynb

# Ship a finished run's generators as the `mse` and `gan` presets (with their config and history).
RUN ?= runs/cpu_chosen
WEIGHTS := src/dcgan_sr/weights
presets:
	@test -f $(RUN)/summary.json || { echo "$(RUN) has no summary.json: finish its training first"; exit 2; }
	cp $(RUN)/generator_mse.weights.h5 $(WEIGHTS)/mse.weights.h5
	cp $(RUN)/generator.weights.h5 $(WEIGHTS)/gan.weights.h5
	cp $(RUN)/config.json $(WEIGHTS)/mse.config.json
	cp $(RUN)/config.json $(WEIGHTS)/gan.config.json
	cp $(RUN)/history.csv $(WEIGHTS)/history.csv
	cp $(RUN)/summary.json $(WEIGHTS)/summary.json
	$(BIN)/python -m dcgan_sr.presets stamp mse gan

# Ship a `--degradation realistic` run's generator as the `real` preset: its exported G (a
# finished run), or one it kept (REAL_WEIGHTS=generators/step_N.weights.h5, from a run that may
# still be going). Its config and history ship beside it, and its summary when it has one.
# A fine-tune (train --init-generator) names the run it started from as REAL_BASE_RUN: that
# run's history ships as real.base_history.csv (notebook 03 draws both).
REAL_RUN ?= runs/cpu_real
REAL_WEIGHTS ?= generator.weights.h5
REAL_BASE_RUN ?=
preset-real:
	@test -f $(REAL_RUN)/$(REAL_WEIGHTS) || { echo "$(REAL_RUN)/$(REAL_WEIGHTS) not found: finish the run, or name a generator it kept (REAL_WEIGHTS=generators/step_N.weights.h5)"; exit 2; }
	cp $(REAL_RUN)/$(REAL_WEIGHTS) $(WEIGHTS)/real.weights.h5
	cp $(REAL_RUN)/config.json $(WEIGHTS)/real.config.json
	cp $(REAL_RUN)/history.csv $(WEIGHTS)/real.history.csv
	if [ -f $(REAL_RUN)/summary.json ]; then cp $(REAL_RUN)/summary.json $(WEIGHTS)/real.summary.json; \
	else rm -f $(WEIGHTS)/real.summary.json; fi
	if [ -n "$(REAL_BASE_RUN)" ]; then cp $(REAL_BASE_RUN)/history.csv $(WEIGHTS)/real.base_history.csv; \
	else rm -f $(WEIGHTS)/real.base_history.csv; fi
	$(BIN)/python -m dcgan_sr.presets stamp real

clean:
	rm -rf outputs .pytest_cache
