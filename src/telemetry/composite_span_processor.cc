#include "src/telemetry/composite_span_processor.h"

#include <algorithm>
#include <utility>

namespace genops::telemetry {
namespace {

using SteadyClock = std::chrono::steady_clock;

std::vector<std::unique_ptr<SpanProcessor>> WithoutNulls(
    std::vector<std::unique_ptr<SpanProcessor>> processors) {
  std::erase_if(processors, [](const std::unique_ptr<SpanProcessor>& p) { return p == nullptr; });
  return processors;
}

std::chrono::milliseconds Remaining(SteadyClock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
  return std::max(left, std::chrono::milliseconds(0));
}

}  // namespace

CompositeSpanProcessor::CompositeSpanProcessor(
    std::vector<std::unique_ptr<SpanProcessor>> processors)
    : processors_(WithoutNulls(std::move(processors))) {}

CompositeSpanProcessor::~CompositeSpanProcessor() = default;  // children shut themselves down

void CompositeSpanProcessor::OnEnd(SpanData&& span) noexcept {
  if (processors_.empty()) return;
  const size_t last = processors_.size() - 1;
  if (!span.sampled) {
    // Each child counts it as not_sampled; an empty span says that without copying this one.
    for (size_t i = 0; i < last; ++i) {
      SpanData unsampled;
      unsampled.sampled = false;
      processors_[i]->OnEnd(std::move(unsampled));
    }
    processors_[last]->OnEnd(std::move(span));
    return;
  }
  for (size_t i = 0; i < last; ++i) {
    try {
      processors_[i]->OnEnd(SpanData(span));
    } catch (...) {
      // Copying can only fail on allocation; that child loses this span, the others still get it.
    }
  }
  processors_[last]->OnEnd(std::move(span));
}

bool CompositeSpanProcessor::ForceFlush(std::chrono::milliseconds timeout) noexcept {
  const SteadyClock::time_point deadline = SteadyClock::now() + timeout;
  bool all_ok = true;
  for (const auto& processor : processors_) {
    all_ok = processor->ForceFlush(Remaining(deadline)) && all_ok;
  }
  return all_ok;
}

bool CompositeSpanProcessor::Shutdown(std::chrono::milliseconds timeout) noexcept {
  const SteadyClock::time_point deadline = SteadyClock::now() + timeout;
  bool all_ok = true;
  for (const auto& processor : processors_) {
    all_ok = processor->Shutdown(Remaining(deadline)) && all_ok;
  }
  return all_ok;
}

SpanProcessorStats CompositeSpanProcessor::stats() const noexcept {
  SpanProcessorStats total;
  for (const auto& processor : processors_) total += processor->stats();
  return total;
}

}  // namespace genops::telemetry
