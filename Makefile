# Relay Desk: `make demo` and `make test` work on a fresh machine (Python 3.11, pip, venv).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)

.PHONY: demo test bench package lint-infra local clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $(STAMP)

demo: $(STAMP)  ## the main job on an embedded local AWS (moto): tickets, threads, acknowledgements, metrics
	POWERTOOLS_LOG_LEVEL=WARNING $(PY) -m chalicelib.local.demo

CHROMIUM ?= /usr/bin/chromium

$(CHROMIUM):  ## the browser tests drive Debian's chromium (Playwright cannot download its own browser here)
	@if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	elif command -v sudo >/dev/null; then sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; \
	else echo "tests/browser needs Chromium: run 'apt-get install chromium' as root (or set CHROMIUM=/path/to/chromium)" >&2; exit 1; fi

test: $(STAMP) $(CHROMIUM)  ## the whole suite, against moto; browser tests in headless Chromium
	RELAY_DESK_CHROMIUM=$(CHROMIUM) $(PY) -m pytest -n 2 -q

local: $(STAMP)  ## webhooks on http://127.0.0.1:8000, queues pumped continuously, AWS in a moto server
	POWERTOOLS_LOG_LEVEL=WARNING $(PY) -m chalicelib.local.serve

bench: $(STAMP)  ## benchmarks (figures, not pass/fail)
	POWERTOOLS_LOG_LEVEL=ERROR $(PY) benchmarks/run.py

package: $(STAMP)  ## CloudFormation for deployment: Chalice's template merged with infra/resources.yaml
	rm -rf build
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} $(VENV)/bin/chalice package --stage dev --merge-template infra/resources.yaml build/

lint-infra: package
	$(VENV)/bin/cfn-lint build/sam.yaml  # a YAML merge template makes Chalice write YAML

clean:
	rm -rf build .pytest_cache .hypothesis
