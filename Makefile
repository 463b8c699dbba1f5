# statesmix developer targets.  PYTHON may point at a virtual environment.
PYTHON ?= python3
PIP = $(PYTHON) -m pip
SAMPLE ?= README.md

.PHONY: install demo test build bench clean sanitize fuzz fuzz-c fuzz-ssm fuzz-py

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

# Install with the test extras (and Dask, for the cluster test) and run the
# suite.  The extension is also built in place, for the tests that run the CLI
# and the benchmark from the source tree.
test:
	$(PIP) install -q setuptools ".[test,dask]"
	$(PYTHON) statesmix/_build.py
	cd tests && $(PYTHON) -m pytest -q -p no:cacheprovider .

# Build the C extension in place (development).
build:
	$(PYTHON) statesmix/_build.py

bench:
	$(PYTHON) -m bench --enwik8 ../shared/data/enwik6

# Build the extension in place with ASan+UBSan, run the fast hostile-input
# tests under it, then rebuild the normal extension (also when they fail).
# The Python host is not instrumented, so the ASan runtime is preloaded.
# Sanitizer reports go to build/sanitize/ (pytest would swallow them) and are
# printed at the end; any report fails the target.
SAN_TESTS ?= test_corrupt.py test_api.py test_ssm_c.py test_fuzz_regressions.py
SAN_LOG = $(CURDIR)/build/sanitize
LIBASAN = $(shell $${CC:-gcc} -print-file-name=libasan.so)
SAN_ENV = LD_PRELOAD=$(LIBASAN) ASAN_OPTIONS=detect_leaks=0:log_path=$(SAN_LOG)/asan \
	UBSAN_OPTIONS=print_stacktrace=1:log_path=$(SAN_LOG)/ubsan \
	PYTHONPATH=$(CURDIR)
sanitize:
	rm -rf $(SAN_LOG) && mkdir -p $(SAN_LOG)
	STATESMIX_SANITIZE=1 $(PYTHON) statesmix/_build.py
	cd tests && $(SAN_ENV) $(PYTHON) -m pytest -q -p no:cacheprovider $(SAN_TESTS); \
	status=$$?; cd .. && $(PYTHON) statesmix/_build.py || exit 1; \
	if ls $(SAN_LOG)/* >/dev/null 2>&1; then cat $(SAN_LOG)/*; \
		echo "sanitize: reports above (also in $(SAN_LOG))"; exit 1; fi; \
	exit $$status

# Fuzzing, bounded: the libFuzzer harness of the C block decoder (FUZZ_RUNS
# executions) and the atheris harness of the Python container and decoder
# (FUZZ_PY_RUNS).  New corpus entries and crash artifacts go to fuzz/out/
# (ignored); the committed seeds in fuzz/corpus/ are only read.
CLANG ?= clang
FUZZ_RUNS ?= 1000000
FUZZ_SSM_RUNS ?= 3000
FUZZ_PY_RUNS ?= 100000
FUZZ_CFLAGS = -std=c11 -O1 -g -ffp-contract=off -fno-strict-aliasing \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer -Icsrc
fuzz: fuzz-c fuzz-ssm fuzz-py

fuzz/out/fuzz_decode: fuzz/fuzz_decode.c $(wildcard csrc/*.c csrc/*.h)
	mkdir -p fuzz/out
	$(CLANG) $(FUZZ_CFLAGS) fuzz/fuzz_decode.c $(filter-out fuzz/fuzz_decode.c,$(wildcard csrc/*.c)) -lm -o $@

fuzz/out/fuzz_decode_ssm: fuzz/fuzz_decode.c $(wildcard csrc/*.c csrc/*.h)
	mkdir -p fuzz/out
	$(CLANG) $(FUZZ_CFLAGS) -DFUZZ_SSM fuzz/fuzz_decode.c $(filter-out fuzz/fuzz_decode.c,$(wildcard csrc/*.c)) -lm -o $@

# the SSM is ~100x slower under the sanitizers: its own binary, fewer runs
fuzz-ssm: fuzz/out/fuzz_decode_ssm
	mkdir -p fuzz/out/decode_ssm
	UBSAN_OPTIONS=print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
	fuzz/out/fuzz_decode_ssm -runs=$(FUZZ_SSM_RUNS) -max_len=1024 -timeout=60 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix=fuzz/out/decode_ssm- fuzz/out/decode_ssm fuzz/corpus/decode

fuzz-c: fuzz/out/fuzz_decode
	mkdir -p fuzz/out/decode
	UBSAN_OPTIONS=print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
	fuzz/out/fuzz_decode -runs=$(FUZZ_RUNS) -max_len=2048 -timeout=20 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix=fuzz/out/decode- fuzz/out/decode fuzz/corpus/decode

fuzz-py:
	mkdir -p fuzz/out/container
	PYTHONPATH=$(CURDIR) $(PYTHON) fuzz/fuzz_container.py \
		-runs=$(FUZZ_PY_RUNS) -max_len=1024 -timeout=60 -rss_limit_mb=4096 \
		-print_final_stats=1 -artifact_prefix=fuzz/out/container- \
		fuzz/out/container fuzz/corpus/container

clean:
	rm -rf build dist *.egg-info statesmix/_core*.so statesmix/_core.c fuzz/out
