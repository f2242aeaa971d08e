// The GenOps configuration file (DESIGN.md §6): one schema, parsed and documented from the
// same table.
//
// Every key the file may hold is one row of the schema (config_schema.cc): its dotted path,
// its type, its default and its documentation. ParseConfigYaml() walks the file against the
// schema, so an unknown key, a wrong type or a bad value is an error that names the key, the
// file and the line; the `genops config-reference` command prints the same rows as the
// reference documentation (docs/configuration.md is generated from it).
//
// Thread safety: functions are thread-safe; results are plain values.
#ifndef GENOPS_SERVER_CONFIG_FILE_H_
#define GENOPS_SERVER_CONFIG_FILE_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "genops/config.h"

namespace genops::server {

struct ProviderEndpointConfig {
  // "openai" (the OpenAI API and every OpenAI-compatible one) or "anthropic". Empty: taken
  // from the name ("anthropic" -> anthropic, anything else -> openai).
  std::string api;
  std::string base_url;
  std::string api_key_env;
  std::vector<std::string> failover;
};

// Read by `genops serve` (the gateway); validated here so a bad file fails early.
struct GatewayConfig {
  bool enabled = true;
  std::string listen = "127.0.0.1:8080";
  bool allow_passthrough_keys = true;
  std::map<std::string, ProviderEndpointConfig> providers;
  int max_concurrent_operations = 1000;
  int retry_attempts = 3;
  int circuit_breaker_threshold = 10;
  int circuit_breaker_timeout = 60;
  // The variable holding the admin API's bearer token; the admin API is off while it is unset.
  std::string admin_token_env = "GENOPS_ADMIN_TOKEN";
  int64_t max_request_bytes = 32 * 1024 * 1024;
  int64_t max_response_bytes = 64 * 1024 * 1024;
  // Threads that run admission and settlement (they block on the ledger).
  int governance_workers = 8;
};

// Read by `genops serve` (the OTLP receiver).
struct ReceiverConfig {
  bool enabled = false;
  // Empty turns that listener off.
  std::string otlp_http_listen = "127.0.0.1:4318";
  std::string otlp_grpc_listen = "127.0.0.1:4317";
  // Threads that decode, enrich and charge export requests (they wait on the ledger).
  int workers = 4;
  // Export requests waiting for a worker before the receiver answers 503 / UNAVAILABLE,
  // which OTLP exporters retry.
  int max_queued_requests = 256;
  int64_t max_request_bytes = 32 * 1024 * 1024;         // as received (compressed)
  int64_t max_decompressed_bytes = 128 * 1024 * 1024;  // after gzip
  int64_t max_spans_per_request = 200'000;
};

// Read by `genops serve`: budget leases over the ledger (src/ledger/lease_ledger.h).
struct LedgerLeaseConfig {
  bool enabled = false;
  int calls_per_lease = 256;
  double max_headroom_share = 0.1;
  int64_t max_age_ms = 1000;
  int64_t flush_interval_ms = 2;
};

struct FileConfig {
  std::string source;     // the file's path, for messages
  AdapterConfig adapter;  // governance, budgets, ledger, export, pricing, alerts
  LedgerLeaseConfig leases;
  GatewayConfig gateway;
  ReceiverConfig receiver;
};

// Parses YAML text. `source` names the file in error messages.
absl::StatusOr<FileConfig> ParseConfigYaml(std::string_view yaml, std::string_view source);
// Reads and parses a file. A missing or unreadable file is an error naming the path.
absl::StatusOr<FileConfig> LoadConfigFile(const std::string& path);

// One row of the schema, for documentation.
struct ConfigKeyDoc {
  std::string path;           // "governance.daily_budget_limit"
  std::string type;           // "USD amount", "string", "bool", ...
  std::string default_value;  // as written in YAML
  std::string description;
};
const std::vector<ConfigKeyDoc>& ConfigReference();
// The reference as Markdown (docs/configuration.md).
std::string ConfigReferenceMarkdown();

}  // namespace genops::server

#endif  // GENOPS_SERVER_CONFIG_FILE_H_
