#!/usr/bin/env bash
# `make run`: the gateway (in front of the local mock provider) and the OTLP receiver, on an
# embedded SQLite ledger, until Ctrl-C. Usage: scripts/run-gateway.sh [path/to/genops] [config.yaml]
set -euo pipefail

GENOPS=${1:-./build/release/genops}
CONFIG=${2:-config/genops.yaml}
MOCK_LISTEN=127.0.0.1:8089

"$GENOPS" validate --config "$CONFIG" >/dev/null

"$GENOPS" mock-upstream --listen "$MOCK_LISTEN" >/dev/null &
MOCK_PID=$!
trap 'kill "$MOCK_PID" 2>/dev/null || true' EXIT

KEY_JSON=$("$GENOPS" keys create --config "$CONFIG" --team platform --project gateway-demo \
  --budget-usd 5 --period day --description "make run" --json)
KEY=$(printf '%s' "$KEY_JSON" | sed -n 's/.*"key": *"\([^"]*\)".*/\1/p')

cat <<MSG

GenOps: governing every LLM call made through the gateway or reported to the OTLP receiver.
  provider (offline mock):  http://$MOCK_LISTEN   (edit $CONFIG to use the real APIs)
  ledger:                   sqlite://./genops.db
  a virtual key for you:    $KEY   (team platform, \$5/day budget)

Point any application at it by changing its base URL:
  export OPENAI_BASE_URL=http://127.0.0.1:8080/v1  OPENAI_API_KEY=$KEY
  export ANTHROPIC_BASE_URL=http://127.0.0.1:8080  ANTHROPIC_API_KEY=$KEY

Or try it now, in another terminal:
  curl -s http://127.0.0.1:8080/v1/chat/completions -H "Authorization: Bearer $KEY" \\
    -H "x-genops-customer-id: demo-customer" -H 'content-type: application/json' \\
    -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}],"max_tokens":50}'
  $GENOPS report --config $CONFIG --group-by team,customer_id
  $GENOPS budget status --config $CONFIG

Apps already instrumented with OpenLLMetry / OpenTelemetry: export to the OTLP receiver
  export TRACELOOP_BASE_URL=http://127.0.0.1:4318
  export OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://127.0.0.1:4318/v1/traces
  curl -s http://127.0.0.1:4318/metrics      # spans received, charged, dropped

MSG
"$GENOPS" serve --config "$CONFIG" --quiet
