// Circuit breaker around the provider (seed: "Scaling Patterns / Circuit Breaker Pattern").
//
// The seed's application-level CircuitBreaker class, in C++, around a provider call inside
// track_operation(). The breaker reads time from an injected genops::ManualClock so the
// recovery timeout passes without sleeping. The example proves:
//   - a healthy call succeeds and is charged;
//   - while the provider fails (HTTP 500), each failure is recorded on its operation
//     (record_error) with circuit_breaker.state / circuit_breaker.failures attributes, and
//     costs nothing (no tokens were produced);
//   - after failure_threshold failures the breaker opens: the next call is refused by the
//     breaker without reaching the provider (the fake's request counter does not move);
//   - after recovery_timeout the breaker is half-open, a successful call closes it again;
//   - every one of those facts is on the exported spans.
// (GenOps' own exporter has a separate breaker for span export; see production_ha.)
//
// Run: ./example_circuit_breaker [--catalog data/pricing_catalog.json]
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "genops/genops.h"
#include "support/check.h"
#include "support/example_helpers.h"
#include "support/fake_provider.h"
#include "support/hand_pricing.h"
#include "support/llm_client.h"
#include "support/temp_dir.h"

namespace {

using genops::examples::ChatRequest;
using genops::examples::FakeProvider;
using genops::examples::LlmClient;
using genops::examples::ProviderApi;
using genops::examples::Section;
using genops::examples::Usd;
using genops::examples::ValueOrDie;

// The seed's CircuitBreaker: closed -> open after `failure_threshold` failures; open ->
// half-open once `recovery_timeout` has passed since the last failure; half-open -> closed on
// a success. Like the seed, a success while closed does not reset the count.
//
// Thread safety: not thread-safe (one breaker per calling thread, as in the seed).
class CircuitBreaker {
 public:
  CircuitBreaker(const genops::Clock* clock, int failure_threshold = 5,
                 int64_t recovery_timeout_seconds = 60)
      : clock_(clock),
        failure_threshold_(failure_threshold),
        recovery_timeout_nanos_(recovery_timeout_seconds * genops::kNanosPerSecond) {}

  absl::StatusOr<std::string> Call(const std::function<absl::StatusOr<std::string>()>& func) {
    if (state_ == "open") {
      if (clock_->MonotonicNanos() - last_failure_nanos_ > recovery_timeout_nanos_) {
        state_ = "half-open";
      } else {
        return absl::UnavailableError("Circuit breaker is open");
      }
    }
    absl::StatusOr<std::string> result = func();
    if (result.ok()) {
      if (state_ == "half-open") {
        state_ = "closed";
        failure_count_ = 0;
      }
      return result;
    }
    ++failure_count_;
    last_failure_nanos_ = clock_->MonotonicNanos();
    if (failure_count_ >= failure_threshold_) state_ = "open";
    return result;
  }

  const std::string& state() const { return state_; }
  int failure_count() const { return failure_count_; }

