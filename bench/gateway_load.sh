#!/usr/bin/env bash
# Gateway load benchmark (issue 4): what `genops serve` costs in front of a provider.
#
# Everything runs on loopback and is started here: `genops mock-upstream` (the "provider"),
# `genops serve` in front of it with full governance (enforced policy, SQLite ledger, spans
# exported to a JSON-lines file), and nginx as a plain keep-alive reverse proxy to the same
# mock (the reference: what any proxy hop costs). `wrk` posts /v1/chat/completions with a JSON
# body (a Lua script) to each target.
#
# Reports
#   * added latency at 1 connection: p50 and p99 of the gateway (and of nginx) minus the same
#     percentiles measured straight at the mock (wrk --latency); the table also shows each
#     step's slowest answer. wrk corrects its percentiles for coordinated omission: an answer
#     that took L adds about L / (mean time between answers) samples spread below L, so at 1
#     connection a single stall of ~0.1 s (the host descheduling a process) moves p99 to
#     ~10 ms; a p99 far above p50 with a max to match is one stall, not a slow tail;
#   * requests/s at 32 connections: gateway, nginx and direct, and gateway / nginx; also
#     2xx answers/s (a gateway shedding load with fast 429s looks faster in plain req/s);
#   * requests/s at 32 connections of the gateway's hop alone: a second `genops serve` with
#     the same policy but an in-process memory ledger and no span export, so the report
#     splits what the gateway costs into the HTTP hop (parsing, routing, admission, usage
#     capture, forwarding) and the durable record of each call (the SQLite settlement and
#     operations-log row, the span file): "hop only / nginx" against "gateway / nginx";
#   * the gateway's RSS, sampled every second while it is under load (from the start of its
#     warm-up): the value at 10, 100, 200 and 300 s (those the run reaches) and at the end,
#     the maximum, and the first minute against the last minute (halves of the run when it
#     is shorter than two minutes), which shows whether memory stays flat; then what the
#     last sample consists of (anonymous memory vs. mapped files: the binary and shared
#     libraries) and the thread count, and the load average when the load started and ended
#     (the machine is shared: figures taken at a high load are not comparable);
#   * the gateway's own counters (stopped with SIGTERM after the load: requests, refused,
#     429s from max_concurrent_operations, upstream errors) and its CPU time per request
#     (user + system over the load / requests it counted), steadier than req/s on a busy
#     machine.
#
# Usage:
#   bench/gateway_load.sh [--smoke] [BUILD_DIR | PATH/TO/genops]
#     BUILD_DIR defaults to build/release (a release build: cmake --preset release &&
#     cmake --build --preset release --target genops_cli).
#     --smoke   each step runs ~2 s, no warm-up (CI: checks the pipeline, not the numbers).
#   Environment:
#     DURATION      seconds per measurement (default 30; 300 for the 5-minute flatness run)
#     CONNECTIONS   connections of the throughput steps (default 32)
#     WRK_THREADS   wrk threads of the throughput steps (default 2)
#     WARMUP        seconds of unmeasured load before each step (default 3; 0 in --smoke)
#     MOCK_THREADS  io threads of the mock (default 2)
#     MOCK_LATENCY_MS  delay the mock adds to every answer (default 0)
#     GATEWAY_LEDGER_URL  the gateway's ledger (default sqlite://TMP/ledger.db, synchronous=full;
#                         sqlite://...?synchronous=normal trades power-loss durability of the
#                         last commits for speed; the report names the mode it ran with)
#     GATEWAY_LEASES      1 (default): budget leases over a durable ledger (ledger.leases: calls
#                         admitted in memory against leased room, settlements written to the
#                         ledger in batches every 2 ms); 0: one reservation and one durable
#                         settlement per call in the ledger. Ignored with memory://.
#     GATEWAY_EXPORTER    the gateway's span exporter: file (default: OTLP/JSON lines in the temp
#                         dir), otlp (OTLP/HTTP protobuf, uncompressed, to a local fake
#                         collector: a second nginx server block on loopback that reads each
#                         export request and answers 200; its requests and bytes are
#                         reported), or none
#     GATEWAY_WORKERS     gateway.governance_workers (default 8)
#     GATEWAY_ONLY        1: only the gateway at CONNECTIONS (no direct, nginx, hop-only or
#                         1-connection step): the 5-minute memory-flatness run,
#                         DURATION=300 GATEWAY_ONLY=1
#     HOP_REFERENCE       0: skip the hop-only step (default 1)
#     RSS_PROFILE_DIR     a directory: just before the gateway's load stops, its
#                         /proc/PID/{smaps,smaps_rollup,status} are copied there (what the RSS
#                         consists of, mapping by mapping)
#
# Exit code: 0 when every step ran and every response was a 2xx; 1 otherwise (a step that
# failed, a non-2xx answer); 2 on a usage error. Whatever it started is stopped on exit and
# its temporary directory removed. Numbers depend on the machine (2 cores here: wrk, the mock
# and the server under test share them); compare ratios, not absolute values.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

