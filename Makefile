# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo docs test lint typecheck pytest bench clean tools fuzz

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# The demo asks OSV's API; where the network is unreachable it falls back to the example records
# shipped in examples/osv (written for the demo, not real advisories) and says so. Exit 1 means
# the gate found something, which the demo expects.
demo: $(STAMP)
	$(BIN)/python examples/make_unsafe_model.py
	$(BIN)/mlgate scan examples --exclude osv --osv-fallback-db examples/osv \
	  --sbom out/demo-sbom.cdx.json --json out/demo-result.json --sarif out/demo.sarif \
	  --markdown out/demo.md; \
	  rc=$$?; test $$rc -le 1

# The reference in docs/ generated from the code (rule table, policy file); a test checks it.
docs: $(STAMP)
	$(BIN)/python docs/generate.py

lint: $(STAMP)
	$(BIN)/ruff check --no-cache src tests bench examples docs entrypoint.py fuzz
	$(BIN)/ruff format --no-cache --check src tests bench examples docs entrypoint.py fuzz
	$(BIN)/mypy --strict src docs/generate.py
	$(BIN)/check-jsonschema --builtin-schema vendor.github-actions action.yml
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(BIN)/actionlint .github/workflows/*.yml
	$(BIN)/zizmor --offline --quiet action.yml .github/workflows
	$(BIN)/hadolint Dockerfile

typecheck: lint

pytest: $(STAMP) tools
	$(BIN)/python -m pytest -q

test: lint pytest

bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH)

# Every parser's fuzz harness for FUZZ_SECONDS each (fuzz/run.py; crashes land in fuzz/crashes/).
# FUZZ_ENGINE=atheris runs libFuzzer's coverage-guided engine (pip install -e '.[fuzz]').
FUZZ_SECONDS ?= 60
FUZZ_ENGINE ?= builtin
fuzz: $(STAMP)
	$(BIN)/python fuzz/run.py --engine $(FUZZ_ENGINE) --seconds $(FUZZ_SECONDS) $(FUZZ)

# Validators the tests run that are not Python packages: npm packages into .tools/, Debian
# packages through apt-get (when root, as in CI). Best effort: a tool that cannot be installed
# makes the tests that need it skip with a message. Append to these lists for more tools.
NPM_TOOLS += gitlab-ci-local@4.73.0 npm-groovy-lint@16.2.0
NPM_TOOLS += @microsoft/sarif-multitool@5.7.0
APT_TOOLS += groovy rsync
# a real registry and image tools for the container-image tests
APT_TOOLS += docker-registry skopeo umoci rpm

tools:
	@mkdir -p .tools; missing=""; \
	for spec in $(NPM_TOOLS); do name=$${spec%@[0-9]*}; \
	  test -x ".tools/node_modules/.bin/$${name##*/}" || missing="$$missing $$spec"; done; \
	if [ -z "$$missing" ]; then :; \
	elif command -v npm >/dev/null 2>&1; then \
	  npm install --prefix .tools --no-audit --no-fund $$missing \
	  || echo "warning: npm install$$missing failed: the tests that need them will skip"; \
	else echo "warning: npm not found: tests needing$$missing will skip"; fi
	@missing=""; for cmd in $(APT_TOOLS); do \
	  command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$cmd"; done; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing \
	    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	         apt-get install -y -qq --no-install-recommends $$missing; }; } >/dev/null \
	  || echo "warning: apt-get install$$missing failed: the tests that need them will skip"; \
	else echo "warning: not root or no apt-get: tests needing$$missing will skip"; fi

clean:
	rm -rf $(VENV) out .bench .tools
