// Resource: who is emitting the spans (OTLP Resource + InstrumentationScope).
//
// Built once at start-up from the standard OpenTelemetry variables, so a GenOps process shows up
// in a backend under the service name the operator chose, next to the app's own services:
//   OTEL_SERVICE_NAME          service.name (wins over everything else)
//   OTEL_RESOURCE_ATTRIBUTES   "k=v,k2=v2", keys and values percent-decoded, spaces around them
//                              trimmed; later duplicates win
// plus telemetry.sdk.name=genops, telemetry.sdk.language=cpp, telemetry.sdk.version, which are
// facts about this library and cannot be overridden.
//
// A malformed OTEL_RESOURCE_ATTRIBUTES is an error (naming the variable and the entry), not a
// silently partial resource: attribution dashboards group by these attributes.
//
// Example:
//   absl::StatusOr<ResourceInfo> resource =
//       BuildResource(*Environment::Process(), "genops-gateway");
//
// Thread safety: free functions; thread-safe given a thread-safe Environment.
#ifndef GENOPS_TELEMETRY_RESOURCE_H_
#define GENOPS_TELEMETRY_RESOURCE_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "src/core/environment.h"
#include "src/telemetry/span_data.h"

namespace genops::telemetry {

inline constexpr std::string_view kTelemetrySdkNameValue = "genops";
inline constexpr std::string_view kTelemetrySdkLanguageValue = "cpp";
// Keep in step with project(VERSION) in CMakeLists.txt.
inline constexpr std::string_view kTelemetrySdkVersionValue = "0.1.0";
// service.name when neither the environment nor the caller names one (OpenTelemetry's fallback).
inline constexpr std::string_view kUnknownServiceName = "unknown_service";

// Parses an OTEL_RESOURCE_ATTRIBUTES value into string attributes, in order, duplicates resolved
// (the later entry's value, at the earlier entry's position). Empty entries ("a=1,,b=2") are
// skipped. InvalidArgument naming OTEL_RESOURCE_ATTRIBUTES and the entry for: an entry without
// '=', an empty key, or a '%' not followed by two hex digits.
absl::StatusOr<std::vector<Attribute>> ParseResourceAttributes(std::string_view value);

// The process resource. service.name comes first, then the telemetry.sdk.* attributes, then the
// rest of OTEL_RESOURCE_ATTRIBUTES in order. service.name: OTEL_SERVICE_NAME, else
// service.name from OTEL_RESOURCE_ATTRIBUTES, else `default_service_name`, else
// "unknown_service". scope_name is "genops" and scope_version the SDK version.
absl::StatusOr<ResourceInfo> BuildResource(const Environment& env,
                                           std::string default_service_name);

}  // namespace genops::telemetry

#endif  // GENOPS_TELEMETRY_RESOURCE_H_
