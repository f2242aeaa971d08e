// Sampling for high-volume applications (seed: "Performance & Scaling / Sampling
// Configuration", "Troubleshooting: high governance overhead").
//
// sampling_rate=0.1 with priority_sampling and error_sampling_rate=1.0, over 1000 governed
// calls: 900 ordinary, 50 high-priority, 50 that fail after the provider answered. The
// example proves the two halves of DESIGN.md's rule "sampling never loses money":
//   - telemetry is sampled: about 10% of the ordinary spans are exported (a binomial count,
//     checked within five standard deviations), every high-priority span and every error
//     span is exported;
//   - money is not: get_metrics() counts all 1000 operations and charges all of them, to the
//     nano-USD, while the exported spans alone would show only a fraction of the spend.
//
// Run: ./example_sampling [--catalog data/pricing_catalog.json]
#include <cmath>
#include <iostream>
#include <string>

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

constexpr int kOperations = 1000;
constexpr double kSamplingRate = 0.1;

enum class Kind { kOrdinary, kPriority, kError };

Kind KindOf(int i) {
  if (i % 20 == 0) return Kind::kPriority;
  if (i % 20 == 1) return Kind::kError;
  return Kind::kOrdinary;
}

const char* KindName(Kind kind) {
  switch (kind) {
    case Kind::kOrdinary:
      return "ordinary";
    case Kind::kPriority:
      return "priority";
    case Kind::kError:
      return "error";
  }
  return "?";
}

