// `genops demo`: a five-minute tour of the SDK without network or keys.
//
// Runs a small, deterministic session of governed operations through a real adapter
// (enforced policy, a daily budget, a per-operation cap), with usage a provider might report,
// and prints what governance decided, what each call cost, where the budget stands, and
// where the spans went.
#include <cstdio>
#include <iostream>

#include "absl/strings/str_format.h"
#include "genops/genops.h"
#include "src/cli/commands.h"

namespace genops::cli {
namespace {

struct DemoCall {
  const char* provider;
  const char* model;
  const char* feature;
  const char* customer;
  int64_t input;
  int64_t cached;
  int64_t output;
  int64_t max_tokens;
};

// Usage as the providers would report it; the demo fixes it so every run prints the same.
constexpr DemoCall kCalls[] = {
    {"openai", "gpt-4o-mini", "support-chat", "acme", 1200, 0, 180, 300},
    {"openai", "gpt-4o-2024-08-06", "summaries", "acme", 5400, 2048, 620, 800},
    {"anthropic", "claude-sonnet-4-20250514", "code-review", "globex", 18000, 12000, 1500, 2000},
    {"google", "gemini-2.5-flash", "support-chat", "globex", 3000, 0, 400, 1000},
    {"openai", "o3", "analysis", "acme", 9000, 0, 12000, 30000},
    {"anthropic", "claude-opus-4-1", "analysis", "initech", 60000, 0, 4000, 32000},
    {"openai", "gpt-4o-mini", "support-chat", "initech", 900, 0, 120, 300},
    {"mistral", "mistral-large-latest", "translation", "acme", 2500, 0, 900, 1200},
};

}  // namespace

void RegisterDemoCommand(CLI::App& app, CommandRegistry& registry) {
  struct Args {
    std::string spans_file = "genops-demo-spans.jsonl";
    double daily_budget = 0.20;
    double max_operation_cost = 1.00;
    std::string policy = "enforced";
  };
  auto args = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand(
      "demo",
      "A tour of GenOps governance: priced operations, a per-operation cap and a daily "
      "budget enforced before each call, spans written to a file. No network, no keys.");
  sub->add_option("--spans-file", args->spans_file, "Where the demo's spans are written")
      ->capture_default_str();
  sub->add_option("--daily-budget", args->daily_budget, "Daily budget in USD")
      ->capture_default_str();
  sub->add_option("--max-operation-cost", args->max_operation_cost, "Per-operation cap in USD")
      ->capture_default_str();
  sub->add_option("--policy", args->policy, "audit_only | advisory | enforced | strict")
      ->capture_default_str();
  registry.Add(sub, [args]() {
    auto level = ParsePolicyLevel(args->policy);
    if (!level.ok()) {
      std::cerr << "genops demo: --policy: " << level.status().message() << "\n";
      return 2;
    }
    AdapterConfig config;
    config.team = "platform";
    config.project = "genops-demo";
    config.environment = "demo";
    config.governance_policy = *level;
    config.daily_budget_limit = args->daily_budget;
    config.max_operation_cost = args->max_operation_cost;
    config.cost_alert_threshold = 0.10;
    config.exporters = {"file"};
    config.file_path = args->spans_file;
    config.log_alerts = false;
    config.enable_detailed_metrics = true;
    auto adapter = instrument_traceloop(config);
    if (!adapter.ok()) {
      std::cerr << "genops demo: " << adapter.status().message() << "\n";
      return 1;
    }
    std::cout << absl::StrFormat(
        "GenOps demo: team=platform project=genops-demo policy=%s daily budget $%.2f, "
        "per-operation cap $%.2f\n\n",
        args->policy, args->daily_budget, args->max_operation_cost);
    std::cout << absl::StrFormat("%-3s %-26s %-13s %9s %8s %8s %12s %12s  %s\n", "#", "model",
                                 "feature", "input", "cached", "output", "estimate", "cost",
                                 "decision");
    int n = 0;
    for (const DemoCall& call : kCalls) {
      ++n;
      TrackOptions options;
      options.provider = call.provider;
      options.model = call.model;
      options.estimated_input_tokens = call.input;
      options.max_output_tokens = call.max_tokens;
      options.attribution.customer_id = call.customer;
      options.attribution.feature = call.feature;
      Operation op = (*adapter)->try_track_operation("chat_completion", call.feature, options);
      std::string decision(DecisionResultName(op.decision().result));
      if (op.allowed()) {
        Usage usage;
        usage.input_tokens = call.input;
        usage.cache_read_tokens = call.cached;
        usage.output_tokens = call.output;
        op.update_token_usage(usage);
      } else {
        decision += " (" + op.decision().message + ")";
      }
      op.end();
      OperationMetrics m = op.get_metrics();
      std::cout << absl::StrFormat("%-3d %-26s %-13s %9d %8d %8d %12s %12s  %s\n", n, call.model,
                                   call.feature, op.allowed() ? call.input : 0,
                                   op.allowed() ? call.cached : 0, op.allowed() ? call.output : 0,
                                   m.estimate.ToDisplayString(6), m.cost.ToDisplayString(6),
                                   decision);
    }
    std::cout << "\nBudgets\n";
    std::cout << absl::StrFormat("  %-8s %-48s %-6s %10s %10s %10s %7s\n", "name", "scope",
                                 "period", "limit", "spent", "remaining", "used");
    for (const auto& b : (*adapter)->get_budget_status()) {
      std::cout << absl::StrFormat("  %-8s %-48s %-6s %10s %10s %10s %6.1f%%\n", b.name, b.scope,
                                   b.period, b.limit.ToDisplayString(4), b.spent.ToDisplayString(4),
                                   b.remaining.ToDisplayString(4), b.utilization_percent);
    }
    AdapterMetrics metrics = (*adapter)->get_metrics();
    std::cout << "\nBy provider\n";
    for (const auto& [provider, t] : metrics.by_provider) {
      std::cout << absl::StrFormat("  %-10s %3d operations %12s\n", provider, t.operations,
                                   t.cost.ToDisplayString(6));
    }
    (*adapter)->flush();
    metrics = (*adapter)->get_metrics();
    std::cout << absl::StrFormat(
        "\n%d operations: %d allowed, %d warned, %d blocked; total %s (exact: %d nano-USD)\n",
        metrics.operation_count, metrics.allowed, metrics.warned, metrics.blocked,
        metrics.total_cost.ToDisplayString(6), metrics.total_cost.nanos());
    std::cout << absl::StrFormat("%d spans written to %s (OTLP JSON, one per line)\n",
                                 metrics.spans_exported, args->spans_file);
    std::cout << "\nNext: `genops cost --model gpt-4o --input 1000 --output 200`, "
                 "`genops prices --provider anthropic`, `genops validate --detailed`.\n";
    (*adapter)->shutdown();
    return 0;
  });
}

}  // namespace genops::cli
