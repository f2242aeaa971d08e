// Zero-code auto-instrumentation (seed: "Zero-Code Auto-Instrumentation", "Troubleshooting:
// cost attribution not visible in traces", "Validation and Health Checks").
//
// In the seed, auto_instrument(team, project, environment) makes *existing* OpenLLMetry code
// governed without touching it. In C++ the same split is: application code calls its LLM
// client as always; the instrumentation layer around the client (here
// InstrumentedChatCompletion, the role OpenLLMetry's OpenAI instrumentor plays) routes every
// call through the process-wide adapter when one is installed. The example proves that after
// auto_instrument():
//   - get_current_governance_context() shows the team, project and environment;
//   - every call of the unchanged application code is tracked, priced exactly (checked
//     against the catalog file) and attributed, through the free functions
//     get_recent_operations_summary() and get_budget_status();
//   - the spans carry the attribution;
//   - after reset_global_adapter() the same code still works, untracked.
// (For applications in other languages the zero-code path is the gateway, `genops serve`.)
//
// Run: ./example_auto_instrument [--catalog data/pricing_catalog.json]
#include <iostream>
#include <memory>
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

// The instrumentation layer: what an OpenLLMetry-style instrumentor does around the client.
// Without an installed adapter it is a plain pass-through. A refusal by governance surfaces
// as genops::PolicyViolationError, as in the seed.
absl::StatusOr<std::string> InstrumentedChatCompletion(LlmClient& client,
                                                       const ChatRequest& request) {
  std::shared_ptr<genops::Adapter> adapter = genops::global_adapter();
  if (adapter == nullptr) return client.ChatCompletion(request);
  genops::TrackOptions options;
  options.provider = "openai";
  options.model = request.model;
  options.estimated_input_tokens = FakeProvider::PromptTokens(request.messages);
  options.max_output_tokens = request.max_tokens;
  genops::Operation op =
      adapter->track_operation("chat_completion", "chat.completions.create", options);
  absl::StatusOr<std::string> body = client.ChatCompletion(request);
  if (!body.ok()) {
    op.record_error(body.status().ToString());
    return body;
  }
  absl::Status recorded = op.record_response("openai", *body);
  if (!recorded.ok()) std::cout << "warning: " << recorded.ToString() << "\n";
  return body;
}

// "Existing application code": knows nothing about GenOps.
std::string AnswerQuestion(LlmClient& client, const std::string& question) {
  ChatRequest request{.model = "gpt-4o-mini", .messages = {{"user", question}}, .max_tokens = 100};
  absl::StatusOr<std::string> body = InstrumentedChatCompletion(client, request);
  EXPECT_OR_DIE(body.ok(), "the chat completion failed: " << body.status().ToString());
  return genops::examples::ResponseText(*body);
}

