// Helpers for the receiver tests: span fixtures, request bodies, a recording sink and a
// harness wiring a receiver to a memory ledger through a real Governor.
//
// Thread safety: RecordingSink is thread-safe; the rest is for one test thread.
#ifndef GENOPS_TESTS_RECEIVER_RECEIVER_TEST_UTIL_H_
#define GENOPS_TESTS_RECEIVER_RECEIVER_TEST_UTIL_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "genops/clock.h"
#include "gtest/gtest.h"
#include "src/core/alerts.h"
#include "src/core/catalog.h"
#include "src/core/cost.h"
#include "src/core/governor.h"
#include "src/export/otlp_json_encoder.h"
#include "src/export/otlp_proto_encoder.h"
#include "src/ledger/memory_ledger.h"
#include "src/receiver/trace_receiver.h"
#include "src/telemetry/span_data.h"

namespace genops::receiver::testing {

using telemetry::Attribute;
using telemetry::AttributeValue;
using telemetry::ResourceInfo;
using telemetry::SpanData;

inline constexpr int64_t kStartNanos = 1'700'000'000'000'000'000;

// A span with ids derived from `n` (trace 0x..n, span n) and the given attributes.
inline SpanData MakeSpan(uint8_t n, std::string name, std::vector<Attribute> attributes,
                         telemetry::SpanKind kind = telemetry::SpanKind::kClient) {
  SpanData s;
  s.trace_id.bytes.fill(0xab);
  s.trace_id.bytes[15] = n;
  s.span_id.bytes.fill(0x11);
  s.span_id.bytes[7] = n;
  s.name = std::move(name);
  s.kind = kind;
  s.start_unix_nanos = kStartNanos + n * 1'000'000;
  s.end_unix_nanos = s.start_unix_nanos + 250'000'000;
  s.attributes = std::move(attributes);
  return s;
}

// Every field of `want` and `got` is equal, event attributes and the origin pointer included.
inline void ExpectIdenticalSpans(const SpanData& want, const SpanData& got) {
  EXPECT_EQ(want.trace_id, got.trace_id);
  EXPECT_EQ(want.span_id, got.span_id);
  EXPECT_EQ(want.parent_span_id, got.parent_span_id);
  EXPECT_EQ(want.trace_state, got.trace_state);
  EXPECT_EQ(want.name, got.name);
  EXPECT_EQ(want.kind, got.kind);
  EXPECT_EQ(want.start_unix_nanos, got.start_unix_nanos);
  EXPECT_EQ(want.end_unix_nanos, got.end_unix_nanos);
  EXPECT_EQ(want.status_code, got.status_code);
  EXPECT_EQ(want.status_message, got.status_message);
  EXPECT_EQ(want.dropped_attributes_count, got.dropped_attributes_count);
  EXPECT_EQ(want.dropped_events_count, got.dropped_events_count);
  EXPECT_EQ(want.sampled, got.sampled);
  EXPECT_EQ(want.origin, got.origin);
  ASSERT_EQ(want.attributes.size(), got.attributes.size()) << want.name;
  for (size_t k = 0; k < want.attributes.size(); ++k) {
    EXPECT_EQ(want.attributes[k].key, got.attributes[k].key) << k;
    EXPECT_EQ(want.attributes[k].value, got.attributes[k].value) << want.attributes[k].key;
  }
  ASSERT_EQ(want.events.size(), got.events.size()) << want.name;
  for (size_t k = 0; k < want.events.size(); ++k) {
    EXPECT_EQ(want.events[k].name, got.events[k].name);
    EXPECT_EQ(want.events[k].time_unix_nanos, got.events[k].time_unix_nanos);
    ASSERT_EQ(want.events[k].attributes.size(), got.events[k].attributes.size());
    for (size_t a = 0; a < want.events[k].attributes.size(); ++a) {
      EXPECT_EQ(want.events[k].attributes[a].key, got.events[k].attributes[a].key);
      EXPECT_EQ(want.events[k].attributes[a].value, got.events[k].attributes[a].value);
    }
  }
}

inline ResourceInfo MakeResource(std::vector<Attribute> attributes, std::string scope_name = "",
                                 std::string scope_version = "") {
  ResourceInfo r;
  r.attributes = std::move(attributes);
  r.scope_name = std::move(scope_name);
  r.scope_version = std::move(scope_version);
  return r;
}

inline std::string ProtoBody(const std::vector<SpanData>& spans, const ResourceInfo& resource) {
  return exporter::EncodeOtlpProto(spans, resource);
}
inline std::string JsonBody(const std::vector<SpanData>& spans, const ResourceInfo& resource) {
  return exporter::EncodeOtlpJson(spans, resource);
}

inline const AttributeValue* Find(const SpanData& span, std::string_view key) {
  return span.FindAttribute(key);
}
// The attribute's value, or nullopt (comparable with EXPECT_EQ to an AttributeValue).
inline std::optional<AttributeValue> Get(const SpanData& span, std::string_view key) {
  const AttributeValue* v = span.FindAttribute(key);
  return v == nullptr ? std::nullopt : std::optional<AttributeValue>(*v);
}
inline int CountKey(const SpanData& span, std::string_view key) {
  int n = 0;
  for (const Attribute& a : span.attributes) n += a.key == key ? 1 : 0;
  return n;
}

// Keeps every span it is given, with its resource.
class RecordingSink final : public ReceivedSpanSink {
 public:
  void Consume(const ResourceInfo& resource, std::vector<SpanData>& spans) noexcept override {
    std::lock_guard<std::mutex> lock(mu_);
    for (SpanData& s : spans) {
      resources_.push_back(resource);
      spans_.push_back(std::move(s));
    }
  }
  std::vector<SpanData> spans() const {
    std::lock_guard<std::mutex> lock(mu_);
    return spans_;
  }
  std::vector<ResourceInfo> resources() const {
    std::lock_guard<std::mutex> lock(mu_);
    return resources_;
  }
  void Clear() {
    std::lock_guard<std::mutex> lock(mu_);
    spans_.clear();
    resources_.clear();
  }

