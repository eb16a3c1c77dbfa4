# hanport — developer tasks. `make check` is what a change must pass.
PY ?= .venv/bin/python

.PHONY: venv demo test lint types check bench docs evidence-screenshot clean

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

# docs/evidence.png: the demo's evidence for HAN-2026-000008 (HES command, cancelled in opening
# by a close), rendered by headless Chromium.
evidence-screenshot: demo
	HANPORT_DATABASE_URL=sqlite:///demo-out/hanport-demo.db HANPORT_ROLES=revisor=auditor \
		.venv/bin/hanport --as revisor audit export HAN-2026-000008 --out demo-out/evidence.html
	chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir=demo-out/chromium \
		--window-size=1280,2400 --screenshot=docs/evidence.png file://$(CURDIR)/demo-out/evidence.html

clean:
	rm -rf demo-out build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
