# The README's two commands: `make serve` (build and serve the site) and `make test` (every check).
# Both do all setup themselves on a fresh machine: a local .venv, the package in editable mode,
# and MathJax from the npm registry (the site ships its own copy so math renders offline).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.rnnmath-installed
MATHJAX := docs/vendor/mathjax/tex-chtml.js
export NO_MKDOCS_2_WARNING := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install test serve site bench regen clean mutate

install: $(STAMP) $(MATHJAX)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[docs,test]"
	touch $@

$(MATHJAX): scripts/vendor_mathjax.sh
	bash scripts/vendor_mathjax.sh docs/vendor/mathjax

test: install
	$(PY) -m rnnmath.codegen --check
	$(PY) -m pytest

serve: install
	$(VENV)/bin/mkdocs serve --dev-addr 127.0.0.1:8000

site: install
	$(VENV)/bin/mkdocs build --strict --site-dir site

bench: install
	$(PY) benchmarks/run.py
	$(PY) benchmarks/gated.py
	$(PY) benchmarks/engine.py
	$(PY) benchmarks/compose_torch.py

# Mutation testing (slow, not part of `make test`): settings in pyproject's [tool.mutmut], the
# survivors and why each is equivalent or which test kills it in tests/MUTATION.md.
mutate: install
	$(PY) -m pip install --quiet -e ".[mutate]"
	rm -rf mutants
	$(VENV)/bin/mutmut run --max-children 2 || true
	$(VENV)/bin/mutmut results

regen: $(STAMP)
	$(PY) -m rnnmath.codegen

clean:
	rm -rf $(VENV) site docs/vendor build *.egg-info
