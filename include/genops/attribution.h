// Attribution: who an LLM call's spend belongs to.
//
// The dimensions of DESIGN.md §3. Defaults come from configuration, then from the
// GENOPS_TEAM / GENOPS_PROJECT / GENOPS_ENVIRONMENT / GENOPS_CUSTOMER_ID /
// GENOPS_COST_CENTER variables (read in one place: src/core/environment.h); a call site or
// request overrides them with MergedWith().
//
// Example:
//   genops::Attribution base{.team = "platform", .project = "llm-api"};
//   genops::Attribution call = base.MergedWith({.customer_id = "acme"});
//
// Thread safety: a plain value type.
#ifndef GENOPS_ATTRIBUTION_H_
#define GENOPS_ATTRIBUTION_H_

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace genops {

struct Attribution {
  std::string team{};
  std::string project{};
  std::string environment{};
  std::string customer_id{};
  std::string cost_center{};
  std::string feature{};
  std::map<std::string, std::string> tags{};

  // Fields set (non-empty) in `overrides` replace ours; tags are merged key by key.
  Attribution MergedWith(const Attribution& overrides) const;

  // The value of a scope dimension by name: "team", "project", "environment",
  // "customer_id", "cost_center", "feature", or "tag:<key>". nullopt for an unknown name.
  std::optional<std::string_view> Dimension(std::string_view name) const;

  // True for the names Dimension() understands.
  static bool IsKnownDimension(std::string_view name);

  bool operator==(const Attribution&) const = default;
};

}  // namespace genops

#endif  // GENOPS_ATTRIBUTION_H_
