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
  # OTLP/gRPC receiver. Debian's gRPCConfig.cmake fails unless the gRPC protoc plugins
  # (protobuf-compiler-grpc) are installed; the tests also use grpc_cpp_plugin.
  libgrpc++-dev protobuf-compiler-grpc
  # The allocator of the genops binary (CMake option GENOPS_JEMALLOC).
  libjemalloc-dev
  # Servers the ledger tests start on loopback (never as system services).
  redis-server postgresql
  # Load generator and the reference reverse proxy of bench/gateway_load.sh (loopback only).
  wrk nginx-light
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
# redis-server, postgresql and nginx would start system services on install; the tests and
# benchmarks start their own on loopback ports instead. A policy-rc.d that answers 101 ("not
# allowed") keeps invoke-rc.d from starting anything while apt runs.
POLICY=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
  $SUDO chmod 755 "$POLICY"
  created_policy=1
fi
cleanup_policy() { if [ "$created_policy" = 1 ]; then $SUDO rm -f "$POLICY"; fi; }
trap cleanup_policy EXIT
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
