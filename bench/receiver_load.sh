#!/usr/bin/env bash
# OTLP receiver load benchmark (issue 5): spans per second through the real `genops serve`
# over sockets: receive -> decode -> enrich -> charge -> re-encode -> export.
#
# For every combination of protocol (OTLP/HTTP protobuf, OTLP/gRPC), cores (1: serve pinned
# to cpu 0 with `taskset -c 0` and the client on cpu 1; 2: both unpinned), receiver.workers
# and exporter (file: OTLP/JSON lines to a temp file; none), it starts `genops serve` with
# the receiver only (gateway off, SQLite ledger in a temp dir, listeners on 127.0.0.1 port 0),
# runs tests/tools/otlp_load_tool (512-span OpenLLMetry-shaped batches, fresh trace ids per
# request, CONNECTIONS keep-alive connections) for DURATION seconds, waits until the export
# queue has drained, and reports
#   * wall spans/s: spans accepted / the client's wall time;
#   * spans per CPU-second of the server: spans / (utime+stime of the serve process, from
#     /proc/PID/stat, over the load and the drain) -- the per-core rate, independent of the
#     client sharing the machine.
# Then it proves nothing was lost: the export counters (/metrics) account for every span
# (exported, or dropped and counted when the exporter falls behind the input: the bounded
# queue sheds the excess by design, the money being charged before forwarding), the file
# exporter's file has one line per exported span, and after serve stopped the ledger's
# operations log (`genops report --format json`) holds exactly the LLM spans sent. Any
# mismatch, error answer or partial rejection fails the run.
#
# Usage:
#   bench/receiver_load.sh [--smoke] [BUILD_DIR]
#     BUILD_DIR (default build/release) holds `genops` and `otlp_load_tool`.
#     --smoke   one ~2 s step per protocol, 2 connections (CI: checks the pipeline).
#   Environment (space-separated lists):
#     DURATION     seconds per step (default 15)
#     CONNECTIONS  concurrent client connections (default 4)
#     PROTOCOLS    http grpc (default both; also http-json: OTLP/HTTP with JSON bodies)
#     CORES        1 2 (default both)
#     WORKERS      receiver.workers values (default "2 4")
#     EXPORTERS    file none (default both)
#     REPEAT       runs of every combination (default 1)
#     LLM_PERCENT  share of LLM spans in a batch (default 100: the expensive case)
#     LEDGER       sqlite (default, synchronous=full), sqlite-normal (synchronous=normal) or
#                  memory (memory://: no ledger check beyond the receiver's counters)
#
# Exit code: 0 when every step ran clean; 1 otherwise; 2 on a usage error. Whatever it
# started is stopped on exit and its temporary directory removed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

SMOKE=0
BUILD=""
for arg in "$@"; do
  case "$arg" in
    --smoke) SMOKE=1 ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "receiver_load: unknown option $arg (see --help)" >&2; exit 2 ;;
    *)
      if [ -n "$BUILD" ]; then echo "receiver_load: one build dir only (see --help)" >&2; exit 2; fi
      BUILD="$arg" ;;
  esac
done
BUILD="${BUILD:-$ROOT/build/release}"
GENOPS="$BUILD/genops"
TOOL="$BUILD/otlp_load_tool"
for bin in "$GENOPS" "$TOOL"; do
  if [ ! -x "$bin" ]; then
    echo "receiver_load: no $bin; build it with" >&2
    echo "  cmake --build $BUILD --target genops_cli otlp_load_tool" >&2
    exit 2
  fi
done

if [ "$SMOKE" -eq 1 ]; then
  DURATION=2
  CONNECTIONS=2
  CORES="${CORES:-2}"
  WORKERS="${WORKERS:-2}"
  EXPORTERS="${EXPORTERS:-file}"
  REPEAT=1