int Run(int argc, char** argv) {
  const std::string catalog_path = genops::examples::FindCatalogFile(argc, argv);
  EXPECT_OR_DIE(!catalog_path.empty(),
                "cannot find data/pricing_catalog.json; pass --catalog PATH");
  auto provider = ValueOrDie(FakeProvider::Start(), "starting the fake provider");
  LlmClient client(provider->base_url());
  genops::examples::TempDir dir("sampling");
  const std::string span_file = (dir.path() / "spans.jsonl").string();

  Section("instrument_traceloop(sampling_rate=0.1, priority_sampling, error_sampling_rate=1)");
  genops::AdapterConfig config;
  config.team = "high-volume-team";
  config.project = "api-service";
  config.sampling_rate = kSamplingRate;
  config.priority_sampling = true;
  config.error_sampling_rate = 1.0;
  config.enable_async_export = true;
  config.export_batch_size = 100;
  config.export_timeout = 5000;
  config.max_spans_per_operation = 50;
  config.max_attribute_length = 1000;
  config.max_events_per_span = 100;
  config.exporters = {"file"};
  config.file_path = span_file;
  config.enable_traceloop_platform = false;
  auto adapter = ValueOrDie(genops::instrument_traceloop(config), "instrument_traceloop");

  Section("1000 governed calls");
  const ChatRequest request{.model = "gpt-4o-mini",
                            .messages = {{"user",
                                          "Classify the sentiment of this review: "
                                          "'Fast delivery, but the box was damaged.'"}},
                            .max_tokens = 20};
  const genops::Usage usage = provider->ExpectedUsage(request, ProviderApi::kOpenAi);
  genops::Money charged_by_operations;
  for (int i = 0; i < kOperations; ++i) {
    const Kind kind = KindOf(i);
    genops::TrackOptions options;
    options.tags = {{"kind", KindName(kind)}};
    options.priority = kind == Kind::kPriority ? "high" : "normal";
    options.provider = "openai";
    options.model = request.model;
    options.max_output_tokens = request.max_tokens;
    genops::Operation op = adapter->track_operation("classification", "review_sentiment", options);
    std::string body = ValueOrDie(client.ChatCompletion(request), "the chat completion");
    genops::examples::OkOrDie(op.record_response("openai", body), "record_response");
    // The provider answered (and billed), then the application failed on the answer.
    if (kind == Kind::kError) op.record_error("post-processing failed: unparseable label");
    op.end();
    charged_by_operations += op.get_metrics().cost;
  }
  auto prices = ValueOrDie(genops::examples::LoadHandPrices(catalog_path, "openai", "gpt-4o-mini"),
                           "gpt-4o-mini in the catalog file");
  const genops::Money unit = genops::examples::HandCost(prices, usage);
  const genops::Money expected_total = genops::Money::FromNanos(unit.nanos() * kOperations);
  std::cout << "each call: " << usage.input_tokens << " + " << usage.output_tokens
            << " tokens = " << Usd(unit) << " (catalog file); 1000 calls = " << Usd(expected_total)
            << "\n";

  Section("what was exported");
  genops::examples::FlushOrDie(*adapter);
  genops::AdapterMetrics metrics = adapter->get_metrics();
  auto spans = genops::examples::ReadSpansOrDie(span_file);
  int exported[3] = {0, 0, 0};
  double exported_cost_usd = 0;
  for (const auto& span : spans) {
    const std::string kind = span.Text("genops.tag.kind");
    for (Kind k : {Kind::kOrdinary, Kind::kPriority, Kind::kError}) {
      if (kind == KindName(k)) ++exported[static_cast<int>(k)];
    }
    if (kind == "error") {
      EXPECT_OR_DIE(span.IsError(), "an error span has status ERROR");
    }
    exported_cost_usd += span.Number("genops.cost.total").value_or(0);
  }
  const int ordinary_total = kOperations * 18 / 20;
  const double mean = ordinary_total * kSamplingRate;
  const double sd = std::sqrt(ordinary_total * kSamplingRate * (1 - kSamplingRate));
  std::cout << "ordinary: " << exported[0] << " of " << ordinary_total << " (expected " << mean
            << " +- " << sd << ")\n"
            << "high priority: " << exported[1] << " of 50\n"
            << "errors: " << exported[2] << " of 50\n"
            << "spans_exported=" << metrics.spans_exported
            << " spans_unsampled=" << metrics.spans_unsampled
            << " spans_dropped=" << metrics.spans_dropped << "\n";
  EXPECT_OR_DIE(std::fabs(exported[0] - mean) <= 5 * sd,
                "about 10% of ordinary spans exported, got " << exported[0]);
  EXPECT_OR_DIE(exported[1] == 50, "every high-priority span exported, got " << exported[1]);
  EXPECT_OR_DIE(exported[2] == 50, "every error span exported, got " << exported[2]);
  const int total_exported = exported[0] + exported[1] + exported[2];
  EXPECT_OR_DIE(static_cast<int>(spans.size()) == total_exported, "no other spans");
  EXPECT_OR_DIE(metrics.spans_dropped == 0, "no span was dropped");
  EXPECT_OR_DIE(metrics.spans_unsampled == kOperations - total_exported,
                "the unsampled count is the rest: " << metrics.spans_unsampled);

  Section("what was charged: everything");
  std::cout << "get_metrics(): " << metrics.operation_count << " operations, total "
            << Usd(metrics.total_cost) << ", daily usage " << Usd(metrics.daily_usage) << "\n"
            << "the exported spans alone show $" << exported_cost_usd << "\n";
  EXPECT_OR_DIE(metrics.operation_count == kOperations,
                "all 1000 operations counted, got " << metrics.operation_count);
  EXPECT_OR_DIE(charged_by_operations == expected_total,
                "the operations' costs add up to 1000 x the catalog price");
  EXPECT_OR_DIE(metrics.total_cost == expected_total,
                "get_metrics() charged all 1000 operations: " << Usd(metrics.total_cost) << " vs "
                                                              << Usd(expected_total));
  EXPECT_OR_DIE(metrics.daily_usage == expected_total, "the day's spend includes them all");
  EXPECT_OR_DIE(exported_cost_usd < expected_total.usd() / 2,
                "sampled telemetry alone would under-report the spend");

  adapter->shutdown();
  std::cout << "\nexample sampling: OK" << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
