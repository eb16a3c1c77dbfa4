# hanport — developer tasks. `make check` is what a change must pass.
PY ?= .venv/bin/python

.PHONY: venv demo test lint types check bench docs clean

venv:
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q -e ".[test,bench]"

demo: venv
	.venv/bin/hanport demo

test: venv
	$(PY) -m pytest

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

types: venv
	$(PY) -m mypy

check: lint types test

bench: venv
	$(PY) -m bench.all

docs: venv
	$(PY) -m hanport.entrypoints.cli.reference

clean:
	rm -rf demo-out build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
