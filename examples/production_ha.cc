// Production high availability (seed: "Advanced Configuration / Production High-Availability
// Configuration").
//
// Span export with failover: the primary OTLP collector is unhealthy and GenOps must deliver
// every span to the failover endpoint, with its circuit breaker keeping it from hammering the
// primary. Two failure modes are shown:
//   1. the primary answers 503 (overloaded or draining);
//   2. the primary is down (connection refused).
// In both, every span of every operation arrives at the failover collector, none is
// dropped, and the primary sees at most circuit_breaker_threshold failed exports (each with
// its retries) before the breaker opens.
// The seed's `encrypt_sensitive_data=True` is rejected (GenOps does not support it yet and
// says so rather than pretending), and its `failover_regions` are endpoint URLs here.
//
// Run: ./example_production_ha
#include <iostream>
#include <memory>
#include <string>

#include "genops/genops.h"
#include "support/check.h"
#include "support/example_helpers.h"
#include "support/fake_provider.h"
#include "support/llm_client.h"
#include "support/temp_dir.h"

namespace {

using genops::examples::ChatRequest;
using genops::examples::FakeCollector;
using genops::examples::FakeProvider;
using genops::examples::LlmClient;
using genops::examples::Section;
using genops::examples::ValueOrDie;

constexpr int kOperations = 12;
constexpr int kBreakerThreshold = 3;
constexpr int kRetryAttempts = 1;

genops::AdapterConfig HaConfig(const std::string& primary, const std::string& failover,
                               const std::string& audit_log) {
  genops::AdapterConfig config;
  config.team = "production-ops";
  config.project = "enterprise-llm";
  config.environment = "production";
  // High availability
  config.enable_ha = true;
  config.otlp_endpoint = primary;
  config.failover_regions = {failover};
  config.health_check_interval = 30;
  // Performance optimization
  config.max_concurrent_operations = 500;
  config.enable_batching = true;
  config.batch_size = 100;
  config.batch_timeout = 5000;
  config.export_timeout = 3000;
  config.retry_attempts = kRetryAttempts;
  // Circuit breaker
  config.circuit_breaker_threshold = kBreakerThreshold;
  config.circuit_breaker_timeout = 60;
  // Monitoring and alerting
  config.enable_detailed_metrics = true;
  config.metrics_retention_days = 90;
  config.alert_on_anomalies = true;
  // Security
  config.enable_audit_logging = true;
  config.audit_log_path = audit_log;
  // OTLP/JSON without gzip, so the in-process collectors can count spans.
  config.exporters = {"otlp_json"};
  config.otlp_compression = "none";
  config.enable_traceloop_platform = false;
  return config;
}

// Runs kOperations governed calls, flushes, and checks where the spans went.
void RunScenario(const std::string& title, LlmClient& client, const std::string& primary_url,
                 const FakeCollector* primary, FakeCollector& failover,
                 const std::string& audit_log) {
  Section(title);
  const int64_t failover_before = failover.accepted_span_count();
  auto adapter = ValueOrDie(
      genops::instrument_traceloop(HaConfig(primary_url, failover.base_url(), audit_log)),
      "instrument_traceloop");
  for (int i = 0; i < kOperations; ++i) {
    genops::TrackOptions options;
    options.provider = "openai";
    options.model = "gpt-4o-mini";
    options.max_output_tokens = 50;
    genops::Operation op = adapter->track_operation("chat_completion", "ha_request", options);
    ChatRequest request{.model = "gpt-4o-mini",
                        .messages = {{"user", "Request " + std::to_string(i)}},
                        .max_tokens = 50};
    std::string body = ValueOrDie(client.ChatCompletion(request), "the chat completion");
    genops::examples::OkOrDie(op.record_response("openai", body), "record_response");
    op.end();
    // One export per operation, so the circuit breaker's arithmetic is visible.
    genops::examples::FlushOrDie(*adapter);
  }
  genops::AdapterMetrics metrics = adapter->get_metrics();
  adapter->shutdown();

  const int64_t delivered = failover.accepted_span_count() - failover_before;
  std::cout << "spans at the failover collector: " << delivered << " of " << kOperations
            << "; exported " << metrics.spans_exported << ", dropped " << metrics.spans_dropped
            << "\n";
  if (primary != nullptr) {
    std::cout << "primary saw " << primary->request_count() << " export attempt(s), accepted "
              << primary->accepted_request_count() << "\n";
    EXPECT_OR_DIE(primary->request_count() > 0, "the primary was tried first");
    EXPECT_OR_DIE(primary->accepted_request_count() == 0, "the primary accepted nothing");
    EXPECT_OR_DIE(primary->request_count() <= kBreakerThreshold * (kRetryAttempts + 1),
                  "the circuit breaker stopped calling the failing primary after "
                      << kBreakerThreshold << " failed exports (saw " << primary->request_count()
                      << " attempts)");
  }
  EXPECT_OR_DIE(delivered == kOperations, "every span arrived at the failover collector: "
                                              << delivered << " of " << kOperations);
  EXPECT_OR_DIE(metrics.spans_dropped == 0, "no span was dropped");
  EXPECT_OR_DIE(metrics.spans_exported == kOperations, "every span counts as exported");
}

int Run() {
  auto provider = ValueOrDie(FakeProvider::Start(), "starting the fake provider");
  auto failover = ValueOrDie(FakeCollector::Start(), "starting the failover collector");
  LlmClient client(provider->base_url());
  genops::examples::TempDir dir("production_ha");
  const std::string audit_log = (dir.path() / "audit.jsonl").string();

  Section("encrypt_sensitive_data=True is not supported yet: rejected, not ignored");
  {
    genops::AdapterConfig config = HaConfig("http://127.0.0.1:9", failover->base_url(), audit_log);
    config.encrypt_sensitive_data = true;
    auto rejected = genops::instrument_traceloop(config);
    EXPECT_OR_DIE(!rejected.ok(), "encrypt_sensitive_data must be rejected");
    std::cout << "instrument_traceloop: " << rejected.status().ToString() << "\n";
    EXPECT_OR_DIE(rejected.status().ToString().find("encrypt_sensitive_data") != std::string::npos,
                  "the error names encrypt_sensitive_data");
  }

  {
    auto primary = ValueOrDie(FakeCollector::Start(), "starting the primary collector");
    primary->set_failure_status(503);
    RunScenario("scenario 1: the primary collector answers 503", client, primary->base_url(),
                primary.get(), *failover, audit_log);
  }

  std::string dead_url;
  {
    // Take a port, then close it: connections to it are refused.
    auto closed = ValueOrDie(FakeCollector::Start(), "reserving a port");
    dead_url = closed->base_url();
  }
  RunScenario("scenario 2: the primary collector is down (" + dead_url + ")", client, dead_url,
              nullptr, *failover, audit_log);

  std::cout << "\nexample production_ha: OK" << std::endl;
  return 0;
}

}  // namespace

int main() { return Run(); }
