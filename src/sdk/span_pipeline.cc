#include "src/sdk/span_pipeline.h"

#include <atomic>
#include <iostream>

#include "src/core/text.h"
#include "src/export/console_exporter.h"
#include "src/export/file_exporter.h"
#include "src/export/http_transport.h"
#include "src/export/otlp_http_exporter.h"
#include "src/telemetry/batch_span_processor.h"
#include "src/telemetry/resource.h"
#include "src/telemetry/sampler.h"
#include "src/telemetry/simple_span_processor.h"
#include "src/telemetry/span_limits.h"
#include "src/telemetry/span_processor.h"

namespace genops::sdk {
namespace {

// Hides the TRACELOOP_* variables when the configuration turns the platform off.
class WithoutTraceloop final : public Environment {
 public:
  explicit WithoutTraceloop(const Environment& base) : base_(base) {}
  std::optional<std::string> Get(std::string_view name) const override {
    if (name.substr(0, 10) == "TRACELOOP_") return std::nullopt;
    return base_.Get(name);
  }

 private:
  const Environment& base_;
};

// Exports one batch to several exporters (otlp + file, ...). Export() is called by one
// processor thread at a time, as the SpanExporter contract says.
class FanOutExporter final : public exporter::SpanExporter {
 public:
  explicit FanOutExporter(std::vector<std::unique_ptr<exporter::SpanExporter>> exporters)
      : exporters_(std::move(exporters)) {}
  exporter::ExportResult Export(std::span<const telemetry::SpanData> spans) noexcept override {
    exporter::ExportResult result = exporter::ExportResult::kSuccess;
    for (auto& e : exporters_) {
      if (e->Export(spans) != exporter::ExportResult::kSuccess) {
        result = exporter::ExportResult::kFailure;
      }
    }
    return result;
  }
  bool ForceFlush(std::chrono::milliseconds timeout) noexcept override {
    bool ok = true;
    for (auto& e : exporters_) ok = e->ForceFlush(timeout) && ok;
    return ok;
  }
  bool Shutdown(std::chrono::milliseconds timeout) noexcept override {
    bool ok = true;
    for (auto& e : exporters_) ok = e->Shutdown(timeout) && ok;
    return ok;
  }
  std::string_view name() const noexcept override { return "fan_out"; }

 private:
  std::vector<std::unique_ptr<exporter::SpanExporter>> exporters_;
};

// Swallows spans: the pipeline when no exporter is configured.
class NullExporter final : public exporter::SpanExporter {
 public:
  exporter::ExportResult Export(std::span<const telemetry::SpanData>) noexcept override {
    return exporter::ExportResult::kSuccess;
  }
  bool Shutdown(std::chrono::milliseconds) noexcept override { return true; }
  std::string_view name() const noexcept override { return "none"; }
};

class SpanPipelineImpl final : public SpanPipeline {
 public:
  SpanPipelineImpl(std::unique_ptr<telemetry::GenOpsSampler> sampler, telemetry::SpanLimits limits,
                   std::unique_ptr<telemetry::SpanProcessor> processor,
                   telemetry::ResourceInfo resource, bool exporting)
      : sampler_(std::move(sampler)),
        limits_(limits),
        processor_(std::move(processor)),
        resource_(std::move(resource)),
        exporting_(exporting) {}

  ~SpanPipelineImpl() override { Shutdown(std::chrono::milliseconds(5000)); }

  bool ShouldExport(const telemetry::TraceId& trace_id, std::optional<bool> inherited_sampled,
                    bool is_error, bool high_priority) noexcept override {
    if (!exporting_) return false;
    telemetry::SamplingInput input;
    input.trace_id = trace_id;
    if (inherited_sampled.has_value()) {
      input.parent = telemetry::ParentSamplingState{*inherited_sampled, true};
    }
    input.is_error = is_error;
    input.high_priority = high_priority;
    return sampler_->Sample(input).sampled;
  }

  void Submit(telemetry::SpanData&& span) noexcept override {
    submitted_.fetch_add(1, std::memory_order_relaxed);
    telemetry::ApplyLimits(limits_, span);
    processor_->OnEnd(std::move(span));
  }

  void CountUnsampled() noexcept override { unsampled_.fetch_add(1, std::memory_order_relaxed); }

  bool Flush(std::chrono::milliseconds timeout) noexcept override {
    return processor_->ForceFlush(timeout);
  }

  void Shutdown(std::chrono::milliseconds timeout) noexcept override {
    if (shut_down_.exchange(true)) return;
    processor_->Shutdown(timeout);
  }

  PipelineStats stats() const noexcept override {
    PipelineStats s;
    const telemetry::SpanProcessorStats p = processor_->stats();
    s.submitted = submitted_.load(std::memory_order_relaxed);
    s.unsampled = unsampled_.load(std::memory_order_relaxed);
    s.exported = static_cast<int64_t>(p.exported);
    s.dropped =
        static_cast<int64_t>(p.dropped_queue_full + p.dropped_after_shutdown + p.failed_spans);
    return s;
  }

  const telemetry::ResourceInfo& resource() const noexcept override { return resource_; }

