# Sotto: the two commands a newcomer needs are `make run` and `make test`.
SWIFT ?= swift
PORT ?= 8888
ARTIFACTS ?= test-artifacts

.PHONY: setup run server build release test vectors clean

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

vectors: build
	.build/debug/sotto-vectors Tests/Vectors/*.json

clean:
	rm -rf .build $(ARTIFACTS)
