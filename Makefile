# Two commands do the main work on a fresh machine (Python 3.11 + pip):
#   make report   run the main job on the embedded sample evidence
#   make test     run the whole test suite
# Both create (once) and reuse a local virtual environment in .venv/.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
BUNDLE ?= sample:waiting_for_fiber

.PHONY: report test lint bench lab clean help

help:
	@echo "make report [BUNDLE=...]  HTML incident report of every runbook notebook for BUNDLE (default $(BUNDLE))"
	@echo "make test                 the whole test suite"
	@echo "make lab [BUNDLE=...]     the runbook notebooks for BUNDLE in JupyterLab (./panda-lab/)"
	@echo "make lint                 ruff + mypy"
	@echo "make bench                benchmarks: ingress parser, diagnosis of busy bundles, rules, report, memory on hostile evidence (prints ratios)"

$(BIN)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

report: $(BIN)/.installed
	@# every runbook notebook → reports/<bundle>-<UTC time>/*.html (+ .ipynb audit records, findings.json);
	@# exit status 1 means "critical findings", the expected result on the incident sample
	$(BIN)/panda-analysis report $(BUNDLE) || test $$? -eq 1

test: $(BIN)/.installed
	$(BIN)/python -m pytest

lint: $(BIN)/.installed
	$(BIN)/ruff check panda_analysis tests benchmarks
	$(BIN)/mypy panda_analysis

lab: $(BIN)/.installed
	@# runbook notebooks for BUNDLE in ./panda-lab/, JupyterLab on 127.0.0.1 (prints the URL with its token; Ctrl-C stops)
	$(BIN)/panda-analysis lab $(BUNDLE) $(LABFLAGS)

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/ingress_bench.py
	$(BIN)/python benchmarks/diagnose_bench.py
	$(BIN)/python benchmarks/rules_bench.py
	$(BIN)/python benchmarks/hostile_bench.py
	$(BIN)/python benchmarks/report_bench.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