SMOKE=0
TARGET=""
for arg in "$@"; do
  case "$arg" in
    --smoke) SMOKE=1 ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "gateway_load: unknown option $arg (see --help)" >&2; exit 2 ;;
    *)
      if [ -n "$TARGET" ]; then echo "gateway_load: one build dir only (see --help)" >&2; exit 2; fi
      TARGET="$arg" ;;
  esac
done
TARGET="${TARGET:-$ROOT/build/release}"
if [ -d "$TARGET" ]; then GENOPS="$TARGET/genops"; else GENOPS="$TARGET"; fi
if [ ! -x "$GENOPS" ]; then
  echo "gateway_load: no genops binary at $GENOPS; build one with" >&2
  echo "  cmake --preset release && cmake --build --preset release --target genops_cli" >&2
  echo "or pass the build directory (or the binary) as the argument" >&2
  exit 2
fi

is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }
if [ "$SMOKE" -eq 1 ]; then
  DURATION=2
  WARMUP=0
else
  DURATION="${DURATION:-30}"
  WARMUP="${WARMUP:-3}"
fi
CONNECTIONS="${CONNECTIONS:-32}"
WRK_THREADS="${WRK_THREADS:-2}"
MOCK_THREADS="${MOCK_THREADS:-2}"
MOCK_LATENCY_MS="${MOCK_LATENCY_MS:-0}"
GATEWAY_ONLY="${GATEWAY_ONLY:-0}"
HOP_REFERENCE="${HOP_REFERENCE:-1}"
for var in DURATION WARMUP CONNECTIONS WRK_THREADS MOCK_THREADS MOCK_LATENCY_MS; do
  if ! is_uint "${!var}"; then
    echo "gateway_load: $var must be a non-negative integer, got '${!var}'" >&2
    exit 2
  fi
done
if [ "$DURATION" -lt 1 ] || [ "$CONNECTIONS" -lt 1 ] || [ "$WRK_THREADS" -lt 1 ]; then
  echo "gateway_load: DURATION, CONNECTIONS and WRK_THREADS must be at least 1" >&2
  exit 2
fi
[ "$WRK_THREADS" -gt "$CONNECTIONS" ] && WRK_THREADS="$CONNECTIONS"

for tool in wrk nginx; do
  if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ]; then
    echo "gateway_load: $tool is missing; run scripts/install-deps.sh (packages wrk, nginx-light)" >&2
    exit 2
  fi
done
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