 private:
  mutable std::mutex mu_;
  std::vector<SpanData> spans_;
  std::vector<ResourceInfo> resources_;
};

// A receiver over a memory ledger (optionally wrapped, e.g. by FaultyLedger), the built-in
// catalog, a real Governor and a RecordingSink. Operation records go to the ledger's
// operations log and to `records`.
struct Harness {
  // `sink_override`: where accepted spans go instead of `sink` (e.g. a real span processor).
  explicit Harness(GovernanceSettings settings = DefaultSettings(), ReceiverOptions options = {},
                   std::shared_ptr<ledger::Ledger> ledger_override = nullptr,
                   std::shared_ptr<ReceivedSpanSink> sink_override = nullptr) {
    catalog = std::shared_ptr<const pricing::Catalog>(pricing::Catalog::Builtin().value());
    ledger = ledger_override != nullptr
                 ? std::move(ledger_override)
                 : std::shared_ptr<ledger::Ledger>(ledger::NewMemoryLedger(&clock));
    alert_sink = std::make_shared<RecordingAlertSink>();
    alerts = std::make_shared<AlertDispatcher>();
    alerts->AddSink(alert_sink);
    auto g = Governor::Create(std::move(settings), catalog, ledger, alerts, nullptr, &clock);
    EXPECT_TRUE(g.ok()) << g.status();
    governor = std::shared_ptr<Governor>(std::move(*g));
    sink = std::make_shared<RecordingSink>();
    ReceiverDependencies deps;
    deps.catalog = catalog;
    deps.governor = governor;
    deps.sink = sink_override != nullptr ? std::move(sink_override) : sink;
    deps.clock = &clock;
    deps.records = [this](std::unique_ptr<OperationRecord>& r) {
      std::lock_guard<std::mutex> lock(records_mu);
      (void)ledger->AppendOperations({*r});  // may fail while a FaultyLedger is down
      records.push_back(*r);  // a copy: the receiver writes its next record over *r
    };
    auto r = OtlpTraceReceiver::Create(std::move(options), std::move(deps));
    EXPECT_TRUE(r.ok()) << r.status();
    receiver = std::move(*r);
  }

  static GovernanceSettings DefaultSettings() {
    GovernanceSettings s;
    s.level = PolicyLevel::kAdvisory;
    s.defaults.team = "default-team";
    s.defaults.project = "default-project";
    return s;
  }

  // What the catalog says `usage` costs on `model` of `provider`.
  Money Cost(std::string_view provider, std::string_view model, const Usage& usage) const {
    const pricing::ModelPricing* m = catalog->Find(provider, model);
    EXPECT_NE(m, nullptr) << provider << "/" << model;
    return m == nullptr ? Money() : pricing::ComputeCost(*m, usage).total;
  }

  Money TotalSpent() const { return ledger->TotalSpent().value(); }

  ManualClock clock;
  std::shared_ptr<const pricing::Catalog> catalog;
  std::shared_ptr<ledger::Ledger> ledger;
  std::shared_ptr<RecordingAlertSink> alert_sink;
  std::shared_ptr<AlertDispatcher> alerts;
  std::shared_ptr<Governor> governor;
  std::shared_ptr<RecordingSink> sink;
  std::mutex records_mu;
  std::vector<OperationRecord> records;
  std::unique_ptr<OtlpTraceReceiver> receiver;
};

}  // namespace genops::receiver::testing

#endif  // GENOPS_TESTS_RECEIVER_RECEIVER_TEST_UTIL_H_
