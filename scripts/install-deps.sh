#!/usr/bin/env bash
# Installs the Debian packages GenOps needs to build, test and benchmark.
# Idempotent: packages already present are skipped, and apt is only touched when
# something is missing. Runs as root (CI, fresh machines) or through sudo.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache git
  libabsl-dev libprotobuf-dev protobuf-compiler
  libboost-dev libboost-system-dev libssl-dev zlib1g-dev libcurl4-openssl-dev
  libsimdjson-dev nlohmann-json3-dev libyaml-cpp-dev
  libsqlite3-dev libhiredis-dev libpq-dev
  libcli11-dev libspdlog-dev libfmt-dev libcpp-httplib-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # Servers the ledger tests start on loopback (never as system services).
  redis-server postgresql
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
