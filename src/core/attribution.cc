// Attribution merging and dimension lookup (see include/genops/attribution.h).
#include "genops/attribution.h"

#include <optional>
#include <string>
#include <string_view>

namespace genops {
namespace {

constexpr std::string_view kTagPrefix = "tag:";

void Override(std::string& field, const std::string& value) {
  if (!value.empty()) field = value;
}

}  // namespace

Attribution Attribution::MergedWith(const Attribution& overrides) const {
  Attribution merged = *this;
  Override(merged.team, overrides.team);
  Override(merged.project, overrides.project);
  Override(merged.environment, overrides.environment);
  Override(merged.customer_id, overrides.customer_id);
  Override(merged.cost_center, overrides.cost_center);
  Override(merged.feature, overrides.feature);
  for (const auto& [key, value] : overrides.tags) merged.tags[key] = value;
  return merged;
}

std::optional<std::string_view> Attribution::Dimension(std::string_view name) const {
  if (name == "team") return team;
  if (name == "project") return project;
  if (name == "environment") return environment;
  if (name == "customer_id") return customer_id;
  if (name == "cost_center") return cost_center;
  if (name == "feature") return feature;
  if (name.size() > kTagPrefix.size() && name.substr(0, kTagPrefix.size()) == kTagPrefix) {
    auto it = tags.find(std::string(name.substr(kTagPrefix.size())));
    // A known dimension whose tag is absent reads as empty, like an unset field.
    if (it == tags.end()) return std::string_view();
    return std::string_view(it->second);
  }
  return std::nullopt;
}

bool Attribution::IsKnownDimension(std::string_view name) {
  return name == "team" || name == "project" || name == "environment" || name == "customer_id" ||
         name == "cost_center" || name == "feature" ||
         (name.size() > kTagPrefix.size() && name.substr(0, kTagPrefix.size()) == kTagPrefix);
}

}  // namespace genops
