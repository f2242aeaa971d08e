// otlp_load_tool: load generator for `genops serve`'s OTLP receiver over real sockets
// (bench/receiver_load.sh). Sends 512-span OpenLLMetry-shaped export requests
// (bench/otlp_load_batches.h, the same bytes as bench/receiver_benchmark.cc) as OTLP/HTTP
// protobuf (or JSON) over keep-alive connections, or as OTLP/gRPC unary calls, from
// --connections concurrent senders, for --duration seconds or --requests requests.
//
// Every request gets fresh trace ids (a counter from a random start, rewritten into the body
// before each send), so every LLM span is a new operation: a redelivery takes the ledger's cheaper
// idempotent path and would flatter the figure. Every answer is checked: HTTP 200 / gRPC OK
// with an ExportTraceServiceResponse that reports no rejected span. Anything else counts as
// an error (the first few are printed) and makes the exit code 1.
//
// Output: one line of key=value pairs on stdout (parsed by the script):
//   requests=N spans=N llm_spans=N errors=N partial=N seconds=S spans_per_second=R
// requests counts every request sent; spans and llm_spans only those of fully accepted ones.
//
// Thread safety: one sending thread per connection; counters are atomics.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <future>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "bench/otlp_load_batches.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "src/core/text.h"
#include "src/gateway/http_client.h"

