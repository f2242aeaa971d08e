// CountFields<T>(): the number of fields of an aggregate T, at compile time.
//
// Why: hot paths that recycle objects reset them field by field (much cheaper than assigning a
// fresh value: clear() keeps a string's buffer), and a field added later without being reset
// there would carry one use's data into the next. A static_assert on the count next to such a
// reset makes that a compile error instead.
//
// How (the technique of Boost.PFR): the largest n for which T{AnyField x n} compiles, where
// AnyField converts to a prvalue of any type (so move-only fields count too). Nested aggregates
// count as one field each. Not for classes with base classes or reference members.
//
// Example:
//   static_assert(CountFields<SpanData>() == 15, "a field was added: reset it here");
//
// Thread safety: compile-time only.
#ifndef GENOPS_TELEMETRY_AGGREGATE_FIELDS_H_
#define GENOPS_TELEMETRY_AGGREGATE_FIELDS_H_

#include <cstddef>

namespace genops::telemetry {
namespace aggregate_fields_internal {

struct AnyField {
  template <typename T>
  operator T() const&& noexcept;  // NOLINT: only ever named in unevaluated contexts
};

}  // namespace aggregate_fields_internal

template <typename T, typename... Fields>
constexpr size_t CountFields() {
  using aggregate_fields_internal::AnyField;
  if constexpr (requires { T{Fields{}..., AnyField{}}; }) {
    return CountFields<T, Fields..., AnyField>();
  } else {
    return sizeof...(Fields);
  }
}

}  // namespace genops::telemetry

#endif  // GENOPS_TELEMETRY_AGGREGATE_FIELDS_H_
