# Shortcuts; each target calls tasks.py, which needs nothing but Python 3.11.
PYTHON ?= python3.11

.PHONY: reports test setup lab clean-reports
reports:  ## set up .venv and regenerate the quick reports
	$(PYTHON) tasks.py reports
test:     ## set up .venv and run the tests
	$(PYTHON) tasks.py test
setup:
	$(PYTHON) tasks.py setup
lab: setup  ## JupyterLab on the notebooks (127.0.0.1, prints the URL)
	.venv/bin/labs lab
clean-reports:
	rm -rf reports/*/ reports/.staging-*