fi
DURATION="${DURATION:-15}"
CONNECTIONS="${CONNECTIONS:-4}"
PROTOCOLS="${PROTOCOLS:-http grpc}"
CORES="${CORES:-1 2}"
WORKERS="${WORKERS:-2 4}"
EXPORTERS="${EXPORTERS:-file none}"
REPEAT="${REPEAT:-1}"
LLM_PERCENT="${LLM_PERCENT:-100}"
LEDGER="${LEDGER:-sqlite}"
for var in DURATION CONNECTIONS REPEAT; do
  if ! [[ "${!var}" =~ ^[0-9]+$ ]] || [ "${!var}" -lt 1 ]; then
    echo "receiver_load: $var must be a positive integer, got '${!var}'" >&2
    exit 2
  fi
done
if ! [[ "$LLM_PERCENT" =~ ^[0-9]+$ ]] || [ "$LLM_PERCENT" -gt 100 ]; then
  echo "receiver_load: LLM_PERCENT must be 0..100, got '$LLM_PERCENT'" >&2
  exit 2
fi
case "$LEDGER" in sqlite | sqlite-normal | memory) ;; *)
  echo "receiver_load: LEDGER must be sqlite, sqlite-normal or memory, got '$LEDGER'" >&2
  exit 2 ;;
esac
if [[ " $CORES " == *" 1 "* ]] && ! command -v taskset >/dev/null 2>&1; then
  echo "receiver_load: taskset (util-linux) is needed for the 1-core steps" >&2
  exit 2
