// A/B testing with governance (seed: "Advanced Use Cases / A/B Testing with Governance").
//
// Users are split into "control" (the prompt alone) and "treatment" (the prompt plus a system
// message) by a hash of the user id. Every call is tracked with the experiment tags and
// attributes of the seed and costed. The example proves:
//   - the split is deterministic and both variants get users;
//   - both variants are tracked and costed: the cost per variant from the operations equals
//     the cost per variant in get_recent_operations_summary() and the catalog price of the
//     usage (computed by hand);
//   - the treatment's system message costs exactly its tokens more per call, which is the
//     number the experiment is about;
//   - every exported span carries the experiment and variant tags.
// The seed hashes with Python's hash(), which is randomised per process; a stable FNV-1a
// hash keeps users in their variant across runs and machines. The seed builds an adapter per
// call with customer_id=user_id; here one adapter serves all calls and the user is the
// per-call attribution (options.attribution.customer_id), which is the same attribution
// without rebuilding an adapter per request.
//
// Run: ./example_ab_testing [--catalog data/pricing_catalog.json]
#include <cstdint>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
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

using genops::examples::ChatMessage;
using genops::examples::ChatRequest;
using genops::examples::FakeProvider;
using genops::examples::LlmClient;
using genops::examples::ProviderApi;
using genops::examples::Section;
using genops::examples::Usd;
using genops::examples::ValueOrDie;

constexpr char kExperiment[] = "prompt_optimization_v2";
constexpr char kSystemPrompt[] = "You are a helpful assistant.";

uint64_t Fnv1a(const std::string& text) {
  uint64_t hash = 14695981039346656037ULL;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  return hash;
}

std::string VariantFor(const std::string& user_id) {
  return Fnv1a(user_id) % 2 == 0 ? "control" : "treatment";
}

struct Result {
  std::string variant;
  std::string text;
  genops::Usage usage;
  genops::Money cost;
  genops::Money hand_cost;
};

// The seed's run_ab_test_with_governance().
Result RunAbTestWithGovernance(genops::Adapter& adapter, LlmClient& client,
                               const FakeProvider& provider,
                               const genops::examples::HandPrices& prices,
                               const std::string& user_id, const std::string& prompt) {
  const std::string variant = VariantFor(user_id);
  genops::TrackOptions options;
  options.tags = {{"experiment", kExperiment}, {"variant", variant}, {"user_id", user_id}};
  options.attribution.customer_id = user_id;
  options.provider = "openai";
  options.model = "gpt-4o-mini";
  options.max_output_tokens = 100;
  genops::Operation span = adapter.track_operation("ab_test", "prompt_test_" + variant, options);

  std::vector<ChatMessage> messages;
  if (variant == "control") {
    messages = {{"user", prompt}};
  } else {
    messages = {{"system", kSystemPrompt}, {"user", prompt}};
  }
  ChatRequest request{.model = "gpt-4o-mini", .messages = messages, .max_tokens = 100};
  std::string body = ValueOrDie(client.ChatCompletion(request), "the chat completion");
  genops::examples::OkOrDie(span.record_response("openai", body), "record_response");
  std::string text = genops::examples::ResponseText(body);
  span.add_attributes({{"experiment.name", std::string(kExperiment)},
                       {"experiment.variant", variant},
                       {"experiment.user_id", user_id},
                       {"response.length", static_cast<int64_t>(text.size())}});
  span.end();
  const genops::Usage expected = provider.ExpectedUsage(request, ProviderApi::kOpenAi);
  return {variant, text, span.get_metrics().usage, span.get_metrics().cost,
          genops::examples::HandCost(prices, expected)};
}

