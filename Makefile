# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q
# uv installs the hashed lock files (scripts/lock.sh writes them from the requirements*.txt beside them)
# faster than pip (about a minute against 159 s for the test set-up on a fresh machine); pip only installs
# uv itself, from its own lock. --require-hashes: a package whose file differs from the one locked is
# refused, so two installs of one commit are the same. --compile-bytecode as pip does: these machines set
# PYTHONDONTWRITEBYTECODE, so without .pyc files every process would compile every module it imports again
# (imports 1.5x slower, the test suite two minutes longer).
UV     := $(BIN)/python -m uv pip install --python $(BIN)/python -q --compile-bytecode
LOCKED := $(UV) --require-hashes -r
# Where torch's CPU wheel comes from (requirements-encoder.lock pins its hash): this machine kind keeps the
# file in /opt/wheels; elsewhere (GitHub's runners) PyTorch's CPU wheel index serves the same file.
TORCH_WHEELS ?= $(if $(wildcard /opt/wheels/torch-2.13.0+cpu-*.whl),/opt/wheels,https://download.pytorch.org/whl/cpu/torch/)

.PHONY: help run test check lint pytest install install-dev install-encoder torch-wheels security-tools system-deps bench-deps image deploy-plan clean ui ui-image
.DEFAULT_GOAL := help

## help: this list (bare `make` shows it and builds nothing)
help:
	@echo "usage: make TARGET   (the two that set everything up: make run, make test)"
	@awk '/^## [a-z-]+:/ { sub(/^## /, ""); name = $$0; sub(/:.*/, "", name); sub(/^[a-z-]+: /, ""); \
	      printf "  %-12s %s\n", name, $$0; next } \
	      /^## / { sub(/^## /, ""); printf "  %-12s %s\n", "", $$0 }' $(MAKEFILE_LIST)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.uv: requirements-uv.lock | $(BIN)/python
	$(PIP) install --require-hashes -r requirements-uv.lock
	touch $@

# Three markers, so each step re-runs only when its own lock changes: the runtime and training lock, the
# development lock (a superset, same versions), and the project itself (editable). The workflow tests'
# scratch clones see this venv's packages through a .pth file and mark the requirements as present: their
# `make install` installs only their own copy of the project.
$(VENV)/.requirements: requirements-train.lock $(VENV)/.uv
	@echo "installing the runtime and training requirements into $(VENV) (requirements-train.lock)"
	$(LOCKED) requirements-train.lock
	touch $@

$(VENV)/.requirements-dev: requirements-dev.lock $(VENV)/.requirements
	@echo "installing the test and lint requirements into $(VENV) (requirements-dev.lock)"
	$(LOCKED) requirements-dev.lock
	touch $@

# torch and the encoder's training tools: a second marker, so `make run` with the linear family never waits on them.
$(VENV)/.requirements-encoder: requirements-encoder.lock $(VENV)/.requirements
	@echo "installing the encoder family's training requirements into $(VENV) (requirements-encoder.lock)"
	$(LOCKED) requirements-encoder.lock --find-links $(TORCH_WHEELS)
	touch $@

$(VENV)/.requirements-security: requirements-security.lock $(VENV)/.uv
	@echo "installing the supply-chain tools into $(VENV) (requirements-security.lock)"
	$(LOCKED) requirements-security.lock
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.requirements
	@echo "installing tweetops itself into $(VENV) (editable: src/ is what runs)"
	$(UV) --no-deps -e .
	touch $@

# The model family params.yaml chooses (model.family): the encoder family needs torch to train.
FAMILY := $(shell awk '/^model:/ {m = 1; next} m && /^[^ #]/ {m = 0} m && $$1 == "family:" {print $$2; exit}' params.yaml)

## install: the runtime and training requirements into .venv (what `make run` needs; with model.family:
##          encoder in params.yaml, torch and the encoder's training tools too)
install: $(VENV)/.installed $(if $(filter encoder,$(FAMILY)),$(VENV)/.requirements-encoder)
## install-encoder: install, plus torch (CPU) and what training the encoder family needs (model.family: encoder)
install-encoder: $(VENV)/.installed $(VENV)/.requirements-encoder
## security-tools: pip-audit into .venv, for the workflows' supply-chain steps (in install-dev too)
security-tools: $(VENV)/.requirements-security
## install-dev: install, plus the test, lint and notebook tools and the encoder's (what `make test` needs)
install-dev: $(VENV)/.installed $(VENV)/.requirements-dev $(VENV)/.requirements-encoder

## run: install into .venv and run the six-stage pipeline on the bundled tweets
run: install
	$(BIN)/tweetops run

## test: install what the tests need, then lint and run every test
test:
	@# The Debian packages install while uv installs the Python ones, so neither waits for the other.
	@scripts/install_system_deps.sh & debian=$$!; $(MAKE) --no-print-directory install-dev; python=$$?; \
	 wait $$debian && exit $$python
	@$(MAKE) --no-print-directory lint pytest

## torch-wheels: where torch's CPU wheel is installed from (TORCH_WHEELS; scripts/lock.sh reads it)
torch-wheels:
	@echo $(TORCH_WHEELS)

## system-deps: Debian packages for the real servers the tests start (PostgreSQL, Docker, ...)
system-deps:
	scripts/install_system_deps.sh

## bench-deps: the test set-up plus wrk, the load generator benchmarks/serving.py measures with
bench-deps: install-dev
	scripts/install_system_deps.sh wrk

## lint: flake8, and the import contracts (layers point one way, no cycles, only the CLI publishes)
lint: install-dev
	$(BIN)/flake8 src api ui tests benchmarks scripts docker monitoring mlops_architecture.py
	$(BIN)/lint-imports --no-logo

## image: the Docker image with the champion baked in (tags tweetops:<run_id> and tweetops:<git sha>);
## with no champion, the newest bundle that passed its gate (and it says so); trains one if there is none
image: install
	@$(BIN)/tweetops model-path >/dev/null 2>&1 || $(BIN)/tweetops run
	scripts/build_image.sh --bundle "$$($(BIN)/tweetops model-path)"

## check: lint and the tests that start no server and train no whole run, for the loop between edits
check: install-dev lint
	$(BIN)/pytest -n 2 --dist loadfile -m "not slow" -q

# Three workers (pytest-xdist) on two cores, each taking whole test files, so a file's fixtures are built once
# and every Docker test (all in tests/e2e/test_image.py) shares one daemon; many tests wait on servers, builds
# and subprocesses, so a third worker fills those waits (9 min 25 s against 10 min 38 s with two, same clone). The second run executes every notebook
# with its defaults (nbval; notebooks/conftest.py trains one shared run); tests/notebooks in the first runs
# them again with papermill into reports/notebooks/.
## pytest: every test (three workers), then every notebook; no lint, no Debian packages
pytest: install-dev
	$(BIN)/pytest -n 3 --dist loadfile
	$(BIN)/pytest --nbval-lax --nbval-kernel-name python3 -p no:cacheprovider notebooks/

## ui: the API (serving the champion) and the web UI on 127.0.0.1 (trains one first if none); Ctrl-C stops both
# Only what the two servers need: the runtime lock, the UI's lock and tweetops itself (no test tools, no MLflow:
# without it, a model trained here for want of one is published to the local registry). On a terminal the
# script runs as its own foreground job (bash -m), so Ctrl-C reaches it and not make (which would end with
# "Error 130" or "Interrupt"): it stops both servers and `make ui` exits 0.
ui: $(VENV)/.uv
	@echo "installing what the API and the UI need into $(VENV) (requirements.lock, ui/requirements.lock, tweetops)"
	$(LOCKED) requirements.lock
	$(LOCKED) ui/requirements.lock
	$(UV) --no-deps -e .
	@if [ -t 0 ]; then bash -mc 'scripts/run_ui.sh; exit $$?'; else scripts/run_ui.sh; fi

## ui-image: the web UI's own small image (tweetops-ui), apart from the serving image
ui-image:
	docker build -t tweetops-ui ui/

## deploy-plan: print the aws cloudformation deploy commands for infra/ in dependency order (never calls aws)
##   reads RUN_ID AWS_REGION AWS_ACCOUNT_ID GITHUB_REPOSITORY SUBNET_IDS SECURITY_GROUP_IDS [ECR_REPOSITORY]
deploy-plan:
	scripts/deploy_plan.sh

## clean: remove the generated data, models, reports and test caches (keeps .venv and data/raw)
clean:
	rm -rf data/interim data/processed data/features .tweetops-run-* .pytest_cache .coverage
	find models reports -mindepth 1 -not -name .gitkeep -exec rm -rf {} +
