# GenOps — the two entry points of the README, plus a few conveniences.
#   make run    install what is missing, build, and run the gateway (genops serve) on SQLite
#   make test   install what is missing, build, run the whole suite, then again under ASan+UBSan
JOBS ?= $(shell nproc)
CTEST_ARGS ?=

.PHONY: all deps build release run test test-dev test-asan test-tsan bench format tidy clean

all: build

deps:
	@bash scripts/install-deps.sh
	@bash scripts/install-node-deps.sh

build: deps
	cmake --preset dev >/dev/null
	cmake --build --preset dev -j $(JOBS)

release: deps
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS)

run: deps
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS) --target genops_cli
	bash scripts/run-gateway.sh ./build/release/genops config/genops.yaml

test: test-dev test-asan

test-dev: build
	ctest --preset dev -j $(JOBS) $(CTEST_ARGS)

test-asan: deps
	cmake --preset asan >/dev/null
	cmake --build --preset asan -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --preset asan -j $(JOBS) $(CTEST_ARGS)

test-tsan: deps
	cmake --preset tsan >/dev/null
	cmake --build --preset tsan -j $(JOBS)
	ctest --preset tsan -j $(JOBS) $(CTEST_ARGS)

bench: release
	bash bench/run_all.sh
	bash bench/gateway_load.sh build/release

format:
	find include src tests bench examples -name '*.h' -o -name '*.cc' | xargs clang-format -i

tidy: build
	run-clang-tidy -p build/dev -quiet 'src/.*'

clean:
	rm -rf build
