# statesmix developer targets.  PYTHON may point at a virtual environment.
PYTHON ?= python3
PIP = $(PYTHON) -m pip
SAMPLE ?= README.md

.PHONY: install demo test build bench clean

install:
	$(PIP) install -q .

# Install, then compress, decompress and verify a bundled sample.
demo: install
	@tmp=$$(mktemp -d) && cp $(SAMPLE) $$tmp/sample && \
	statesmix -v $$tmp/sample && \
	statesmix -d -c $$tmp/sample.ssx > $$tmp/sample.out && \
	cmp $$tmp/sample $$tmp/sample.out && \
	statesmix -l $$tmp/sample.ssx && \
	echo "demo: round trip verified" && rm -rf $$tmp

# Install with the test extras and run the suite.  The extension is also built
# in place, for the tests that run the CLI and the benchmark from the source tree.
test:
	$(PIP) install -q setuptools ".[test]"
	$(PYTHON) statesmix/_build.py
	cd tests && $(PYTHON) -m pytest -q -p no:cacheprovider .

# Build the C extension in place (development).
build:
	$(PYTHON) statesmix/_build.py

bench:
	$(PYTHON) -m bench --enwik8 ../shared/data/enwik6

clean:
	rm -rf build dist *.egg-info statesmix/_core*.so statesmix/_core.c
