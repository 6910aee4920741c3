# refkit: two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# `make demo` installs only what the demo needs (the package and its flask extra).
DEMO_STAMP := $(VENV)/.installed-demo

.PHONY: demo demo-cli test docs lint format bench fuzz screenshot clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[flask,django,postgres,dev,docs,bench]'
	touch $(STAMP)

$(DEMO_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[flask]'
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/python -m refkit_flask.demo

demo-cli: $(DEMO_STAMP)
	$(BIN)/python -m refkit.demo

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

docs: $(STAMP)
	$(BIN)/python -m sphinx -W --keep-going -b html docs docs/_build/html

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The Flask load test needs wrk (apt-get install wrk); without it that part says so and
# the rest runs. pinax-referrals gets its own virtualenv (bench/.venv-pinax) on first use.
bench: $(STAMP)
	$(BIN)/python -m bench

# A short fixed budget of coverage-guided fuzzing (atheris: not in the dev extra, it is
# installed here; docs/security.rst has the figure of a long run).
fuzz: $(STAMP)
	$(BIN)/python -c 'import atheris' 2>/dev/null || $(BIN)/python -m pip install --quiet atheris
	$(BIN)/python tools/fuzz_codes.py -atheris_runs=200000 -seed=1

# The dashboard screenshot in the docs, taken by the browser test (needs /usr/bin/chromium).
screenshot: $(STAMP)
	REFKIT_DASHBOARD_SCREENSHOT=docs/_static/dashboard.png $(BIN)/python -m pytest -q \
		tests/test_dashboard_browser.py -k chromium

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis *.egg-info docs/_build
