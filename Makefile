# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test lint typecheck pytest bench clean tools

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# OSV's public API is not reachable everywhere: the demo uses the offline records in ../shared/osv
# when they are there (exit 1 means the gate found something, which the demo expects).
DEMO_OSV := $(if $(wildcard ../shared/osv),--osv-db ../shared/osv,--no-vulns)

demo: $(STAMP)
	$(BIN)/python examples/make_unsafe_model.py
	$(BIN)/mlgate scan examples $(DEMO_OSV) --sbom out/demo-sbom.cdx.json \
	  --json out/demo-result.json --sarif out/demo.sarif --markdown out/demo.md; \
	  rc=$$?; test $$rc -le 1

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples entrypoint.py
	$(BIN)/ruff format --check src tests bench examples entrypoint.py
	$(BIN)/mypy --strict src

typecheck: lint

pytest: $(STAMP)
	$(BIN)/python -m pytest -q

test: lint pytest

bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH)

clean:
	rm -rf $(VENV) out .bench .tools
