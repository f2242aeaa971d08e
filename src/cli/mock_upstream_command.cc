// `genops mock-upstream`: serves the fake OpenAI/Anthropic API of src/gateway/mock_upstream.h
// until SIGINT or SIGTERM, for demos, load runs and tests that start it as a process.
//
//   genops mock-upstream --listen 127.0.0.1:8089 --latency-ms 50 --stream-chunk-ms 20
//
// Prints "genops mock-upstream listening on http://HOST:PORT" once it accepts connections
// (with the real port when --listen ends in :0). Exit codes: 0 stopped by a signal, 1 the
// server could not start, 2 usage error.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <memory>
#include <string>

#include "src/cli/commands.h"
#include "src/core/text.h"
#include "src/gateway/mock_upstream.h"

namespace genops::cli {
namespace {

struct MockUpstreamCliOptions {
  std::string listen = "127.0.0.1:0";
  int latency_ms = 0;
  int stream_chunk_ms = 0;
  int slow_ms = 5000;
  int threads = 2;
  std::string api_key;
  std::string tls_cert;
  std::string tls_key;
};

constexpr char kFaultHelp[] = R"(
Routes: POST /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/responses (OpenAI),
POST /v1/messages (Anthropic), GET /v1/models. Streaming with "stream": true.

Usage is deterministic: input tokens = max(1, ceil(request text bytes / 4)); output tokens =
min(max_tokens, x-mock-output-tokens or 12). Headers x-mock-cached-tokens,
x-mock-cache-write-tokens and x-mock-reasoning-tokens add those counts.

Faults (model name, or header x-mock-fault: NAME):
  fail-NNN         answer status NNN in the provider's error shape (fail-429 adds Retry-After)
  slow             wait --slow-ms (or x-mock-delay-ms) before answering
  reset            send part of the answer, then reset the connection
  malformed-json   cut JSON body, or one stream event whose data is not JSON
  truncated-sse    the stream stops inside an event (no [DONE] / message_stop / usage)
  no-usage-stream  no usage in the answer or the stream
x-mock-fault-times: N (with x-mock-fault-key: K) applies the fault to the first N requests only.
Per request: x-mock-latency-ms, x-mock-stream-chunk-ms, x-mock-retry-after.
)";

int RunMockUpstream(const MockUpstreamCliOptions& o) {
  if (o.latency_ms < 0 || o.stream_chunk_ms < 0 || o.slow_ms < 0 || o.threads < 1) {
    std::fprintf(stderr,
                 "genops mock-upstream: --latency-ms, --stream-chunk-ms and --slow-ms must be >= 0 "
                 "and --threads >= 1\n");
    return 2;
  }
  if (o.tls_cert.empty() != o.tls_key.empty()) {
    std::fprintf(stderr, "genops mock-upstream: --tls-cert and --tls-key go together\n");
    return 2;
  }
  // Block the stop signals before the server's threads exist, so they inherit the mask and
  // only sigwait() below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto mock =
      gateway::MockUpstream::Start({.listen = o.listen,
                                    .io_threads = o.threads,
                                    .latency = absl::Milliseconds(o.latency_ms),
                                    .stream_chunk_interval = absl::Milliseconds(o.stream_chunk_ms),
                                    .slow_delay = absl::Milliseconds(o.slow_ms),
                                    .api_key = o.api_key,
                                    .tls_cert_file = o.tls_cert,
                                    .tls_key_file = o.tls_key});
  if (!mock.ok()) {
    std::fprintf(stderr, "genops mock-upstream: %s\n",
                 std::string(mock.status().message()).c_str());
    return 1;
  }
  std::printf("genops mock-upstream listening on %s\n", (*mock)->base_url().c_str());
  std::fflush(stdout);
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  (*mock)->Shutdown();
  std::fprintf(stderr, "genops mock-upstream: stopped by signal %d after %zu requests\n",
               signal_number, (*mock)->request_count());
  return 0;
}

}  // namespace

void RegisterMockUpstreamCommand(CLI::App& app, CommandRegistry& registry) {
  auto options = std::make_shared<MockUpstreamCliOptions>();
  CLI::App* sub = app.add_subcommand(
      "mock-upstream", "Serve a fake OpenAI/Anthropic API with deterministic usage and faults");
  sub->add_option("--listen", options->listen,
                  "Address to listen on, host:port (port 0 picks a free port)")
      ->capture_default_str();
  sub->add_option("--latency-ms", options->latency_ms, "Delay before every answer")
      ->capture_default_str();
  sub->add_option("--stream-chunk-ms", options->stream_chunk_ms, "Delay between streamed events")
      ->capture_default_str();
  sub->add_option("--slow-ms", options->slow_ms, "Delay of the 'slow' fault")
      ->capture_default_str();
  sub->add_option("--threads", options->threads, "I/O threads")->capture_default_str();
  sub->add_option("--api-key", options->api_key,
                  "Require this key (Authorization: Bearer KEY or x-api-key: KEY)");
  sub->add_option("--tls-cert", options->tls_cert, "Serve HTTPS with this PEM certificate chain");
  sub->add_option("--tls-key", options->tls_key, "The PEM private key for --tls-cert");
  sub->footer(kFaultHelp);
  registry.Add(sub, [options] { return RunMockUpstream(*options); });
}

}  // namespace genops::cli