namespace {

using genops::Cat;
namespace collector = opentelemetry::proto::collector::trace::v1;

constexpr char kGrpcExportMethod[] = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

struct Totals {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> partial{0};
  std::mutex print_mu;
  int printed = 0;
  void Error(const std::string& what) {
    errors.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(print_mu);
    if (printed++ < 5) std::fprintf(stderr, "otlp_load_tool: %s\n", what.c_str());
  }
};

// Checks an ExportTraceServiceResponse body (empty is a valid, empty message).
void CheckResponse(const std::string& body, bool json, Totals& totals) {
  if (json) {
    // The JSON answer is {} or {"partialSuccess":{...}}; any rejection names rejectedSpans.
    if (body.find("rejectedSpans") != std::string::npos ||
        body.find("errorMessage") != std::string::npos) {
      totals.partial.fetch_add(1, std::memory_order_relaxed);
      totals.Error(Cat("partial success: ", body.substr(0, 300)));
    }
    return;
  }
  collector::ExportTraceServiceResponse response;
  if (!response.ParseFromString(body)) {
    totals.Error(Cat("answer is not an ExportTraceServiceResponse (", body.size(), " bytes)"));
    return;
  }
  if (response.has_partial_success() && (response.partial_success().rejected_spans() != 0 ||
                                          !response.partial_success().error_message().empty())) {
    totals.partial.fetch_add(1, std::memory_order_relaxed);
    totals.Error(Cat("partial success: ", response.partial_success().rejected_spans(),
                     " spans rejected: ", response.partial_success().error_message()));
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string protocol = "http";
  std::string target;
  std::string encoding = "proto";
  int connections = 4;
  double duration = 10;
  uint64_t max_requests = 0;
  int llm_percent = 100;
  CLI::App app("OTLP load generator for genops serve's receiver (bench/receiver_load.sh)");
  app.add_option("--protocol", protocol, "http or grpc")->check(CLI::IsMember({"http", "grpc"}));
  app.add_option("--target", target,
                 "http: the /v1/traces URL (http://HOST:PORT/v1/traces); grpc: HOST:PORT")
      ->required();
  app.add_option("--encoding", encoding, "http only: proto or json")
      ->check(CLI::IsMember({"proto", "json"}));
  app.add_option("--connections", connections, "concurrent senders, one connection each")
      ->check(CLI::Range(1, 255));
  app.add_option("--duration", duration, "seconds to send for (ignored with --requests)")
      ->check(CLI::PositiveNumber);
  app.add_option("--requests", max_requests, "send exactly this many requests, then stop");
  app.add_option("--llm-percent", llm_percent, "share of each batch that are LLM spans")
      ->check(CLI::Range(0, 100));
  CLI11_PARSE(app, argc, argv);
  if (protocol == "grpc" && encoding == "json") {
    std::fprintf(stderr, "otlp_load_tool: --encoding json is for --protocol http only\n");
    return 2;
  }
  const bool json = encoding == "json";

  std::unique_ptr<genops::gateway::HttpClient> http;
  if (protocol == "http") {
    genops::gateway::HttpClientOptions options;
    options.io_threads = 1;
    options.proxy = genops::gateway::ProxySettings{};  // loopback: never a proxy
    auto client = genops::gateway::HttpClient::Create(options);
    if (!client.ok()) {
      std::fprintf(stderr, "otlp_load_tool: %s\n", client.status().ToString().c_str());
      return 1;
    }
    http = std::move(*client);
  }

  Totals totals;
  // A random first number: runs of the tool against one ledger never reuse each other's ids.
  std::random_device entropy;
  std::atomic<uint64_t> next_iteration{(uint64_t{entropy()} << 32 | entropy()) & ~uint64_t{0xffff}};
  std::atomic<uint64_t> issued{0};
  const auto start = std::chrono::steady_clock::now();
  const auto deadline =
      start + std::chrono::microseconds(static_cast<int64_t>(duration * 1'000'000));
  // Claims the right to send one more request; false when the run is over.
  auto claim = [&]() {
    if (max_requests > 0) return issued.fetch_add(1, std::memory_order_relaxed) < max_requests;
    return std::chrono::steady_clock::now() < deadline;
  };

  std::vector<std::thread> senders;
  for (int c = 0; c < connections; ++c) {
    senders.emplace_back([&, c] {
      genops::bench::LoadRequest request = genops::bench::MakeLoadRequest(llm_percent, json, c);
      if (protocol == "http") {
        while (claim()) {
          genops::bench::Renumber(request, next_iteration.fetch_add(1));
          genops::gateway::HttpClientRequest r;
          r.method = "POST";
          r.url = target;
          r.headers.Set("Content-Type", json ? "application/json" : "application/x-protobuf");
          r.body = request.body;
          auto response = http->SendSync(std::move(r));
          totals.requests.fetch_add(1, std::memory_order_relaxed);
          if (!response.ok()) {
            totals.Error(Cat("request failed: ", response.status().ToString()));
          } else if (response->status != 200) {
            totals.Error(
                Cat("HTTP ", response->status, ": ", response->body.substr(0, 300)));
          } else {
            CheckResponse(response->body, json, totals);
          }
        }
        return;
      }
      // gRPC: a channel per sender, each on its own TCP connection (no shared subchannel).
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      args.SetInt("genops.load_tool.channel", c);
      args.SetMaxReceiveMessageSize(-1);
      args.SetMaxSendMessageSize(-1);
      auto channel =
          grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
      grpc::GenericStub stub(channel);
      while (claim()) {
        genops::bench::Renumber(request, next_iteration.fetch_add(1));
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
        grpc::Slice slice(request.body);
        grpc::ByteBuffer send(&slice, 1);
        grpc::ByteBuffer receive;
        std::promise<grpc::Status> done;
        stub.UnaryCall(&context, kGrpcExportMethod, grpc::StubOptions(), &send, &receive,
                       [&done](grpc::Status s) { done.set_value(std::move(s)); });
        const grpc::Status status = done.get_future().get();
        totals.requests.fetch_add(1, std::memory_order_relaxed);
        if (!status.ok()) {
          totals.Error(Cat("gRPC status ", static_cast<int>(status.error_code()), ": ",
                           status.error_message()));
          continue;
        }
        std::vector<grpc::Slice> slices;
        std::string body;
        if (receive.Dump(&slices).ok()) {
          for (const grpc::Slice& s : slices) {
            body.append(reinterpret_cast<const char*>(s.begin()), s.size());
          }
        }
        CheckResponse(body, false, totals);
      }
    });
  }
  for (std::thread& t : senders) t.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const uint64_t requests = totals.requests.load();
  // Spans and LLM spans of the requests answered with a full success.
  const uint64_t accepted = requests - std::min(requests, totals.errors.load());
  const uint64_t spans = accepted * genops::bench::kLoadBatchSize;
  const uint64_t llm_spans = accepted * genops::bench::LoadLlmSpansPerBatch(llm_percent);
  std::printf("requests=%llu spans=%llu llm_spans=%llu errors=%llu partial=%llu seconds=%.3f "
              "spans_per_second=%.0f\n",
              static_cast<unsigned long long>(requests), static_cast<unsigned long long>(spans),
              static_cast<unsigned long long>(llm_spans),
              static_cast<unsigned long long>(totals.errors.load()),
              static_cast<unsigned long long>(totals.partial.load()), seconds,
              seconds > 0 ? static_cast<double>(spans) / seconds : 0.0);
  std::fflush(stdout);
  return totals.errors.load() == 0 && requests > 0 ? 0 : 1;
}
