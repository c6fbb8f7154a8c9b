# Sotto: the two commands a newcomer needs are `make run` and `make test`.
SWIFT ?= swift
PORT ?= 8888
ARTIFACTS ?= test-artifacts

FUZZ_SECONDS ?= 60
FUZZ_TARGETS = frames handshake schema open member server-role

.PHONY: setup setup-test run server build release test vectors fuzz fuzz-build clean

setup:
	@tools/setup

setup-test:
	@tools/setup --test

build: setup
	$(SWIFT) build

release: setup
	$(SWIFT) build -c release

# Starts the server (key and password are created on first start and printed) and, on a
# desktop, opens one window client on it.
run: release
	PORT=$(PORT) tools/run

server: run

# Builds everything (tests and tools), replays the Noise vectors, then runs every test.
test: setup-test
	$(SWIFT) build --build-tests
	.build/debug/sotto-vectors Tests/Vectors/cacophony-subset.json
	mkdir -p $(ARTIFACTS)
	SOTTO_TEST_ARTIFACTS=$(CURDIR)/$(ARTIFACTS) $(SWIFT) test --skip-build

# libFuzzer on each harness for FUZZ_SECONDS (new inputs go to .build-fuzz/corpus/TARGET;
# crashes to .build-fuzz/crash-*, to be copied into Tests/FuzzCorpus/TARGET as regressions).
fuzz-build: setup
	$(SWIFT) build -c release --scratch-path .build-fuzz --product sotto-fuzz \
		-Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING -Xswiftc -parse-as-library

fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p .build-fuzz/corpus/$$t; \
		echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
		SOTTO_FUZZ_TARGET=$$t .build-fuzz/release/sotto-fuzz .build-fuzz/corpus/$$t Tests/FuzzCorpus/$$t \
			-max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
			-artifact_prefix=.build-fuzz/crash-$$t- -print_final_stats=1 > .build-fuzz/fuzz-$$t.log 2>&1 \
			|| { tail -40 .build-fuzz/fuzz-$$t.log; exit 1; }; \
		grep -E "stat::number_of_executed_units|stat::peak_rss_mb" .build-fuzz/fuzz-$$t.log; \
	done

vectors: build
	.build/debug/sotto-vectors Tests/Vectors/*.json

clean:
	rm -rf .build .build-fuzz $(ARTIFACTS)