fi
for tool in curl python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "receiver_load: $tool is missing" >&2; exit 2; }
done
CLK_TCK="$(getconf CLK_TCK)"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/genops-receiver-load.XXXXXX")"
SERVE_PID=""
stop_serve() {
  [ -n "$SERVE_PID" ] || return 0
  kill -TERM "$SERVE_PID" 2>/dev/null || true
  for _ in $(seq 300); do kill -0 "$SERVE_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$SERVE_PID" 2>/dev/null || true
  wait "$SERVE_PID" 2>/dev/null || true
  SERVE_PID=""
}
cleanup() {
  stop_serve
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

FAILED=0
note() { printf 'receiver_load: %s\n' "$*" >&2; }
fail() { note "FAIL: $*"; FAILED=1; }

# utime+stime of a process in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# A counter from the receiver's /metrics text (labels included in the name), 0 when absent.
metric() {
  awk -v name="$2" '$1 == name { v = $2 } END { print v == "" ? 0 : v }' "$1"
}

ROWS=()
run_step() {
  local protocol="$1" cores="$2" workers="$3" exporter="$4" rep="$5"
  local dir="$TMP/step"
  rm -rf "$dir"
  mkdir -p "$dir"
  local ledger_url
  case "$LEDGER" in
    sqlite) ledger_url="sqlite://$dir/ledger.db" ;;
    sqlite-normal) ledger_url="sqlite://$dir/ledger.db?synchronous=normal" ;;
    memory) ledger_url="memory://" ;;
  esac
  {
    echo "governance: {team: platform, project: answers, governance_policy: advisory}"
    echo "ledger: {url: \"$ledger_url\"}"
    echo "gateway: {enabled: false}"
    echo "receiver:"
    echo "  enabled: true"
    echo "  otlp_http_listen: 127.0.0.1:0"
    echo "  otlp_grpc_listen: 127.0.0.1:0"
    echo "  workers: $workers"
    if [ "$exporter" = file ]; then
      echo "export: {exporters: [file], file: {path: \"$dir/spans.jsonl\"}}"
    else
      echo "export: {exporters: [none]}"
    fi
  } >"$dir/config.yaml"

  local serve_pin=() client_pin=()
  if [ "$cores" = 1 ]; then serve_pin=(taskset -c 0); client_pin=(taskset -c 1); fi
  : >"$dir/serve.out"
  "${serve_pin[@]}" "$GENOPS" serve --config "$dir/config.yaml" --quiet \
    >"$dir/serve.out" 2>"$dir/serve.err" &
  SERVE_PID=$!
  local http_url="" grpc_addr=""
  for _ in $(seq 300); do
    http_url="$(sed -n 's/.*OTLP\/HTTP receiver listening on \(http:[^ ]*\).*/\1/p' "$dir/serve.out")"
    grpc_addr="$(sed -n 's/.*OTLP\/gRPC receiver listening on \([^ ]*\).*/\1/p' "$dir/serve.out")"
    if [ -n "$http_url" ] && [ -n "$grpc_addr" ]; then break; fi
    if ! kill -0 "$SERVE_PID" 2>/dev/null; then break; fi
    sleep 0.1
  done
  if [ -z "$http_url" ] || [ -z "$grpc_addr" ]; then
    fail "genops serve did not announce both listeners: $(cat "$dir/serve.err")"
    stop_serve
    return
  fi
  local metrics_url="${http_url%/v1/traces}/metrics"

  local tool_args=(--connections "$CONNECTIONS" --duration "$DURATION" --llm-percent "$LLM_PERCENT")
  case "$protocol" in
    http) tool_args+=(--protocol http --target "$http_url") ;;
    http-json) tool_args+=(--protocol http --encoding json --target "$http_url") ;;
    grpc) tool_args+=(--protocol grpc --target "$grpc_addr") ;;
  esac
  local cpu0 cpu1 tool_rc=0
  cpu0="$(cpu_ticks "$SERVE_PID")"
  "${client_pin[@]}" "$TOOL" "${tool_args[@]}" >"$dir/tool.out" 2>"$dir/tool.err" || tool_rc=$?
  local load_end_cpu
  load_end_cpu="$(cpu_ticks "$SERVE_PID")"
  # Wait (up to 120 s) until every enqueued span left the export queue.
  # (enqueued counts the spans the queue took; those it refused are dropped{queue_full}.)
  local enqueued=0 exported=0 dropped=0 failed=0
  for _ in $(seq 1200); do
    curl -sf "$metrics_url" >"$dir/metrics.txt" || true
    enqueued="$(metric "$dir/metrics.txt" genops_export_spans_enqueued_total)"
    exported="$(metric "$dir/metrics.txt" genops_export_spans_exported_total)"
    dropped="$(metric "$dir/metrics.txt" 'genops_export_spans_dropped_total{reason="queue_full"}')"
    failed="$(metric "$dir/metrics.txt" 'genops_export_spans_dropped_total{reason="export_failed"}')"
    if [ "$enqueued" -gt 0 ] && [ "$((exported + failed))" -ge "$enqueued" ]; then break; fi
    sleep 0.1
  done
  cpu1="$(cpu_ticks "$SERVE_PID")"
  local priced redelivered rejected
  priced="$(metric "$dir/metrics.txt" genops_receiver_llm_spans_priced_total)"
  redelivered="$(metric "$dir/metrics.txt" genops_receiver_llm_spans_redelivered_total)"
  rejected="$(metric "$dir/metrics.txt" genops_receiver_spans_rejected_total)"
  stop_serve

  local line requests spans llm_spans errors seconds wall_rate
  line="$(tail -n1 "$dir/tool.out")"
  kv() { sed -n "s/.*\b$1=\([0-9.]*\).*/\1/p" <<<"$line"; }
  requests="$(kv requests)"; spans="$(kv spans)"; llm_spans="$(kv llm_spans)"
  errors="$(kv errors)"; seconds="$(kv seconds)"; wall_rate="$(kv spans_per_second)"
  local label="$protocol cores=$cores workers=$workers exporter=$exporter run=$rep"
  if [ "$tool_rc" -ne 0 ] || [ -z "$spans" ]; then
    fail "$label: load tool failed (rc $tool_rc): $(head -c 1500 "$dir/tool.err") $line"
    return
  fi
  # Nothing lost: export counters, the span file, the ledger.
  [ "$rejected" -eq 0 ] || fail "$label: the receiver rejected $rejected spans"
  [ "$redelivered" -eq 0 ] || fail "$label: $redelivered LLM spans were redeliveries"
  [ "$priced" -eq "$llm_spans" ] || fail "$label: $priced LLM spans priced, $llm_spans sent"
  # An exporter slower than the input drops the excess from its bounded queue, by design (the
  # money is charged before forwarding); every span must be either exported or counted.
  [ "$failed" -eq 0 ] || fail "$label: the exporter failed $failed spans"
  [ "$((enqueued + dropped))" -eq "$spans" ] ||
    fail "$label: $enqueued spans queued for export + $dropped dropped, $spans sent"
  [ "$exported" -eq "$enqueued" ] || fail "$label: $exported spans exported, $enqueued queued"
  [ "$dropped" -eq 0 ] || note "$label: the exporter fell behind; $dropped spans dropped (counted)"
  local file_lines="-"
  if [ "$exporter" = file ]; then
    file_lines="$(wc -l <"$dir/spans.jsonl")"
    [ "$file_lines" -eq "$exported" ] ||
      fail "$label: $file_lines lines in the span file, $exported spans exported"
  fi
  local ledger_ops="-"
  if [ "$LEDGER" != memory ]; then
    ledger_ops="$("$GENOPS" report --ledger "$ledger_url" --format json |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["total"]["operations"])')" ||
      ledger_ops="?"
    [ "$ledger_ops" = "$llm_spans" ] ||
      fail "$label: the ledger's operations log holds $ledger_ops operations, $llm_spans sent"
  fi
  local cpu_s cpu_rate load_cpu_s
  cpu_s="$(awk -v t="$((cpu1 - cpu0))" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", t / hz }')"
  load_cpu_s="$(awk -v t="$((load_end_cpu - cpu0))" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", t / hz }')"
  cpu_rate="$(awk -v s="$spans" -v c="$cpu_s" 'BEGIN { printf "%.0f", (c > 0 ? s / c : 0) }')"
  ROWS+=("$(printf '%-9s %5s %7s %8s %3s %8s %10s %10s %8s %8s %12s %10s %10s %9s' \
    "$protocol" "$cores" "$workers" "$exporter" "$rep" "$requests" "$spans" "$wall_rate" \
    "$load_cpu_s" "$cpu_s" "$cpu_rate" "$ledger_ops" "$file_lines" "$dropped")")
  note "${ROWS[-1]}  (${seconds}s)"
  rm -f "$dir/spans.jsonl"
}