# --- Everything started here is stopped on exit --------------------------------------------
TMP="$(mktemp -d "${TMPDIR:-/tmp}/genops-gateway-load.XXXXXX")"
PIDS=()
FOREGROUND_PID=""
cleanup() {
  local pid
  if [ -n "$FOREGROUND_PID" ]; then kill -TERM "$FOREGROUND_PID" 2>/dev/null || true; fi
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

FAILED=0
note() { printf 'gateway_load: %s\n' "$*" >&2; }

# Starts "$@" in the background with output in $TMP/$name.{out,err}, and waits (up to 30 s)
# for "listening on http://HOST:PORT" on its stdout; sets LISTEN_URL and LAST_PID.
start_server() {
  local name="$1"
  shift
  : >"$TMP/$name.out"  # exists before the child opens it, for the polling below
  "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
  for _ in $(seq 300); do
    LISTEN_URL="$(sed -n 's/.*listening on \(http:\/\/[^ ]*\).*/\1/p' "$TMP/$name.out" | head -n1)"
    if [ -n "$LISTEN_URL" ]; then return 0; fi
    if ! kill -0 "$LAST_PID" 2>/dev/null; then
      note "$name exited before listening: $(cat "$TMP/$name.err")"
      return 1
    fi
    sleep 0.1
  done
  note "$name did not announce its address within 30 s: $(cat "$TMP/$name.err")"
  return 1
}

port_is_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- The mock upstream -----------------------------------------------------------------------
start_server mock "$GENOPS" mock-upstream --listen 127.0.0.1:0 --threads "$MOCK_THREADS" \
  --latency-ms "$MOCK_LATENCY_MS" || exit 1
MOCK_URL="$LISTEN_URL"
MOCK_PORT="${MOCK_URL##*:}"

# --- nginx: a plain keep-alive reverse proxy to the mock, on loopback only -------------------
mkdir -p "$TMP/nginx/logs" "$TMP/nginx/tmp"
NGINX_USER_LINE=""
if [ "$(id -u)" -eq 0 ]; then
  # Root session: workers keep root (the temp dir is private to root); nginx only allows
  # `user` when the master runs as root.
  NGINX_USER_LINE="user root;"
fi
NGINX_URL=""
for attempt in 1 2 3 4 5; do
  NGINX_PORT=$((20000 + RANDOM % 40000))
  COLLECTOR_PORT=$((NGINX_PORT + 1))
  port_is_open "$NGINX_PORT" && continue
  port_is_open "$COLLECTOR_PORT" && continue
  cat >"$TMP/nginx/nginx.conf" <<EOF
$NGINX_USER_LINE
daemon off;
master_process on;
worker_processes ${NGINX_WORKERS:-2};
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  log_format collector '\$content_length \$status';
  client_body_temp_path $TMP/nginx/tmp/body;
  proxy_temp_path $TMP/nginx/tmp/proxy;
  fastcgi_temp_path $TMP/nginx/tmp/fastcgi;
  uwsgi_temp_path $TMP/nginx/tmp/uwsgi;
  scgi_temp_path $TMP/nginx/tmp/scgi;
  upstream mock {
    server 127.0.0.1:$MOCK_PORT;
    keepalive 64;
  }
  server {
    listen 127.0.0.1:$COLLECTOR_PORT;
    client_max_body_size 64m;
    access_log $TMP/nginx/collector.log collector;
    location / { return 200; }
  }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
EOF
  "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/logs/error.log" \
    >"$TMP/nginx/stdout" 2>&1 &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  for _ in $(seq 100); do
    if port_is_open "$NGINX_PORT"; then NGINX_URL="http://127.0.0.1:$NGINX_PORT"; break; fi
    kill -0 "$NGINX_PID" 2>/dev/null || break
    sleep 0.05
  done
  [ -n "$NGINX_URL" ] && break
  kill -TERM "$NGINX_PID" 2>/dev/null || true
  wait "$NGINX_PID" 2>/dev/null || true
  note "nginx did not start on port $NGINX_PORT (attempt $attempt): $(tail -n 3 "$TMP/nginx/logs/error.log" 2>/dev/null)"
done
if [ -z "$NGINX_URL" ]; then note "nginx could not be started"; exit 1; fi

# --- The gateway (genops serve), full governance -------------------------------------------
GATEWAY_URL=""
GATEWAY_PID=""
GATEWAY_STOP_LINE=""
LEASES_YAML=false
case "${GATEWAY_LEDGER_URL:-sqlite:}" in
  memory://*) ;;
  *) [ "${GATEWAY_LEASES:-1}" = 1 ] && LEASES_YAML=true ;;
esac
if "$GENOPS" --help 2>/dev/null | grep -q '^  serve '; then
  cat >"$TMP/genops.yaml" <<EOF
governance:
  team: bench
  project: gateway-load
  environment: bench
  governance_policy: enforced
  daily_budget_limit: 1000000.0
  max_operation_cost: 10.0
