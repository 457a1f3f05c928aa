# Relay Desk: `make demo` and `make test` work on a fresh machine (Python 3.11, pip, venv).
VENV ?= .venv
PY := $(VENV)/bin/python
# The interpreter that makes $(VENV). Chalice builds the Lambda bundle for the Python it runs on, and the functions
# run on Lambda's python3.11: any other is refused (python-check), here and in tools/locked_chalice.py.
PYTHON ?= python3
LAMBDA_PYTHON := 3.11
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements.lock requirements-dev.txt | sha1sum | cut -c1-12)

.PHONY: demo test proof bench cost package lint-infra local clean deploy destroy python-check lock

python-check:  ## refuse any Python but 3.11, in one line that says what to run instead
	@py=$(if $(wildcard $(PY)),$(PY),$(PYTHON)); \
	version=$$($$py -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo none); \
	if [ "$$version" != "$(LAMBDA_PYTHON)" ]; then \
	  echo "Relay Desk needs Python $(LAMBDA_PYTHON) (Lambda's runtime; Chalice builds for the Python it runs on), $$py is $$version: run $(if $(wildcard $(PY)),rm -rf $(VENV) && )make PYTHON=python$(LAMBDA_PYTHON)" >&2; \
	  exit 1; \
	fi

# The runtime dependencies first, exactly as locked and hash-checked (what the Lambda bundle gets), then the
# development tools; requirements-dev.txt names requirements.txt's pins, which the lock already satisfies.
$(STAMP): requirements.txt requirements.lock requirements-dev.txt | python-check
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing the dependencies into $(VENV)$(if $(wildcard $(VENV)/.installed-*),, (the first time: a minute or two; pip shows each package))"
	$(PY) -m pip install $(if $(wildcard $(VENV)/.installed-*),--quiet) --disable-pip-version-check --require-hashes --no-deps -r requirements.lock
	$(PY) -m pip install $(if $(wildcard $(VENV)/.installed-*),--quiet) --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $(STAMP)

demo: $(STAMP)  ## the main job on an embedded local AWS (moto): tickets, threads, acknowledgements, metrics
	POWERTOOLS_LOG_LEVEL=WARNING $(PY) -m chalicelib.local.demo

CHROMIUM ?= /usr/bin/chromium

$(CHROMIUM):  ## the browser tests drive Debian's chromium (Playwright cannot download its own browser here)
	@if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	elif command -v sudo >/dev/null; then sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; \
	else echo "tests/browser needs Chromium: run 'apt-get install chromium' as root (or set CHROMIUM=/path/to/chromium)" >&2; exit 1; fi

test: $(STAMP) $(CHROMIUM)  ## the whole suite, against moto; browser tests in headless Chromium
	RELAY_DESK_CHROMIUM=$(CHROMIUM) $(PY) -m pytest -n 3 -q

local: $(STAMP)  ## the whole desk: HTTP on :8000, SMTP on :2525, schedules every minute, AWS in moto; ARGS=--help lists options
	$(PY) -m chalicelib.local.serve $(ARGS)

EVENTS ?= 2000
proof: $(STAMP)  ## faults and crashes injected, then nothing lost or duplicated is checked (EVENTS=10000: the long run)
	POWERTOOLS_LOG_LEVEL=ERROR $(PY) benchmarks/proof.py --events $(EVENTS)

.PHONY: soak audit
MINUTES ?= 10
soak: $(STAMP)  ## the proof's mix without faults for MINUTES (10) as fast as moto goes: events/s, p50/p99 per stage, RSS growth
	POWERTOOLS_LOG_LEVEL=ERROR $(PY) benchmarks/soak.py --minutes $(MINUTES)

# Not part of `make test`: the advisories are read over the network (PyPI's per-release JSON, or OSV with
# ARGS="-s osv"), which this project's machines and CI do not reach. --strict: a package that could not be
# checked fails the audit (without it, pip-audit skips it and says "No known vulnerabilities found").
audit: $(STAMP)  ## pip-audit of requirements.lock as locked (hash-checked, no resolution); fails if any pin could not be checked
	$(VENV)/bin/pip-audit --requirement requirements.lock --require-hashes --disable-pip --strict --progress-spinner off $(ARGS)

bench: $(STAMP)  ## benchmarks (figures, not pass/fail)
	POWERTOOLS_LOG_LEVEL=ERROR $(PY) benchmarks/run.py

# INFO: the deployed log level (.chalice/config.json sets none), so the log bytes measured are what Lambda ingests.
cost: $(STAMP)  ## the AWS bill per 1 million tickets from measured calls, write/read units, durations and logs
	POWERTOOLS_LOG_LEVEL=INFO $(PY) benchmarks/cost.py $(ARGS)

package: $(STAMP)  ## CloudFormation for deployment: Chalice's template merged with infra/resources.yaml; the bundle gets requirements.lock
	rm -rf build
	$(PY) tools/locked_chalice.py package --stage dev --merge-template infra/resources.yaml build/

# requirements.lock: requirements.txt and every transitive dependency, pinned with hashes (pip-tools, pinned in
# requirements-dev.txt). Existing pins are kept; `make lock UPGRADE=1` moves every one to the newest allowed.
# The machine's pip configuration is set aside so the hashes are the package index's own files.
lock: $(STAMP)
	env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL -u PIP_INDEX_URL PIP_CONFIG_FILE=/dev/null \
	  $(VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
	  $(if $(UPGRADE),--upgrade) --output-file requirements.lock requirements.txt

lint-infra: package
	$(VENV)/bin/cfn-lint build/sam.yaml  # a YAML merge template makes Chalice write YAML

STAGE ?=

deploy: $(STAMP)  ## make deploy STAGE=prod: refuse placeholder secrets, package, upload, create/update stack relay-desk-$(STAGE) (docs/deploying.md)
	@test -n "$(STAGE)" || { echo "usage: make deploy STAGE=<stage> (a stage in infra/stages/, e.g. prod)" >&2; exit 2; }
	$(PY) -m infra.deploy deploy $(STAGE)

destroy: $(STAMP)  ## make destroy STAGE=prod: delete the stack (asks first; tables, bucket and queues are kept)
	@test -n "$(STAGE)" || { echo "usage: make destroy STAGE=<stage>" >&2; exit 2; }
	$(PY) -m infra.deploy destroy $(STAGE)

clean:
	rm -rf build .pytest_cache .hypothesis