int Run(int argc, char** argv) {
  const std::string catalog_path = genops::examples::FindCatalogFile(argc, argv);
  EXPECT_OR_DIE(!catalog_path.empty(),
                "cannot find data/pricing_catalog.json; pass --catalog PATH");
  auto provider = ValueOrDie(FakeProvider::Start(), "starting the fake provider");
  LlmClient client(provider->base_url());
  genops::examples::TempDir dir("auto_instrument");
  const std::string span_file = (dir.path() / "spans.jsonl").string();

  Section("auto_instrument(team=\"your-team\", project=\"your-project\", environment=...)");
  genops::reset_global_adapter();
  EXPECT_OR_DIE(genops::global_adapter() == nullptr, "no adapter is installed before");
  genops::AdapterConfig extra;
  extra.environment = "production";
  extra.daily_budget_limit = 100.0;
  extra.exporters = {"file"};
  extra.file_path = span_file;
  extra.enable_traceloop_platform = false;  // hermetic even when TRACELOOP_API_KEY is set
  auto adapter =
      ValueOrDie(genops::auto_instrument("your-team", "your-project", extra), "auto_instrument");
  EXPECT_OR_DIE(genops::global_adapter() == adapter,
                "auto_instrument installs the process-wide adapter");

  genops::GovernanceContext context = genops::get_current_governance_context();
  std::cout << "get_current_governance_context(): " << context.ToString() << "\n";
  EXPECT_OR_DIE(context.attribution.team == "your-team", "the context shows the team");
  EXPECT_OR_DIE(context.attribution.project == "your-project", "the context shows the project");
  EXPECT_OR_DIE(context.attribution.environment == "production",
                "the context shows the environment");
  EXPECT_OR_DIE(context.governance_enabled, "governance is enabled");
  EXPECT_OR_DIE(!context.current_operation_id.has_value(), "no operation is open yet");

  Section("unchanged application code, now governed");
  const std::vector<std::string> questions = {
      "Hello world!", "What is the capital of France?",
      "Summarise the plot of Hamlet in two sentences for a ten-year-old reader."};
  auto prices = ValueOrDie(genops::examples::LoadHandPrices(catalog_path, "openai", "gpt-4o-mini"),
                           "gpt-4o-mini in the catalog file");
  genops::Money expected_total;
  int64_t expected_input_tokens = 0;
  for (const std::string& question : questions) {
    std::string answer = AnswerQuestion(client, question);
    ChatRequest sent{.model = "gpt-4o-mini", .messages = {{"user", question}}, .max_tokens = 100};
    genops::Usage usage = provider->ExpectedUsage(sent, ProviderApi::kOpenAi);
    expected_total += genops::examples::HandCost(prices, usage);
    expected_input_tokens += usage.input_tokens;
    std::cout << "asked \"" << question << "\" -> " << answer.size() << " characters\n";
  }
  EXPECT_OR_DIE(provider->request_count() == 3, "three provider calls were made");

  // While an operation is open on this thread, the context names it.
  {
    genops::Operation op = adapter->track_operation("workflow", "context_probe");
    genops::GovernanceContext inside = genops::get_current_governance_context();
    EXPECT_OR_DIE(inside.current_operation_id == op.operation_id(),
                  "the context names the open operation");
    EXPECT_OR_DIE(inside.current_trace_id == op.trace_id(), "and its trace");
  }

  Section("get_recent_operations_summary(limit=10)");
  genops::OperationsSummary summary = genops::get_recent_operations_summary(10);
  int64_t chat_operations = 0;
  genops::Money chat_cost;
  int64_t chat_input_tokens = 0;
  for (const genops::OperationRecord& record : summary.operations) {
    std::cout << "  " << record.operation_id << " " << record.operation_type << " " << record.model
              << " team=" << record.attribution.team << " cost " << Usd(record.cost) << "\n";
    EXPECT_OR_DIE(
        record.attribution.team == "your-team" && record.attribution.project == "your-project",
        "every operation is attributed to your-team/your-project");
    if (record.operation_type != "chat_completion") continue;
    ++chat_operations;
    chat_cost += record.cost;
    chat_input_tokens += record.usage.input_tokens;
    EXPECT_OR_DIE(record.provider == "openai", "provider recorded");
    EXPECT_OR_DIE(record.priced, "gpt-4o-mini is priced");
  }
  EXPECT_OR_DIE(chat_operations == 3, "the three calls were tracked, got " << chat_operations);
  EXPECT_OR_DIE(chat_input_tokens == expected_input_tokens,
                "input tokens " << chat_input_tokens << " == " << expected_input_tokens);
  std::cout << "cost of the three calls: " << Usd(chat_cost)
            << "; by hand from the catalog file: " << Usd(expected_total) << "\n";
  EXPECT_OR_DIE(chat_cost == expected_total, "the tracked cost equals the catalog price");
  EXPECT_OR_DIE(summary.totals.cost == chat_cost, "the summary's total is exact");

  Section("get_budget_status()");
  std::vector<genops::BudgetStatusView> budgets = genops::get_budget_status();
  bool found_daily = false;
  for (const genops::BudgetStatusView& budget : budgets) {
    std::cout << "  " << budget.name << " [" << budget.scope << ", " << budget.period << "] limit "
              << Usd(budget.limit) << " spent " << Usd(budget.spent) << " remaining "
              << Usd(budget.remaining) << "\n";
    if (budget.period == "day" && budget.limit == genops::Money::FromUsdString("100").value()) {
      found_daily = true;
      EXPECT_OR_DIE(budget.spent == chat_cost, "the daily budget was charged the calls' cost");
      EXPECT_OR_DIE(budget.remaining == budget.limit - budget.spent - budget.reserved,
                    "remaining = limit - spent - reserved");
    }
  }
  EXPECT_OR_DIE(found_daily, "daily_budget_limit=100 appears as a day budget");

  Section("the spans carry the attribution");
  genops::examples::FlushOrDie(*adapter);
  std::vector<genops::examples::SpanRecord> spans = genops::examples::ReadSpansOrDie(span_file);
  auto chat_spans =
      genops::examples::SpansWithAttribute(spans, "genops.operation.type", "chat_completion");
  std::cout << spans.size() << " spans exported, " << chat_spans.size() << " chat completions\n";
  EXPECT_OR_DIE(chat_spans.size() == 3, "three chat spans exported, got " << chat_spans.size());
  for (const auto& span : chat_spans) {
    EXPECT_OR_DIE(span.Text("genops.team") == "your-team", "genops.team on every span");
    EXPECT_OR_DIE(span.Text("genops.project") == "your-project", "genops.project");
    EXPECT_OR_DIE(span.Text("genops.environment") == "production", "genops.environment");
    EXPECT_OR_DIE(span.Number("genops.cost.total").value_or(0) > 0, "genops.cost.total > 0");
  }

  Section("reset_global_adapter(): the same code runs untracked");
  genops::reset_global_adapter();
  EXPECT_OR_DIE(genops::global_adapter() == nullptr, "the adapter was removed");
  const size_t spans_before = spans.size();
  AnswerQuestion(client, "Still works without GenOps?");
  EXPECT_OR_DIE(provider->request_count() == 4, "the call still reached the provider");
  EXPECT_OR_DIE(genops::get_recent_operations_summary(10).operations.empty(),
                "without an adapter the free functions return empty results");
  EXPECT_OR_DIE(genops::examples::ReadSpansOrDie(span_file).size() == spans_before,
                "and no span was written for it");

  std::cout << "\nexample auto_instrument: OK" << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