ledger:
  url: ${GATEWAY_LEDGER_URL:-sqlite://$TMP/ledger.db}
  leases: {enabled: $LEASES_YAML}
gateway:
  listen: 127.0.0.1:0
  governance_workers: ${GATEWAY_WORKERS:-8}
  providers:
    openai: {base_url: "$MOCK_URL", api_key_env: GENOPS_BENCH_OPENAI_KEY}
    anthropic: {base_url: "$MOCK_URL", api_key_env: GENOPS_BENCH_ANTHROPIC_KEY}
receiver:
  enabled: false
export:
  exporters: [${GATEWAY_EXPORTER:-file}]
  file: {path: "$TMP/spans.jsonl"}
  otlp: {endpoint: "http://127.0.0.1:$COLLECTOR_PORT", compression: none}
EOF
  if start_server gateway env GENOPS_BENCH_OPENAI_KEY=sk-bench-upstream \
    GENOPS_BENCH_ANTHROPIC_KEY=sk-ant-bench-upstream "$GENOPS" serve --config "$TMP/genops.yaml"; then
    GATEWAY_URL="$LISTEN_URL"
    GATEWAY_PID="$LAST_PID"
  else
    FAILED=1
  fi
else
  note "GATEWAY STEP SKIPPED: $GENOPS has no 'serve' command yet; measuring direct and nginx only"
fi

# The hop-only reference: the same gateway and policy with an in-process memory ledger and
# no span export (nothing written per call). Started when its step runs, stopped after it.
HOP_URL=""
start_hop_gateway() {
  sed -e "s|^  url: .*|  url: memory://|" -e "s|^  leases: .*|  leases: {enabled: false}|" \
    -e "s|^  exporters: .*|  exporters: [none]|" "$TMP/genops.yaml" >"$TMP/genops-hop.yaml"
  if start_server hop env GENOPS_BENCH_OPENAI_KEY=sk-bench-upstream \
    GENOPS_BENCH_ANTHROPIC_KEY=sk-ant-bench-upstream "$GENOPS" serve --config "$TMP/genops-hop.yaml"; then
    HOP_URL="$LISTEN_URL"
    HOP_PID="$LAST_PID"
    check_target hop "$HOP_URL" || { FAILED=1; return 1; }
  else
    FAILED=1
    return 1
  fi
}
stop_hop_gateway() {
  [ -n "${HOP_PID:-}" ] || return 0
  kill -TERM "$HOP_PID" 2>/dev/null || true
  wait "$HOP_PID" 2>/dev/null || true
  HOP_PID=""
}

# --- The request ------------------------------------------------------------------------------
cat >"$TMP/chat.lua" <<'EOF'
-- POST /v1/chat/completions with a typical small chat body (non-streaming).
wrk.method = "POST"
wrk.path = "/v1/chat/completions"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench-client"
wrk.headers["x-genops-feature"] = "gateway-load"
wrk.body = '{"model":"gpt-4o-mini","max_tokens":64,"messages":[' ..
  '{"role":"system","content":"You are a concise assistant for a load test."},' ..
  '{"role":"user","content":"Summarise the benefits of exact cost accounting for LLM calls in two sentences."}]}'
EOF

# One request first (raw HTTP over bash's /dev/tcp, no curl needed): a target that answers
# non-2xx to the bench's request is a failed step, not a number.
check_target() {
  local name="$1" url="$2" hostport body status
  hostport="${url#http://}"
  body='{"model":"gpt-4o-mini","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}'
  if ! exec 3<>"/dev/tcp/${hostport%%:*}/${hostport##*:}"; then
    note "$name: cannot connect to $url"
    return 1
  fi
  printf 'POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAuthorization: Bearer sk-bench-client\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
    "$hostport" "${#body}" "$body" >&3
  timeout 10 cat <&3 >"$TMP/check-$name.txt" || true
  exec 3<&- 3>&-
  status="$(head -n1 "$TMP/check-$name.txt" | awk '{ print $2 }')"
  if [ "$status" != "200" ]; then
    note "$name answered '${status:-nothing}' to the bench request: $(head -c 400 "$TMP/check-$name.txt")"
    return 1
  fi
}

# to_us VALUE: wrk's "57.00us" / "1.23ms" / "2.00s" / "1.50m" in microseconds.
to_us() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
    if (u == "us") m = 1; else if (u == "ms") m = 1000; else if (u == "s") m = 1000000;
    else if (u == "m") m = 60000000; else if (u == "h") m = 3600000000; else m = -1;
    if (m < 0) print "nan"; else printf "%.0f", n * m }'
}

# run_bg CMD...: runs CMD in the background and waits for it, so a signal to this script
# interrupts the wait (a foreground child would delay the trap until it ends) and cleanup
# stops CMD too.
run_bg() {
  local rc=0
  "$@" &
  FOREGROUND_PID=$!
  wait "$FOREGROUND_PID" || rc=$?
  FOREGROUND_PID=""
  return "$rc"
}

