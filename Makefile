# make demo : set up a fresh machine, then segment the bundled sample in napari
# make test : set up a fresh machine, then run the whole test suite
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.gazeseg-installed
# napari needs a real OpenGL canvas: run under a virtual X display when none is set
XRUN   := $(if $(DISPLAY),,xvfb-run -a -s "-screen 0 1600x1000x24")

.PHONY: setup test demo bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup.sh
	VENV=$(VENV) bash scripts/setup.sh
	touch $@

test: $(STAMP)
	$(VENV)/bin/lint-imports
	$(XRUN) $(PY) -m pytest -q tests
	bash scripts/tobii_contract.sh

demo: $(STAMP)
	$(XRUN) $(PY) -m napari_gazeseg.demo --output demo-output $(if $(DISPLAY),--show,)

bench: $(STAMP)
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) demo-output build dist *.egg-info
