// `genops serve` wiring: one process running the gateway, the OTLP receiver (OTLP/HTTP and
// OTLP/gRPC), or both, over one governance core built from the configuration file.
//
// Why one adapter for everything: the gateway, the receiver and any SDK in the same process
// must charge the same ledger, count the same budgets and export through the same span
// pipeline, so a budget means one thing whichever way the spend came in.
//
//   auto config = server::LoadConfigFile("genops.yaml");
//   auto daemon = server::Daemon::Start(*config, {});
//   ... (*daemon)->gateway_url(), (*daemon)->otlp_http_url() ...
//   (*daemon)->Shutdown();   // drains requests, settles, flushes spans and the operations log
//
// The receiver's OTLP/HTTP listener also answers GET /metrics (Prometheus text: receiver,
// forwarding queue, gateway counters) and GET /health.
//
// Thread safety: Start/Shutdown from one thread; the accessors are thread-safe.
#ifndef GENOPS_SERVER_SERVE_H_
#define GENOPS_SERVER_SERVE_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "genops/adapter.h"
#include "src/core/approvals.h"
#include "src/core/environment.h"
#include "src/core/worker_pool.h"
#include "src/gateway/gateway.h"
#include "src/gateway/http_server.h"
#include "src/ledger/ledger.h"
#include "src/receiver/grpc/otlp_grpc_server.h"
#include "src/receiver/otlp_http_handler.h"
#include "src/receiver/trace_receiver.h"
#include "src/sdk/adapter_impl.h"
#include "src/server/config_file.h"

namespace genops::server {

// The gateway's options from the file: providers (openai and anthropic are always present
// with their public base URLs unless configured), keys read from each api_key_env,
// operation_timeout, limits, admin token. Errors name the key.
absl::StatusOr<gateway::GatewayOptions> GatewayOptionsFromConfig(const FileConfig& config,
                                                                 const Environment& env);

// The receiver's options from the file (limits; attribution defaults come from governance).
receiver::ReceiverOptions ReceiverOptionsFromConfig(const FileConfig& config);

struct DaemonOverrides {
  std::optional<std::string> gateway_listen;  // --listen
};

// Thread safety: see the file comment.
class Daemon {
 public:
  static absl::StatusOr<std::unique_ptr<Daemon>> Start(
      const FileConfig& config, const DaemonOverrides& overrides,
      const Environment& env = *Environment::Process());
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Empty when the gateway is disabled.
  std::string gateway_url() const;
  // "http://HOST:PORT/v1/traces"; empty when the receiver or its HTTP listener is off.
  std::string otlp_http_url() const;
  // "http://HOST:PORT" of the same listener (also /metrics, /health, TRACELOOP_BASE_URL).
  std::string otlp_http_base_url() const;
  // "HOST:PORT"; empty when the receiver or its gRPC listener is off.
  std::string otlp_grpc_address() const;
  gateway::Gateway* gateway() const { return gateway_.get(); }
  receiver::OtlpTraceReceiver* receiver() const { return receiver_.get(); }
  Adapter& adapter() const { return *adapter_; }

  // The Prometheus text served at GET /metrics.
  std::string MetricsText() const;

  // Stops accepting, finishes in-flight requests within `grace`, then flushes settlements,
  // the operations log and spans. Idempotent.
  void Shutdown(absl::Duration grace = absl::Seconds(30));

 private:
  Daemon() = default;
  absl::Status StartReceiver(const FileConfig& config, AdapterImpl& adapter);
  void HandleReceiverHttp(gateway::HttpRequest request,
                          std::shared_ptr<gateway::HttpResponseWriter> writer);

  std::shared_ptr<ledger::Ledger> ledger_;
  std::shared_ptr<ApprovalStore> approvals_;
  std::shared_ptr<AdapterImpl> adapter_;
  std::unique_ptr<gateway::Gateway> gateway_;
  // The receiver: its workers, the protocol-independent core and the two front ends.
  std::unique_ptr<WorkerPool> receiver_workers_;
  std::shared_ptr<receiver::OtlpTraceReceiver> receiver_;
  std::shared_ptr<receiver::OtlpHttpReceiver> otlp_http_;
  std::unique_ptr<gateway::HttpServer> otlp_http_server_;
  std::unique_ptr<receiver::OtlpGrpcServer> otlp_grpc_server_;
  std::string otlp_grpc_address_;
  bool stopped_ = false;
};

}  // namespace genops::server

#endif  // GENOPS_SERVER_SERVE_H_