# run_wrk NAME URL CONNECTIONS THREADS: sets RPS, OK_RPS (2xx answers per second: a gateway
# shedding load answers fast 429s, which count in RPS), P50_US, P99_US, MAX_US, ERRORS
# (non-2xx + socket errors) from wrk --latency.
run_wrk() {
  local name="$1" url="$2" conns="$3" threads="$4" out="$TMP/wrk-$1-c$3.txt"
  if [ "$WARMUP" -gt 0 ]; then
    run_bg wrk -t"$threads" -c"$conns" -d"${WARMUP}s" -s "$TMP/chat.lua" "$url" >/dev/null 2>&1 || true
  fi
  if ! run_bg wrk -t"$threads" -c"$conns" -d"${DURATION}s" --latency -s "$TMP/chat.lua" "$url" \
    >"$out" 2>&1; then
    note "wrk failed against $name: $(cat "$out")"
    RPS=0; OK_RPS=0; P50_US=nan; P99_US=nan; MAX_US=nan; ERRORS=1
    return 1
  fi
  RPS="$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")"
  P50_US="$(to_us "$(awk '$1 == "50%" { print $2 }' "$out")")"
  P99_US="$(to_us "$(awk '$1 == "99%" { print $2 }' "$out")")"
  MAX_US="$(to_us "$(awk '$1 == "Latency" && NF >= 4 { print $4; exit }' "$out")")"
  local non2xx sockerr
  non2xx="$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")"
  sockerr="$(awk '/Socket errors:/ { s = 0; for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) s += $i; print s }' "$out")"
  ERRORS=$(( ${non2xx:-0} + ${sockerr:-0} ))
  OK_RPS="$(awk -v bad="${non2xx:-0}" '/ requests in / { n = $1 }
    /^Requests\/sec:/ { r = $2 } END { printf "%.0f", (n > 0 ? r * (n - bad) / n : 0) }' "$out")"
  if [ "$ERRORS" -gt 0 ]; then
    note "$name at $conns connections: $ERRORS errors or non-2xx answers (see wrk output below)"
    cat "$out" >&2
    FAILED=1
  fi
}

# The gateway's RSS every second into $TMP/rss.txt while a step runs, one line per sample:
# "seconds-since-start rss-kib anon-kib file-kib threads" (seconds from the shell's clock, so
# a slow sample does not shift the time axis).
RSS_SAMPLER=""
# cpu_ticks PID: user + system CPU time of PID (all its threads) in clock ticks. Its fields
# are counted from the end of the command name, which may contain spaces.
cpu_ticks() {
  sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }'
}
start_rss_sampler() {
  [ -n "$GATEWAY_PID" ] || return 0
  LOAD_AT_START="$(cut -d' ' -f1-3 /proc/loadavg)"
  CPU_TICKS_AT_START="$(cpu_ticks "$GATEWAY_PID")"
  local profile_at="$1"  # seconds into the load at which save_rss_profile runs
  (
    start="${EPOCHREALTIME/[.,]/}"
    profiled=0
    while kill -0 "$GATEWAY_PID" 2>/dev/null; do
      now="${EPOCHREALTIME/[.,]/}"
      t=$(( (now - start) / 1000000 ))
      if [ "$profiled" = 0 ] && [ "$t" -ge "$profile_at" ]; then save_rss_profile; profiled=1; fi
      awk -v t="$t" '
        /^VmRSS:/ { rss = $2 } /^RssAnon:/ { anon = $2 } /^RssFile:/ { file = $2 }
        /^RssShmem:/ { file += $2 } /^Threads:/ { threads = $2 }
        END { if (rss != "") print t, rss, anon, file, threads }' \
        "/proc/$GATEWAY_PID/status" >>"$TMP/rss.txt" 2>/dev/null || true
      sleep 1
    done
  ) &
  RSS_SAMPLER=$!
  PIDS+=("$RSS_SAMPLER")
}
# Copies what the gateway's memory consists of to RSS_PROFILE_DIR (when set), under load.
save_rss_profile() {
  [ -n "${RSS_PROFILE_DIR:-}" ] && [ -n "$GATEWAY_PID" ] || return 0
  mkdir -p "$RSS_PROFILE_DIR"
  local f
  for f in smaps smaps_rollup status; do
    cp "/proc/$GATEWAY_PID/$f" "$RSS_PROFILE_DIR/$f" 2>/dev/null || true
  done
}
stop_rss_sampler() {
  [ -n "$RSS_SAMPLER" ] || return 0
  LOAD_AT_END="$(cut -d' ' -f1-3 /proc/loadavg)"
  CPU_TICKS_AT_END="$(cpu_ticks "$GATEWAY_PID")"
  kill -TERM "$RSS_SAMPLER" 2>/dev/null || true
  wait "$RSS_SAMPLER" 2>/dev/null || true
  RSS_SAMPLER=""
}

