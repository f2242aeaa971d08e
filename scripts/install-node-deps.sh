#!/usr/bin/env bash
# Installs what the npm client tests (tests/integration/*_clients_test.cc) need: Node.js and
# npm (Debian's `nodejs npm` when missing), then the pinned SDKs of
# tests/integration/node/package-lock.json through `npm ci`.
# Idempotent and silent when nothing is to do: apt is only touched when node or npm is
# missing, and npm only when node_modules is missing or older than the lock file (or
# package.json). Runs as root (CI, fresh machines) or through sudo, like install-deps.sh.
# Tested with Node 20 (this project's machines); a few of Traceloop's transitive Google
# packages declare Node >= 22 but run on 20 (npm prints an engine warning).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE_DIR="$ROOT/tests/integration/node"
MIN_NODE_MAJOR=18

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "install-node-deps: installing nodejs npm (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends nodejs npm
fi

node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt "$MIN_NODE_MAJOR" ]; then
  echo "install-node-deps: node $(node --version) is too old; the SDKs need Node >= $MIN_NODE_MAJOR" >&2
  exit 1
fi

# npm ci writes node_modules/.package-lock.json last, so it marks a complete install.
stamp="$NODE_DIR/node_modules/.package-lock.json"
if [ -f "$stamp" ] && [ ! "$NODE_DIR/package-lock.json" -nt "$stamp" ] &&
  [ ! "$NODE_DIR/package.json" -nt "$stamp" ]; then
  exit 0
fi

echo "install-node-deps: npm ci in tests/integration/node"
cd "$NODE_DIR"
npm ci --no-audit --no-fund --loglevel=error
# npm ci may keep the lock file's timestamps; mark this install as newer than the lock.
touch "$stamp"