int Run(int argc, char** argv) {
  const std::string catalog_path = genops::examples::FindCatalogFile(argc, argv);
  EXPECT_OR_DIE(!catalog_path.empty(),
                "cannot find data/pricing_catalog.json; pass --catalog PATH");
  auto provider = ValueOrDie(FakeProvider::Start(), "starting the fake provider");
  LlmClient client(provider->base_url());
  genops::examples::TempDir dir("ab_testing");
  const std::string span_file = (dir.path() / "spans.jsonl").string();
  auto prices = ValueOrDie(genops::examples::LoadHandPrices(catalog_path, "openai", "gpt-4o-mini"),
                           "gpt-4o-mini in the catalog file");

  genops::AdapterConfig config;
  config.team = "growth-team";
  config.project = "prompt-optimization";
  config.exporters = {"file"};
  config.file_path = span_file;
  config.enable_traceloop_platform = false;
  auto adapter = ValueOrDie(genops::instrument_traceloop(config), "instrument_traceloop");

  Section("20 users, split by a stable hash of the user id");
  const std::string prompt = "Suggest a name for a bakery that also sells books.";
  std::map<std::string, int> users_per_variant;
  std::map<std::string, genops::Money> cost_per_variant;
  std::map<std::string, genops::Money> hand_per_variant;
  std::map<std::string, int64_t> input_tokens_per_variant;
  for (int i = 1; i <= 20; ++i) {
    std::ostringstream user;
    user << "user-" << std::setw(3) << std::setfill('0') << i;
    EXPECT_OR_DIE(VariantFor(user.str()) == VariantFor(user.str()), "the split is stable");
    Result result =
        RunAbTestWithGovernance(*adapter, client, *provider, prices, user.str(), prompt);
    ++users_per_variant[result.variant];
    cost_per_variant[result.variant] += result.cost;
    hand_per_variant[result.variant] += result.hand_cost;
    input_tokens_per_variant[result.variant] = result.usage.input_tokens;
    EXPECT_OR_DIE(result.cost == result.hand_cost, user.str() << ": cost " << Usd(result.cost)
                                                              << " == catalog price "
                                                              << Usd(result.hand_cost));
  }
  for (const auto& [variant, users] : users_per_variant) {
    std::cout << "  " << variant << ": " << users << " users, " << input_tokens_per_variant[variant]
              << " input tokens per call, " << Usd(cost_per_variant[variant]) << " in total\n";
  }
  EXPECT_OR_DIE(users_per_variant["control"] > 0 && users_per_variant["treatment"] > 0,
                "both variants got users");

  Section("what the treatment costs");
  const int64_t extra_tokens =
      input_tokens_per_variant["treatment"] - input_tokens_per_variant["control"];
  const int64_t system_tokens = static_cast<int64_t>(std::string(kSystemPrompt).size()) / 4;
  std::cout << "the system message adds " << extra_tokens << " input tokens per call\n";
  EXPECT_OR_DIE(extra_tokens == system_tokens, "the treatment pays exactly for its system message: "
                                                   << extra_tokens << " vs " << system_tokens);

  Section("get_recent_operations_summary() grouped by the variant tag");
  genops::OperationsSummary summary = adapter->get_recent_operations_summary(100);
  std::map<std::string, genops::Money> summary_cost;
  std::map<std::string, int> summary_count;
  for (const genops::OperationRecord& record : summary.operations) {
    auto tag = record.attribution.tags.find("variant");
    EXPECT_OR_DIE(tag != record.attribution.tags.end(), "every operation has the variant tag");
    EXPECT_OR_DIE(record.attribution.tags.at("experiment") == kExperiment, "experiment tag");
    EXPECT_OR_DIE(record.attribution.customer_id == record.attribution.tags.at("user_id"),
                  "the user is the customer of the call");
    summary_cost[tag->second] += record.cost;
    ++summary_count[tag->second];
  }
  for (const char* variant : {"control", "treatment"}) {
    std::cout << "  " << variant << ": " << summary_count[variant] << " operations, "
              << Usd(summary_cost[variant]) << "\n";
    EXPECT_OR_DIE(summary_count[variant] == users_per_variant[variant],
                  variant << " operations all recorded");
    EXPECT_OR_DIE(summary_cost[variant] == cost_per_variant[variant] &&
                      summary_cost[variant] == hand_per_variant[variant],
                  variant << " cost agrees across operations, summary and catalog");
  }
  EXPECT_OR_DIE(summary.totals.cost == hand_per_variant["control"] + hand_per_variant["treatment"],
                "the experiment's total is exact");

  Section("the spans carry the experiment");
  genops::examples::FlushOrDie(*adapter);
  auto spans = genops::examples::ReadSpansOrDie(span_file);
  std::map<std::string, int> span_count;
  for (const auto& span : spans) {
    EXPECT_OR_DIE(span.Text("genops.tag.experiment") == kExperiment, "experiment tag on span");
    EXPECT_OR_DIE(span.Text("experiment.variant") == span.Text("genops.tag.variant"),
                  "experiment.variant attribute matches the tag");
    EXPECT_OR_DIE(span.Number("response.length").value_or(0) > 0, "response.length recorded");
    ++span_count[span.Text("genops.tag.variant")];
  }
  EXPECT_OR_DIE(span_count["control"] == users_per_variant["control"] &&
                    span_count["treatment"] == users_per_variant["treatment"],
                "one span per call in each variant");

  adapter->shutdown();
  std::cout << "\nexample ab_testing: OK" << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