GATEWAY_WORKERS_TEXT="${GATEWAY_WORKERS:-8} governance workers"
declare -A R_RPS R_OK R_P50 R_P99 R_MAX R_ERR
measure() {  # measure NAME URL CONNECTIONS THREADS
  local key="$1-c$3"
  printf 'gateway_load: %-8s %3s connection(s), %ss ...\n' "$1" "$3" "$DURATION" >&2
  if run_wrk "$1" "$2" "$3" "$4"; then :; else FAILED=1; fi
  R_RPS[$key]="$RPS"; R_OK[$key]="$OK_RPS"; R_P50[$key]="$P50_US"; R_P99[$key]="$P99_US"; R_MAX[$key]="$MAX_US"; R_ERR[$key]="$ERRORS"
}

TARGETS=("direct|$MOCK_URL" "nginx|$NGINX_URL")
[ -n "$GATEWAY_URL" ] && TARGETS+=("gateway|$GATEWAY_URL")
for t in "${TARGETS[@]}"; do
  check_target "${t%%|*}" "${t#*|}" || { FAILED=1; exit 1; }
done

# Direct and nginx first; the gateway's steps run back to back at the end, so its RSS series
# covers one continuous stretch of load. GATEWAY_ONLY=1 (the memory-flatness run) measures
# the gateway at CONNECTIONS only.
if [ "$GATEWAY_ONLY" != 1 ]; then
  for conns in 1 "$CONNECTIONS"; do
    threads=1
    [ "$conns" -gt 1 ] && threads="$WRK_THREADS"
    measure direct "$MOCK_URL" "$conns" "$threads"
    measure nginx "$NGINX_URL" "$conns" "$threads"
  done
  if [ -n "$GATEWAY_URL" ] && [ "$HOP_REFERENCE" = 1 ] && start_hop_gateway; then
    measure hop "$HOP_URL" "$CONNECTIONS" "$WRK_THREADS"
    stop_hop_gateway
  fi
fi
if [ -n "$GATEWAY_URL" ]; then
  # The load lasts one (GATEWAY_ONLY) or two steps of WARMUP + DURATION; the profile is
  # taken two seconds before its end.
  LOAD_SECONDS=$((WARMUP + DURATION))
  [ "$GATEWAY_ONLY" != 1 ] && LOAD_SECONDS=$((2 * LOAD_SECONDS))
  start_rss_sampler $((LOAD_SECONDS > 2 ? LOAD_SECONDS - 2 : 0))
  [ "$GATEWAY_ONLY" != 1 ] && measure gateway "$GATEWAY_URL" 1 1
  measure gateway "$GATEWAY_URL" "$CONNECTIONS" "$WRK_THREADS"
  stop_rss_sampler
  if kill -0 "$GATEWAY_PID" 2>/dev/null; then
    # Stopped here (SIGTERM: it drains, then prints its counters), so the report can say how
    # its answers split (refused by governance, 429 from max_concurrent_operations, ...).
    kill -TERM "$GATEWAY_PID" 2>/dev/null || true
    for _ in $(seq 600); do kill -0 "$GATEWAY_PID" 2>/dev/null || break; sleep 0.1; done
    GATEWAY_STOP_LINE="$(sed -n 's/^genops serve: \(stopped after .*\)/\1/p' "$TMP/gateway.err" | tail -n1)"
  else
    note "the gateway died under load: $(cat "$TMP/gateway.err")"
    FAILED=1
  fi
fi

# --- Report ---------------------------------------------------------------------------------
fmt_us() { [ "$1" = nan ] && echo "n/a" || awk -v v="$1" 'BEGIN { if (v >= 10000) printf "%.1f ms", v / 1000; else printf "%d us", v }'; }
diff_us() { { [ "$1" = nan ] || [ "$2" = nan ]; } && echo "n/a" || awk -v a="$1" -v b="$2" 'BEGIN { printf "%+d us", a - b }'; }

echo
echo "GenOps gateway load — $(wrk -v 2>&1 | head -n1 | awk '{print $1, $2}'), nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///'), $(nproc) cores, loopback"
echo "binary: $GENOPS"
echo "duration ${DURATION}s per step (warm-up ${WARMUP}s), mock: $MOCK_THREADS io threads, latency ${MOCK_LATENCY_MS} ms"
# What the gateway ran with, so that every figure states its ledger's durability mode.
LEDGER_URL="${GATEWAY_LEDGER_URL:-sqlite://$TMP/ledger.db}"
case "$LEDGER_URL" in
  memory://*) LEDGER_TEXT="memory ledger (in process; admission and settlement on the io threads)" ;;
  sqlite://*)
    SYNC=full
    case "$LEDGER_URL" in *synchronous=normal* | *synchronous=NORMAL*) SYNC=normal ;; esac
    LEDGER_TEXT="SQLite ledger (synchronous=$SYNC)" ;;
  *) LEDGER_TEXT="ledger ${LEDGER_URL%%://*}://" ;;
