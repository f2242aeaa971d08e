// Batch processing (seed: "Performance & Scaling / Batch Processing").
//
// A parent operation "batch_processing/bulk_analysis" with one child operation per request,
// created with options.parent_span. The example proves, on the exported spans, that the
// batch is one trace: every span shares the parent's trace id and each child's parent span id
// is the parent's span id. The children's costs are exact (catalog file) and the parent
// carries the seed's batch.size / batch.success_rate attributes.
//
// Run: ./example_batch_processing [--catalog data/pricing_catalog.json]
#include <iostream>
#include <string>
#include <vector>

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

int Run(int argc, char** argv) {
  const std::string catalog_path = genops::examples::FindCatalogFile(argc, argv);
  EXPECT_OR_DIE(!catalog_path.empty(),
                "cannot find data/pricing_catalog.json; pass --catalog PATH");
  auto provider = ValueOrDie(FakeProvider::Start(), "starting the fake provider");
  LlmClient client(provider->base_url());
  genops::examples::TempDir dir("batch_processing");
  const std::string span_file = (dir.path() / "spans.jsonl").string();

  genops::AdapterConfig config;
  config.team = "data-team";
  config.project = "bulk-analysis";
  config.exporters = {"file"};
  config.file_path = span_file;
  config.enable_traceloop_platform = false;
  auto adapter = ValueOrDie(genops::instrument_traceloop(config), "instrument_traceloop");
  auto prices = ValueOrDie(genops::examples::LoadHandPrices(catalog_path, "openai", "gpt-4o-mini"),
                           "gpt-4o-mini in the catalog file");

  Section("a parent operation with one child per request");
  const std::vector<std::string> batch_requests = {"Request 1", "Request 2", "Request 3"};
  std::string parent_trace_id;
  std::string parent_span_id;
  std::vector<std::string> child_span_ids;
  genops::Money children_cost;
  genops::Money expected_children_cost;
  {
    genops::Operation parent_span = adapter->track_operation("batch_processing", "bulk_analysis");
    parent_trace_id = parent_span.trace_id();
    parent_span_id = parent_span.span_id();
    std::cout << "parent " << parent_span_id << " in trace " << parent_trace_id << "\n";
    std::vector<std::string> results;
    for (size_t i = 0; i < batch_requests.size(); ++i) {
      genops::TrackOptions options;
      options.parent_span = &parent_span;
      options.provider = "openai";
      options.model = "gpt-4o-mini";
      options.max_output_tokens = 30;
      genops::Operation child_span =
          adapter->track_operation("individual_request", "request_" + std::to_string(i), options);
      EXPECT_OR_DIE(child_span.trace_id() == parent_trace_id, "the child joins the parent's trace");
      ChatRequest request{.model = "gpt-4o-mini",
                          .messages = {{"user", "Analyse: " + batch_requests[i]}},
                          .max_tokens = 30};
      std::string body = ValueOrDie(client.ChatCompletion(request), "the chat completion");
      genops::examples::OkOrDie(child_span.record_response("openai", body), "record_response");
      results.push_back(genops::examples::ResponseText(body));
      child_span.end();
      child_span_ids.push_back(child_span.span_id());
      children_cost += child_span.get_metrics().cost;
      expected_children_cost += genops::examples::HandCost(
          prices, provider->ExpectedUsage(request, ProviderApi::kOpenAi));
      std::cout << "  child " << child_span.span_id() << " request_" << i << " "
                << Usd(child_span.get_metrics().cost) << "\n";
    }
    parent_span.add_attributes(
        {{"batch.size", static_cast<int64_t>(batch_requests.size())},
         {"batch.success_rate",
          static_cast<double>(results.size()) / static_cast<double>(batch_requests.size())}});
  }
  std::cout << "children cost " << Usd(children_cost) << ", by hand " << Usd(expected_children_cost)
            << "\n";
  EXPECT_OR_DIE(children_cost == expected_children_cost,
                "the children's costs equal the catalog price of their usage");

  Section("the exported trace");
  genops::examples::FlushOrDie(*adapter);
  auto spans = genops::examples::ReadSpansOrDie(span_file);
  std::cout << spans.size() << " spans\n";
  EXPECT_OR_DIE(spans.size() == batch_requests.size() + 1, "one parent and three children");
  auto parent = genops::examples::SpanWithId(spans, parent_span_id);
  EXPECT_OR_DIE(parent.has_value(), "the parent span was exported");
  EXPECT_OR_DIE(parent->parent_span_id.empty(), "the parent is the root of its trace");
  EXPECT_OR_DIE(parent->Number("batch.size") == 3.0, "batch.size = 3 on the parent");
  EXPECT_OR_DIE(parent->Number("batch.success_rate") == 1.0, "batch.success_rate = 1");
  for (const std::string& id : child_span_ids) {
    auto child = genops::examples::SpanWithId(spans, id);
    EXPECT_OR_DIE(child.has_value(), "child " << id << " was exported");
    std::cout << "  " << child->name << ": trace " << child->trace_id << " parent "
              << child->parent_span_id << "\n";
    EXPECT_OR_DIE(child->trace_id == parent_trace_id, "the child shares the parent's trace id");
    EXPECT_OR_DIE(child->parent_span_id == parent_span_id,
                  "the child's parent span id is the parent's span id");
    EXPECT_OR_DIE(child->Text("genops.operation.type") == "individual_request",
                  "genops.operation.type of a child");
  }

  Section("get_metrics()");
  genops::AdapterMetrics metrics = adapter->get_metrics();
  std::cout << metrics.operation_count << " operations, total " << Usd(metrics.total_cost) << "\n";
  EXPECT_OR_DIE(metrics.operation_count == 4, "parent + three children counted");
  EXPECT_OR_DIE(metrics.total_cost == expected_children_cost,
                "the batch cost is the children's (the parent made no LLM call)");

  adapter->shutdown();
  std::cout << "\nexample batch_processing: OK" << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