 private:
  const genops::Clock* clock_;
  int failure_threshold_;
  int64_t recovery_timeout_nanos_;
  int failure_count_ = 0;
  int64_t last_failure_nanos_ = 0;
  std::string state_ = "closed";  // closed, open, half-open
};

struct Outcome {
  std::string span_id;
  bool ok = false;
  std::string state;
  int failures = 0;
  genops::Money cost;
};

// The seed's `with adapter.track_operation("protected_operation", "ai_call") as span:` block.
Outcome ProtectedCall(genops::Adapter& adapter, CircuitBreaker& breaker, LlmClient& client,
                      const ChatRequest& request) {
  genops::TrackOptions options;
  options.provider = "openai";
  options.model = request.model;
  options.max_output_tokens = request.max_tokens;
  genops::Operation span = adapter.track_operation("protected_operation", "ai_call", options);
  Outcome outcome;
  absl::StatusOr<std::string> response =
      breaker.Call([&] { return client.ChatCompletion(request); });
  if (response.ok()) {
    genops::examples::OkOrDie(span.record_response("openai", *response), "record_response");
    span.add_attributes({{"circuit_breaker.state", std::string("closed")}});
    outcome.ok = true;
  } else {
    span.add_attributes(
        {{"circuit_breaker.state", breaker.state()},
         {"circuit_breaker.failures", static_cast<int64_t>(breaker.failure_count())}});
    span.record_error(response.status().ToString());
  }
  span.end();
  outcome.span_id = span.span_id();
  outcome.state = breaker.state();
  outcome.failures = breaker.failure_count();
  outcome.cost = span.get_metrics().cost;
  std::cout << "  call: " << (outcome.ok ? "ok    " : "failed") << " breaker=" << outcome.state
            << " failures=" << outcome.failures << " cost=" << Usd(outcome.cost)
            << (outcome.ok ? "" : "  (" + response.status().ToString() + ")") << "\n";
  return outcome;
}

int Run(int argc, char** argv) {
  const std::string catalog_path = genops::examples::FindCatalogFile(argc, argv);
  EXPECT_OR_DIE(!catalog_path.empty(),
                "cannot find data/pricing_catalog.json; pass --catalog PATH");
  auto provider = ValueOrDie(FakeProvider::Start(), "starting the fake provider");
  LlmClient client(provider->base_url());
  genops::examples::TempDir dir("circuit_breaker");
  const std::string span_file = (dir.path() / "spans.jsonl").string();

  genops::AdapterConfig config;
  config.team = "resilient-team";
  config.project = "circuit-breaker-demo";
  config.exporters = {"file"};
  config.file_path = span_file;
  config.enable_traceloop_platform = false;
  auto adapter = ValueOrDie(genops::instrument_traceloop(config), "instrument_traceloop");

  genops::ManualClock clock;
  CircuitBreaker breaker(&clock);  // the seed's defaults: 5 failures, 60 s
  const ChatRequest request{
      .model = "gpt-4o-mini", .messages = {{"user", "Protected call"}}, .max_tokens = 50};
  std::vector<Outcome> outcomes;

  Section("a healthy provider");
  outcomes.push_back(ProtectedCall(*adapter, breaker, client, request));
  EXPECT_OR_DIE(outcomes.back().ok && breaker.state() == "closed", "the first call succeeds");

  Section("the provider fails with HTTP 500: five failures open the breaker");
  provider->set_failure_status(500);
  for (int i = 1; i <= 5; ++i) {
    outcomes.push_back(ProtectedCall(*adapter, breaker, client, request));
    EXPECT_OR_DIE(!outcomes.back().ok, "the call fails");
    EXPECT_OR_DIE(outcomes.back().failures == i, "failure " << i << " counted");
    EXPECT_OR_DIE(outcomes.back().cost == genops::Money::Zero(),
                  "a failed call that produced no tokens costs nothing");
  }
  EXPECT_OR_DIE(breaker.state() == "open", "the breaker is open after five failures");
  EXPECT_OR_DIE(provider->request_count() == 6, "six calls reached the provider");

  Section("the open breaker refuses without calling the provider");
  clock.Advance(10 * genops::kNanosPerSecond);
  outcomes.push_back(ProtectedCall(*adapter, breaker, client, request));
  EXPECT_OR_DIE(!outcomes.back().ok && outcomes.back().state == "open",
                "refused by the open breaker");
  EXPECT_OR_DIE(provider->request_count() == 6,
                "the refused call never reached the provider (counter unchanged)");

  Section("after the recovery timeout: half-open, one success closes it");
  provider->set_failure_status(0);
  clock.Advance(61 * genops::kNanosPerSecond);
  outcomes.push_back(ProtectedCall(*adapter, breaker, client, request));
  EXPECT_OR_DIE(outcomes.back().ok, "the trial call succeeds");
  EXPECT_OR_DIE(breaker.state() == "closed" && breaker.failure_count() == 0,
                "the breaker is closed again with its count reset");
  EXPECT_OR_DIE(provider->request_count() == 7, "the trial call reached the provider");

  Section("spend: only the two successful calls");
  auto prices = ValueOrDie(genops::examples::LoadHandPrices(catalog_path, "openai", "gpt-4o-mini"),
                           "gpt-4o-mini in the catalog file");
  const genops::Money unit =
      genops::examples::HandCost(prices, provider->ExpectedUsage(request, ProviderApi::kOpenAi));
  genops::AdapterMetrics metrics = adapter->get_metrics();
  std::cout << metrics.operation_count << " operations, total " << Usd(metrics.total_cost)
            << " (2 x " << Usd(unit) << ")\n";
  EXPECT_OR_DIE(metrics.operation_count == 8, "all eight operations were tracked");
  EXPECT_OR_DIE(metrics.total_cost == unit + unit, "only the successful calls were charged");

  Section("the spans tell the story");
  genops::examples::FlushOrDie(*adapter);
  auto spans = genops::examples::ReadSpansOrDie(span_file);
  EXPECT_OR_DIE(spans.size() == outcomes.size(), "one span per call, got " << spans.size());
  for (const Outcome& outcome : outcomes) {
    auto span = genops::examples::SpanWithId(spans, outcome.span_id);
    EXPECT_OR_DIE(span.has_value(), "span " << outcome.span_id << " exported");
    std::cout << "  " << outcome.span_id << " status=" << span->status_code
              << " circuit_breaker.state=" << span->Text("circuit_breaker.state")
              << " circuit_breaker.failures=" << span->Text("circuit_breaker.failures") << "\n";
    EXPECT_OR_DIE(span->IsError() == !outcome.ok, "failed calls have status ERROR");
    EXPECT_OR_DIE(span->Text("circuit_breaker.state") == (outcome.ok ? "closed" : outcome.state),
                  "circuit_breaker.state on the span");
    if (!outcome.ok) {
      EXPECT_OR_DIE(
          span->Number("circuit_breaker.failures") == static_cast<double>(outcome.failures),
          "circuit_breaker.failures on the span");
    }
  }

  adapter->shutdown();
  std::cout << "\nexample circuit_breaker: OK" << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
