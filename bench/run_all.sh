#!/usr/bin/env bash
# Runs every benchmark of the release build and prints the figures docs/performance.md
# records. Usage: make bench   (or bash bench/run_all.sh [build dir])
set -euo pipefail
build="${1:-build/release}"
cd "$(dirname "$0")/.."
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for bench in operation_benchmark pricing_benchmark otlp_encode_benchmark batch_processor_benchmark; do
  echo "== $bench"
  "$build/$bench" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
    --benchmark_min_time=0.5
done
