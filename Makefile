# The two commands a fresh machine needs: `make demo` and `make test`.
# Each bootstraps .venv on first use (only Python >= 3.11 and make required).
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/foliogate demo

test: $(STAMP)
	$(VENV)/bin/pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check protocols adapters simulators tests bench
	$(VENV)/bin/mypy protocols

clean:
	rm -rf $(VENV)
