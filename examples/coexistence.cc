// Coexistence with existing instrumentation (seed: "Migration & Compatibility /
// Compatibility with Existing OpenLLMetry", "From LangSmith", "From Weights & Biases").
//
// An application already traced by other tooling (an OpenLLMetry @workflow, an incoming HTTP
// request, LangSmith's OTLP export) has a W3C trace context. GenOps joins it instead of
// starting a trace of its own, so governance shows up inside the existing trace. The example
// proves:
//   - an operation started with options.traceparent belongs to the existing trace and its
//     span's parent is the existing span;
//   - its own traceparent() propagates further: the provider call receives a traceparent in
//     the same trace whose parent is the GenOps span;
//   - children of that operation stay in the trace;
//   - a malformed traceparent is not fatal: the operation starts a fresh trace.
//
// Run: ./example_coexistence
#include <iostream>
#include <random>
#include <string>

#include "genops/genops.h"
#include "support/check.h"
#include "support/example_helpers.h"
#include "support/fake_provider.h"
#include "support/llm_client.h"
#include "support/temp_dir.h"

namespace {

using genops::examples::ChatRequest;
using genops::examples::FakeProvider;
using genops::examples::LlmClient;
using genops::examples::Section;
using genops::examples::ValueOrDie;

std::string RandomHex(std::mt19937_64& rng, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < digits; ++i) out += kHex[rng() % 16];
  return out;
}

bool IsHex(const std::string& text, size_t digits) {
  return text.size() == digits && text.find_first_not_of("0123456789abcdef") == std::string::npos &&
         text.find_first_not_of('0') != std::string::npos;
}

// The pieces of "00-<trace>-<span>-<flags>".
struct TraceParent {
  std::string trace_id;
  std::string span_id;
};

TraceParent Parse(const std::string& header) {
  TraceParent out;
  if (header.size() == 55 && header[2] == '-' && header[35] == '-' && header[52] == '-') {
    out.trace_id = header.substr(3, 32);
    out.span_id = header.substr(36, 16);
  }
  return out;
}

int Run() {
  auto provider = ValueOrDie(FakeProvider::Start(), "starting the fake provider");
  LlmClient client(provider->base_url());
  genops::examples::TempDir dir("coexistence");
  const std::string span_file = (dir.path() / "spans.jsonl").string();

  Section("the existing instrumentation's trace context");
  std::mt19937_64 rng(std::random_device{}());
  const std::string existing_trace_id = RandomHex(rng, 32);
  const std::string existing_span_id = RandomHex(rng, 16);
  const std::string existing_traceparent =
      "00-" + existing_trace_id + "-" + existing_span_id + "-01";
  std::cout << "existing workflow span: traceparent " << existing_traceparent << "\n";

  genops::AdapterConfig config;
  config.team = "your-team";
  config.project = "your-project";
  config.exporters = {"file"};
  config.file_path = span_file;
  config.enable_traceloop_platform = false;
  auto adapter = ValueOrDie(genops::instrument_traceloop(config), "instrument_traceloop");

  Section("a governed operation joins that trace");
  std::string op_span_id;
  std::string child_span_id;
  {
    genops::TrackOptions options;
    options.traceparent = existing_traceparent;
    options.provider = "openai";
    options.model = "gpt-4o-mini";
    options.max_output_tokens = 50;
    genops::Operation op = adapter->track_operation("llm_call", "existing_workflow", options);
    op_span_id = op.span_id();
    std::cout << "operation span " << op.span_id() << " in trace " << op.trace_id() << "\n";
    EXPECT_OR_DIE(op.trace_id() == existing_trace_id, "the operation joined the existing trace");
    EXPECT_OR_DIE(op.span_id() != existing_span_id, "with a span of its own");

    // Propagate to the provider, as an instrumented HTTP client would.
    const std::string downstream = op.traceparent();
    std::cout << "downstream traceparent " << downstream << "\n";
    ChatRequest request{.model = "gpt-4o-mini",
                        .messages = {{"user", "existing_function()"}},
                        .max_tokens = 50,
                        .headers = {{"traceparent", downstream}}};
    std::string body = ValueOrDie(client.ChatCompletion(request), "the chat completion");
    genops::examples::OkOrDie(op.record_response("openai", body), "record_response");
    TraceParent received = Parse(provider->last_traceparent());
    EXPECT_OR_DIE(received.trace_id == existing_trace_id,
                  "the provider call is in the same trace: " << provider->last_traceparent());
    EXPECT_OR_DIE(received.span_id == op.span_id(), "and its parent is the GenOps span");

    genops::TrackOptions child_options;
    child_options.parent_span = &op;
    genops::Operation child = adapter->track_operation("tool_call", "lookup_order", child_options);
    EXPECT_OR_DIE(child.trace_id() == existing_trace_id, "children stay in the trace");
    child_span_id = child.span_id();
  }

  Section("a malformed traceparent starts a fresh trace");
  std::string fresh_trace_id;
  {
    genops::TrackOptions options;
    options.traceparent = "not-a-traceparent";
    genops::Operation op = adapter->track_operation("llm_call", "bad_context", options);
    fresh_trace_id = op.trace_id();
    std::cout << "trace " << fresh_trace_id << "\n";
    EXPECT_OR_DIE(IsHex(fresh_trace_id, 32) && fresh_trace_id != existing_trace_id,
                  "a valid new trace id");
  }

  Section("the exported spans");
  genops::examples::FlushOrDie(*adapter);
  auto spans = genops::examples::ReadSpansOrDie(span_file);
  auto op_span = genops::examples::SpanWithId(spans, op_span_id);
  auto child_span = genops::examples::SpanWithId(spans, child_span_id);
  EXPECT_OR_DIE(op_span.has_value() && child_span.has_value(), "both spans exported");
  std::cout << "operation: trace " << op_span->trace_id << " parent " << op_span->parent_span_id
            << "\nchild:     trace " << child_span->trace_id << " parent "
            << child_span->parent_span_id << "\n";
  EXPECT_OR_DIE(op_span->trace_id == existing_trace_id, "exported in the existing trace");
  EXPECT_OR_DIE(op_span->parent_span_id == existing_span_id,
                "its parent is the existing workflow span");
  EXPECT_OR_DIE(
      child_span->trace_id == existing_trace_id && child_span->parent_span_id == op_span_id,
      "the child hangs under the GenOps span");
  EXPECT_OR_DIE(op_span->Text("genops.team") == "your-team" &&
                    op_span->Number("genops.cost.total").value_or(0) > 0,
                "with governance and cost on it");

  adapter->shutdown();
  std::cout << "\nexample coexistence: OK" << std::endl;
  return 0;
}

}  // namespace

int main() { return Run(); }