 private:
  std::unique_ptr<telemetry::GenOpsSampler> sampler_;
  telemetry::SpanLimits limits_;
  std::unique_ptr<telemetry::SpanProcessor> processor_;
  telemetry::ResourceInfo resource_;
  const bool exporting_;
  std::atomic<int64_t> submitted_{0};
  std::atomic<int64_t> unsampled_{0};
  std::atomic<bool> shut_down_{false};
};

}  // namespace

absl::StatusOr<exporter::OtlpExporterOptions> OtlpOptionsFor(const ResolvedConfig& settings,
                                                             const Environment& env) {
  const ExportSettings& e = settings.export_settings;
  WithoutTraceloop no_traceloop(env);
  // An explicitly configured endpoint is not the Traceloop platform: its key (a credential)
  // must not be sent there.
  const bool platform_off =
      (e.traceloop_platform.has_value() && !*e.traceloop_platform) || !e.otlp_endpoint.empty();
  const Environment& source = platform_off ? static_cast<const Environment&>(no_traceloop) : env;
  exporter::OtlpExporterOptions base;
  base.timeout = e.export_timeout;
  base.compression = e.otlp_gzip ? exporter::OtlpExporterOptions::Compression::kGzip
                                 : exporter::OtlpExporterOptions::Compression::kNone;
  auto options = exporter::OtlpOptionsFromEnvironment(source, base);
  if (!options.ok()) return options.status();
  // Explicit configuration wins over the environment.
  if (!e.otlp_endpoint.empty()) options->endpoint = e.otlp_endpoint;
  for (const auto& [k, v] : e.otlp_headers) options->headers[k] = v;
  options->retry_attempts = e.retry_attempts;
  options->failover_endpoints = e.failover_endpoints;
  options->circuit_breaker_threshold = e.circuit_breaker_threshold;
  options->circuit_breaker_timeout = e.circuit_breaker_timeout;
  options->health_check_interval = e.health_check_interval;
  if (auto s = options->Validate(); !s.ok()) return s;
  return options;
}

absl::StatusOr<std::unique_ptr<SpanPipeline>> SpanPipeline::Create(
    const ResolvedConfig& settings, const Environment& env, const Clock* clock,
    std::vector<std::unique_ptr<exporter::SpanExporter>> extra) {
  const ExportSettings& e = settings.export_settings;

  telemetry::SamplerConfig sampler_config;
  sampler_config.sampling_rate = settings.sampling.sampling_rate;
  sampler_config.priority_sampling = settings.sampling.priority_sampling;
  sampler_config.error_sampling_rate = settings.sampling.error_sampling_rate;
  auto from_env = telemetry::SamplerConfigFromEnvironment(env, sampler_config);
  if (!from_env.ok()) return from_env.status();
  auto sampler = telemetry::GenOpsSampler::Create(*from_env);
  if (!sampler.ok()) return sampler.status();

  auto resource = telemetry::BuildResource(env, e.service_name);
  if (!resource.ok()) return resource.status();
  if (!e.service_name.empty()) {
    for (auto& attr : resource->attributes) {
      if (attr.key == "service.name") attr.value = e.service_name;
    }
  }

  std::vector<std::unique_ptr<exporter::SpanExporter>> exporters;
  for (const std::string& name : e.exporters) {
    if (name == "otlp" || name == "otlp_json") {
      auto options = OtlpOptionsFor(settings, env);
      if (!options.ok()) return options.status();
      if (name == "otlp_json") {
        options->protocol = exporter::OtlpExporterOptions::Protocol::kHttpJson;
      }
      auto otlp =
          exporter::OtlpHttpExporter::Create(*std::move(options), *resource, nullptr, clock);
      if (!otlp.ok()) return otlp.status();
      exporters.push_back(*std::move(otlp));
    } else if (name == "console") {
      exporters.push_back(std::make_unique<exporter::ConsoleExporter>(std::cout));
    } else if (name == "file") {
      auto file = exporter::FileExporter::Create(e.file_path, *resource);
      if (!file.ok()) {
        return absl::InvalidArgumentError(Cat("file_path: ", file.status().message()));
      }
      exporters.push_back(*std::move(file));
    }
  }
  for (auto& x : extra) exporters.push_back(std::move(x));
  const bool exporting = !exporters.empty();

  std::unique_ptr<exporter::SpanExporter> sink;
  if (exporters.empty()) {
    sink = std::make_unique<NullExporter>();
  } else if (exporters.size() == 1) {
    sink = std::move(exporters.front());
  } else {
    sink = std::make_unique<FanOutExporter>(std::move(exporters));
  }

  std::unique_ptr<telemetry::SpanProcessor> processor;
  if (e.async) {
    telemetry::BatchSpanProcessorOptions options;
    options.span_processor_queue_size = static_cast<size_t>(e.queue_size);
    options.export_batch_size = static_cast<size_t>(e.batch_size);
    options.batch_timeout = e.batch_timeout;
    options.export_timeout = e.export_timeout;
    auto batch = telemetry::BatchSpanProcessor::Create(std::move(sink), options);
    if (!batch.ok()) return batch.status();
    processor = *std::move(batch);
  } else {
    processor = std::make_unique<telemetry::SimpleSpanProcessor>(std::move(sink));
  }

  telemetry::SpanLimits limits;
  limits.max_attribute_length = static_cast<uint32_t>(settings.limits.max_attribute_length);
  limits.max_events_per_span = static_cast<uint32_t>(settings.limits.max_events_per_span);
  return std::unique_ptr<SpanPipeline>(new SpanPipelineImpl(
      *std::move(sampler), limits, std::move(processor), *std::move(resource), exporting));
}

}  // namespace genops::sdk
