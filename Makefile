# Two commands do all set-up: `make demo` (the workflow on the embedded synthetic collection)
# and `make test`. Both create the virtual environment first when it is missing.
VENV  ?= .venv
BIN   := $(VENV)/bin
STAMP := $(VENV)/.herbseg-installed
CORES ?= 2
PYTHON ?= python3

.PHONY: venv demo test test-fast lint lock clean-demo

venv: $(STAMP)

# pip -qq: errors only. The index's ~100 "Location ... is ignored" warnings per install filled CI's
# printed excerpt and hid the test failures after them.
$(STAMP): requirements.txt requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -qq --disable-pip-version-check -r requirements.txt -c requirements.lock
	$(BIN)/pip install -qq --disable-pip-version-check --no-deps -e .
	touch $@

demo: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --configfile config/demo.yaml --rerun-incomplete
	@$(BIN)/python -m herbseg.reporting.demo_check demo/results/demo_check.csv

# The full suite (what CI runs through .ci/run): unit, workflow, SLURM and browser tiers.
# Both tiers run on every core (pytest-xdist); a test module stays on one worker (its module
# fixtures, SLURM's daemons among them, are set up once), the modules reading the session's
# finished runs share one, and the longest groups start first (tests/conftest.py).
test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --dist loadfile

# The inner loop: unit tests only (no Snakemake, SLURM or Chromium; markers in pyproject.toml).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --dist loadfile -m "not workflow and not slurm and not browser"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint --configfile config/demo.yaml

# After changing requirements.txt: a venv built without the old pins, then its versions written down.
lock:
	rm -rf $(VENV).lock-build
	$(PYTHON) -m venv $(VENV).lock-build
	$(VENV).lock-build/bin/pip install -qq --disable-pip-version-check -r requirements.txt
	{ sed -n '1,3p' requirements.lock; $(VENV).lock-build/bin/pip freeze --exclude-editable; } > requirements.lock.new
	mv requirements.lock.new requirements.lock
	rm -rf $(VENV).lock-build

clean-demo:
	rm -rf demo