header="$(printf '%-9s %5s %7s %8s %3s %8s %10s %10s %8s %8s %12s %10s %10s %9s' \
  protocol cores workers exporter run requests spans wall_sp/s load_cpu cpu_s spans/cpu_s \
  ledger_ops file_lines dropped)"
note "$header"
for rep in $(seq "$REPEAT"); do
  for exporter in $EXPORTERS; do
    for workers in $WORKERS; do
      for cores in $CORES; do
        for protocol in $PROTOCOLS; do
          run_step "$protocol" "$cores" "$workers" "$exporter" "$rep"
        done
      done
    done
  done
done

echo "OTLP receiver load: ${DURATION}s per step, $CONNECTIONS connections, 512-span batches," \
  "$LLM_PERCENT% LLM spans, ledger $LEDGER, $(nproc) cpus, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "wall_sp/s: spans accepted per second of the client's wall time; load_cpu: server CPU-seconds"
echo "during the load; cpu_s: including the export drain after it; spans/cpu_s = spans / cpu_s;"
echo "dropped: spans the bounded export queue shed because the exporter fell behind (counted)"
echo "$header"
for row in "${ROWS[@]}"; do echo "$row"; done
if [ "$FAILED" -ne 0 ]; then
  echo "receiver_load: FAILED (see the messages above)"
  exit 1
fi