esac
case "$LEDGER_URL" in
  memory://*) ;;
  *)
    if [ "$LEASES_YAML" = true ]; then
      LEDGER_TEXT="$LEDGER_TEXT with budget leases (admission in memory and on the io threads, settlements written behind every 2 ms)"
    else
      LEDGER_TEXT="$LEDGER_TEXT, one reservation + one settlement per call, $GATEWAY_WORKERS_TEXT"
    fi ;;
esac
case "${GATEWAY_EXPORTER:-file}" in
  file) EXPORTER_TEXT="spans to a file" ;;
  otlp) EXPORTER_TEXT="spans over OTLP/HTTP (protobuf, uncompressed) to a local fake collector" ;;
  *) EXPORTER_TEXT="span exporter: ${GATEWAY_EXPORTER}" ;;
esac
echo "request: POST /v1/chat/completions, gpt-4o-mini, non-streaming"
echo "gateway: enforced policy, $LEDGER_TEXT, $EXPORTER_TEXT"
echo
printf '%-22s %6s %12s %12s %10s %10s %10s %8s\n' target conns 'req/s' '2xx/s' p50 p99 max errors
printf '%-22s %6s %12s %12s %10s %10s %10s %8s\n' ---------------------- ------ ------------ \
  ------------ ---------- ---------- ---------- --------
for conns in 1 "$CONNECTIONS"; do
  for name in direct nginx hop gateway; do
    key="$name-c$conns"
    label="$name"
    case "$name" in
      direct) label="direct (mock)" ;;
      nginx) label="nginx -> mock" ;;
      hop) label="genops serve, hop only" ;;
      gateway) label="genops serve -> mock" ;;
    esac
    # The hop-only reference runs at CONNECTIONS only (and not at all when skipped).
    [ "$name" = hop ] && [ -z "${R_RPS[$key]+x}" ] && continue
    if [ -z "${R_RPS[$key]+x}" ]; then
      printf '%-22s %6s %12s\n' "$label" "$conns" 'skipped'
      continue
    fi
    printf '%-22s %6s %12s %12s %10s %10s %10s %8s\n' "$label" "$conns" "${R_RPS[$key]}" \
      "${R_OK[$key]}" "$(fmt_us "${R_P50[$key]}")" "$(fmt_us "${R_P99[$key]}")" \
      "$(fmt_us "${R_MAX[$key]}")" "${R_ERR[$key]}"
  done
done
echo
if [ "$GATEWAY_ONLY" != 1 ]; then
echo "added latency at 1 connection (minus direct):"
printf '  %-22s p50 %10s   p99 %10s\n' nginx "$(diff_us "${R_P50[nginx-c1]}" "${R_P50[direct-c1]}")" \
  "$(diff_us "${R_P99[nginx-c1]}" "${R_P99[direct-c1]}")"
if [ -n "${R_RPS[gateway-c1]+x}" ]; then
  printf '  %-22s p50 %10s   p99 %10s\n' "genops serve" \
    "$(diff_us "${R_P50[gateway-c1]}" "${R_P50[direct-c1]}")" \
    "$(diff_us "${R_P99[gateway-c1]}" "${R_P99[direct-c1]}")"
else
  echo "  genops serve           (gateway step skipped)"
fi
echo "throughput at $CONNECTIONS connections:"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
printf '  nginx / direct         %s\n' "$(ratio "${R_RPS[nginx-c$CONNECTIONS]}" "${R_RPS[direct-c$CONNECTIONS]}")"
if [ -n "${R_RPS[gateway-c$CONNECTIONS]+x}" ]; then
  printf '  gateway / nginx        %s\n' "$(ratio "${R_RPS[gateway-c$CONNECTIONS]}" "${R_RPS[nginx-c$CONNECTIONS]}")"
  printf '  gateway / direct       %s\n' "$(ratio "${R_RPS[gateway-c$CONNECTIONS]}" "${R_RPS[direct-c$CONNECTIONS]}")"
  if [ -n "${R_RPS[hop-c$CONNECTIONS]+x}" ]; then
    printf '  hop only / nginx       %s   (memory ledger, no span export: the HTTP hop without the durable record)\n' \
      "$(ratio "${R_RPS[hop-c$CONNECTIONS]}" "${R_RPS[nginx-c$CONNECTIONS]}")"
  fi
