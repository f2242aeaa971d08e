// `genops serve`: runs the gateway and/or the OTLP receiver from a configuration file until
// SIGINT or SIGTERM, then drains in-flight requests and flushes what is owed.
//
//   genops serve --config genops.yaml
//   genops serve --config genops.yaml --listen 127.0.0.1:0
//
// Once everything accepts (with the real port for :0) it prints one line per listener:
//   genops serve: gateway listening on http://HOST:PORT
//   genops serve: OTLP/HTTP receiver listening on http://HOST:PORT/v1/traces
//   genops serve: OTLP/gRPC receiver listening on HOST:PORT
// then how to point an application at them. Exit codes: 0 stopped by a signal, 1 could not
// start (bad ledger, address in use, ...), 2 usage or configuration error.
#include <malloc.h>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "genops/money.h"
#include "src/cli/commands.h"
#include "src/core/environment.h"
#include "src/core/text.h"
#include "src/server/config_file.h"
#include "src/server/serve.h"

namespace genops::cli {
namespace {

struct ServeCliOptions {
  std::string config_path;
  std::string listen;
  int grace_seconds = 30;
  bool quiet = false;
};

constexpr char kServeFooter[] = R"(
Gateway (gateway.enabled, default true): point an application at it by changing only its
base URL:
  OPENAI_BASE_URL=http://HOST:PORT/v1      (OpenAI SDKs; also any OpenAI-compatible client)
  ANTHROPIC_BASE_URL=http://HOST:PORT      (Anthropic SDKs)
and give it a GenOps virtual key as its API key (`genops keys create --team T --project P`),
or its own provider key when gateway.allow_passthrough_keys is true.

Attribution headers: x-genops-team, -project, -environment, -customer-id, -cost-center,
-feature, -tags (k=v,k2=v2), -max-cost (USD), -priority, -approval, -provider.
Health: GET /health (alive) and GET /ready (accepting). Admin API (approvals, metrics):
/genops/admin/... with the token from GENOPS_ADMIN_TOKEN. See docs/gateway.md.

OTLP receiver (receiver.enabled, default false): applications instrumented with OpenLLMetry
or OpenTelemetry export to it instead of their backend; LLM spans are priced, attributed and
charged, and every span is forwarded to export.exporters:
  TRACELOOP_BASE_URL=http://HOST:4318                 (Traceloop / OpenLLMetry SDKs)
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://HOST:4318/v1/traces   (OTLP/HTTP)
  OTEL_EXPORTER_OTLP_ENDPOINT=http://HOST:4317 with the grpc protocol   (OTLP/gRPC)
Prometheus metrics (received, charged, rejected, dropped spans): GET /metrics on the OTLP/HTTP
address. See docs/receiver.md.
)";

// Bounds glibc's malloc arenas to one per core before the daemon starts its threads.
// glibc gives each new thread an arena of its own, up to 8 per core, and the daemon runs
// dozens of threads (io loops, governance workers, a settlement pool of 64 or more, export),
// so the same heap spreads over 16 arenas on 2 cores, each with its own free lists and
// slack that is never returned. Measured with bench/gateway_load.sh (32 connections, SQLite
// synchronous=full, 2 cores): 4-5 MB less resident memory with 2 arenas than with 16, CPU
// per request within the run-to-run noise (about 5%); only as many threads as there are
// cores allocate at any instant. MALLOC_ARENA_MAX in the environment, when set, wins (glibc
// applied it at the first allocation). A binary linked with jemalloc (GENOPS_JEMALLOC) sets
// its arenas in allocator_config.cc instead.
void BoundMallocArenas(const Environment& env) {
#if defined(M_ARENA_MAX) && !defined(GENOPS_JEMALLOC)
  if (env.Get("MALLOC_ARENA_MAX").has_value()) return;
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  mallopt(M_ARENA_MAX, std::max(2, cores));
#else
  (void)env;
#endif
}

int RunServe(const ServeCliOptions& o) {
  BoundMallocArenas(*Environment::Process());
  server::FileConfig config;
  if (!o.config_path.empty()) {
    auto loaded = server::LoadConfigFile(o.config_path);
    if (!loaded.ok()) {
      std::fprintf(stderr, "genops serve: %s\n", std::string(loaded.status().message()).c_str());
      return 2;
    }
    config = std::move(*loaded);
  }
  if (o.grace_seconds < 0) {
    std::fprintf(stderr, "genops serve: --grace-seconds must be >= 0\n");
    return 2;
  }
  // Block the stop signals before any thread exists, so only sigwait() below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  server::DaemonOverrides overrides;
  if (!o.listen.empty()) overrides.gateway_listen = o.listen;
  auto daemon = server::Daemon::Start(config, overrides);
  if (!daemon.ok()) {
    std::fprintf(stderr, "genops serve: %s\n", std::string(daemon.status().message()).c_str());
    return absl::IsInvalidArgument(daemon.status()) || absl::IsUnimplemented(daemon.status()) ? 2
                                                                                              : 1;
  }
  const std::string url = (*daemon)->gateway_url();
  const std::string otlp_http = (*daemon)->otlp_http_url();
  const std::string otlp_base = (*daemon)->otlp_http_base_url();
  const std::string otlp_grpc = (*daemon)->otlp_grpc_address();
  if (!url.empty()) std::printf("genops serve: gateway listening on %s\n", url.c_str());
  if (!otlp_http.empty()) {
    std::printf("genops serve: OTLP/HTTP receiver listening on %s\n", otlp_http.c_str());
  }
  if (!otlp_grpc.empty()) {
    std::printf("genops serve: OTLP/gRPC receiver listening on %s\n", otlp_grpc.c_str());
  }
  if (!o.quiet) {
    if (!url.empty()) {
      std::printf(
          "  OpenAI SDKs:    OPENAI_BASE_URL=%s/v1\n"
          "  Anthropic SDKs: ANTHROPIC_BASE_URL=%s\n",
          url.c_str(), url.c_str());
    }
    if (!otlp_http.empty()) {
      std::printf(
          "  OpenLLMetry:    TRACELOOP_BASE_URL=%s\n"
          "  OpenTelemetry:  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=%s\n"
          "  metrics:        %s\n",
          otlp_base.c_str(), otlp_http.c_str(), (otlp_base + "/metrics").c_str());
    }
    std::printf(
        "  ledger:         %s\n"
        "  stop with Ctrl-C (in-flight requests finish first)\n",
        config.adapter.ledger_url.c_str());
  }
  std::fflush(stdout);
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  std::fprintf(stderr, "genops serve: signal %d, draining (up to %d s)\n", signal_number,
               o.grace_seconds);
  (*daemon)->Shutdown(absl::Seconds(o.grace_seconds));
  if (auto* gw = (*daemon)->gateway()) {
    const gateway::GatewayStats s = gw->stats();
    std::fprintf(stderr,
                 "genops serve: stopped after %llu requests (%llu refused, %llu overloaded, "
                 "%llu upstream errors)\n",
                 static_cast<unsigned long long>(s.requests),
                 static_cast<unsigned long long>(s.refused),
                 static_cast<unsigned long long>(s.overloaded),
                 static_cast<unsigned long long>(s.upstream_errors));
  }
  if (auto* receiver = (*daemon)->receiver()) {
    const receiver::ReceiverStats s = receiver->stats();
    std::fprintf(stderr,
                 "genops serve: receiver took %llu export requests, %llu spans (%llu LLM spans "
                 "priced, %llu of them redelivered, %llu unpriced, %llu rejected); %s USD "
                 "charged\n",
                 static_cast<unsigned long long>(s.requests),
                 static_cast<unsigned long long>(s.spans_received),
                 static_cast<unsigned long long>(s.priced_spans),
                 static_cast<unsigned long long>(s.redelivered_spans),
                 static_cast<unsigned long long>(s.unpriced_spans),
                 static_cast<unsigned long long>(s.spans_rejected),
                 Money::FromNanos(s.charged_nanos).ToUsdString().c_str());
  }
  return 0;
}

}  // namespace

void RegisterServeCommand(CLI::App& app, CommandRegistry& registry) {
  auto options = std::make_shared<ServeCliOptions>();
  CLI::App* sub = app.add_subcommand(
      "serve",
      "Run the governance gateway (OpenAI/Anthropic-compatible) and/or the OTLP receiver "
      "(OpenLLMetry/OpenTelemetry) from a config file");
  sub->add_option("--config", options->config_path,
                  "Configuration file (YAML, see docs/configuration.md); defaults apply "
                  "without one")
      ->check(CLI::ExistingFile);
  sub->add_option("--listen", options->listen,
                  "Gateway address host:port, overriding gateway.listen (port 0 picks one)");
  sub->add_option("--grace-seconds", options->grace_seconds,
                  "On SIGINT/SIGTERM, how long in-flight requests may take to finish")
      ->capture_default_str();
  sub->add_flag("--quiet", options->quiet, "Print only the listening line");
  sub->footer(kServeFooter);
  registry.Add(sub, [options] { return RunServe(*options); });
}

}  // namespace genops::cli