else
  echo "  gateway / nginx        (gateway step skipped)"
fi
fi  # GATEWAY_ONLY
if [ -s "$TMP/rss.txt" ]; then
  awk -v load_start="${LOAD_AT_START:-?}" -v load_end="${LOAD_AT_END:-?}" '
    function mib(k) { return sprintf("%.1f", k / 1024) }
    { t[NR] = $1; r[NR] = $2; a[NR] = $3; f[NR] = $4; th[NR] = $5; if ($2 > max) max = $2 }
    END {
      n = NR; w = (n >= 120) ? 60 : int(n / 2); if (w < 1) w = 1
      for (i = 1; i <= w; i++) { fs += r[i]; if (r[i] > fm) fm = r[i] }
      for (i = n - w + 1; i <= n; i++) { ls += r[i]; if (r[i] > lm) lm = r[i] }
      fa = fs / w; la = ls / w
      label = (w == 60) ? "minute" : sprintf("%d s", w)
      printf "gateway RSS under load (%d samples, 1/s, from the start of the warm-up): max %s MiB; first %s avg %s MiB (max %s), last %s avg %s MiB (max %s), change %+.1f%%\n",
        n, mib(max), label, mib(fa), mib(fm), label, mib(la), mib(lm), (fa > 0 ? (la - fa) * 100 / fa : 0)
      # The first sample at or after each checkpoint.
      split("10 100 200 300", cp, " "); line = ""
      for (c = 1; c <= 4; c++) {
        for (i = 1; i <= n; i++) if (t[i] >= cp[c]) break
        if (i <= n) line = line sprintf("%s%d s %s", (line == "" ? "" : ", "), t[i], mib(r[i]))
      }
      line = line sprintf("%s%d s (end) %s", (line == "" ? "" : ", "), t[n], mib(r[n]))
      printf "gateway RSS at: %s MiB\n", line
      printf "gateway RSS at the end: %s MiB anonymous (heap, stacks), %s MiB mapped files (binary, shared libraries); %d threads\n",
        mib(a[n]), mib(f[n]), th[n]
      printf "load average (1/5/15 min) when the gateway load started: %s; when it ended: %s\n", load_start, load_end
    }' "$TMP/rss.txt"
  if [ -n "${GATEWAY_STOP_LINE:-}" ]; then
    echo "gateway counters: $GATEWAY_STOP_LINE"
    # CPU per request: far less sensitive than req/s to what else runs on the machine.
    awk -v t0="${CPU_TICKS_AT_START:-}" -v t1="${CPU_TICKS_AT_END:-}" -v hz="$(getconf CLK_TCK)" \
      -v line="$GATEWAY_STOP_LINE" 'BEGIN {
        split(line, w, " "); n = w[3] + 0
        if (t0 != "" && t1 != "" && n > 0)
          printf "gateway CPU (user + system) under load: %.1f s, %.0f us per request\n",
            (t1 - t0) / hz, (t1 - t0) / hz * 1e6 / n }'
  fi
  [ -n "${RSS_PROFILE_DIR:-}" ] && [ -f "$RSS_PROFILE_DIR/smaps" ] &&
    echo "gateway memory profile (smaps, smaps_rollup, status under load): $RSS_PROFILE_DIR"
fi
if [ -f "$TMP/ledger.db" ]; then
  if [ -f "$TMP/spans.jsonl" ]; then
    SPANS_LINE="spans file: $(du -h "$TMP/spans.jsonl" | cut -f1), $(wc -l <"$TMP/spans.jsonl") spans"
  else
    SPANS_LINE="no spans file"
  fi
  echo "ledger: $(du -h "$TMP/ledger.db" | cut -f1) sqlite; $SPANS_LINE"
fi
if [ "${GATEWAY_EXPORTER:-file}" = otlp ]; then
  awk '{ n++; bytes += $1; if ($2 != 200) bad++ }
    END { printf "local collector: %d export requests, %.1f MB, %d not answered 200\n",
                 n, bytes / 1e6, bad }' "$TMP/nginx/collector.log" 2>/dev/null ||
    echo "local collector: no export request arrived"
fi
if [ "$FAILED" -ne 0 ]; then
  echo "RESULT: FAILED (see the messages above)"
  exit 1
fi
echo "RESULT: ok"
