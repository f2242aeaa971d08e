// Pricing catalog parsing and model id resolution (see src/core/catalog.h).
#include "src/core/catalog.h"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "src/core/json_depth.h"
#include "src/core/text.h"

namespace genops::internal {
// Defined in the build-generated builtin_catalog.cc (cmake/embed_file.cmake).
std::string_view BuiltinCatalogJson();
}  // namespace genops::internal

namespace genops::pricing {
namespace {

// ASCII lowercase (model ids and provider names are ASCII).
std::string LowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

using Json = nlohmann::json;

constexpr int kSchemaVersion = 1;
constexpr int kPriceDecimals = 6;
constexpr char kKeySeparator = '\x1F';
constexpr size_t kMaxProviderLength = 32;

// ---------------------------------------------------------------------------------------
// Parsing

// Collects the "where" of an error: "file: models[3] (gpt-4o): prices.input: ...".
class ErrorContext {
 public:
  explicit ErrorContext(std::string_view source) : source_(source) {}
  void SetEntry(size_t index, std::string_view id) {
    entry_ = id.empty() ? Cat("models[", index, "]") : Cat("models[", index, "] (", id, ")");
  }
  absl::Status Error(std::string_view field, std::string_view message) const {
    std::string where(source_);
    if (!entry_.empty()) where += Cat(": ", entry_);
    if (!field.empty()) where += Cat(": ", field);
    return absl::InvalidArgumentError(Cat(where, ": ", message));
  }

 private:
  std::string_view source_;
  std::string entry_;
};

std::string Shown(const Json& value) {
  std::string s = value.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

// "2.50" -> 2'500'000 micro-USD. At most six decimals; never rounds.
absl::StatusOr<int64_t> ParsePrice(const ErrorContext& ctx, std::string_view field,
                                   const Json& value) {
  auto bad = [&](std::string_view why) {
    return ctx.Error(field,
                     Cat("expected a decimal string like \"2.50\"", why, ", got ", Shown(value)));
  };
  if (!value.is_string()) return bad("");
  const std::string& text = value.get_ref<const std::string&>();
  std::string_view s = text;
  size_t dot = s.find('.');
  std::string_view int_part = s.substr(0, dot);
  std::string_view frac_part =
      dot == std::string_view::npos ? std::string_view() : s.substr(dot + 1);
  if (int_part.empty()) return bad(" (USD per 1M tokens, with a leading digit)");
  if (dot != std::string_view::npos && frac_part.empty()) return bad(" (digits after the '.')");
  for (std::string_view part : {int_part, frac_part}) {
    for (char c : part) {
      if (c < '0' || c > '9') return bad(" (non-negative, digits and one '.')");
    }
  }
  if (frac_part.size() > static_cast<size_t>(kPriceDecimals)) {
    return bad(" (at most 6 decimals: prices are held in micro-USD per 1M tokens)");
  }
  if (int_part.size() > 9) return bad(" (implausibly large)");
  int64_t micros = 0;
  for (char c : int_part) micros = micros * 10 + (c - '0');
  for (int i = 0; i < kPriceDecimals; ++i) {
    micros = micros * 10 + (static_cast<size_t>(i) < frac_part.size() ? frac_part[i] - '0' : 0);
  }
  return micros;
}

absl::StatusOr<int64_t> ParseOptionalPrice(const ErrorContext& ctx, std::string_view field,
                                           const Json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return kNoPrice;
  return ParsePrice(ctx, field, *it);
}

// An integer >= `min`.
absl::StatusOr<int64_t> ParseInt(const ErrorContext& ctx, std::string_view field, const Json& value,
                                 int64_t min) {
  bool ok = value.is_number_integer() && value.get<int64_t>() >= min &&
            !(value.is_number_unsigned() &&
              value.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()));
  if (!ok) {
    return ctx.Error(field, Cat(min > 0 ? "expected a positive integer, got "
                                        : "expected a non-negative integer, got ",
                                Shown(value)));
  }
  return value.get<int64_t>();
}

absl::StatusOr<std::string> ParseString(const ErrorContext& ctx, std::string_view field,
                                        const Json& value, bool required) {
  if (!value.is_string()) {
    return ctx.Error(field, Cat("expected a string, got ", Shown(value)));
  }
  std::string s = value.get<std::string>();
  if (required && s.empty()) return ctx.Error(field, "must not be empty");
  return s;
}

absl::Status CheckKeys(const ErrorContext& ctx, std::string_view where, const Json& object,
                       std::initializer_list<std::string_view> allowed) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (std::find(allowed.begin(), allowed.end(), it.key()) == allowed.end()) {
      return ctx.Error(Cat(where, where.empty() ? "" : ".", it.key()),
                       Cat("unknown field; allowed fields are ", Join(allowed, ", ")));
    }
  }
  return absl::OkStatus();
}

bool IsValidProviderName(std::string_view p) {
  if (p.empty() || p.size() > kMaxProviderLength) return false;
  return std::all_of(p.begin(), p.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool IsDate(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

// Parses the price fields of `object` (the entry's "prices" or one tier).
absl::Status ParsePrices(const ErrorContext& ctx, std::string_view where, const Json& object,
                         TokenPrices& out) {
  for (const char* required : {"input", "output"}) {
    if (!object.contains(required)) {
      return ctx.Error(Cat(where, ".", required), "missing (USD per 1M tokens)");
    }
  }
  auto set = [&](const char* key, bool optional, int64_t& field) -> absl::Status {
    std::string name = Cat(where, ".", key);
    absl::StatusOr<int64_t> v = optional ? ParseOptionalPrice(ctx, name, object, key)
                                         : ParsePrice(ctx, name, object.at(key));
    if (!v.ok()) return v.status();
    field = *v;
    return absl::OkStatus();
  };
  if (auto s = set("input", false, out.input); !s.ok()) return s;
  if (auto s = set("output", false, out.output); !s.ok()) return s;
  if (auto s = set("cache_read", true, out.cache_read); !s.ok()) return s;
  if (auto s = set("cache_write", true, out.cache_write); !s.ok()) return s;
  if (auto s = set("reasoning", true, out.reasoning); !s.ok()) return s;
  return absl::OkStatus();
}

absl::StatusOr<ModelPricing> ParseEntry(ErrorContext& ctx, size_t index, const Json& entry) {
  ctx.SetEntry(index, "");
  if (!entry.is_object()) {
    return ctx.Error("", Cat("expected an object, got ", Shown(entry)));
  }
  if (auto it = entry.find("id"); it != entry.end() && it->is_string()) {
    ctx.SetEntry(index, it->get_ref<const std::string&>());
  }
  if (auto s = CheckKeys(ctx, "", entry,
                         {"provider", "id", "kind", "aliases", "prices", "tiers",
                          "default_max_output_tokens", "as_of", "source"});
      !s.ok()) {
    return s;
  }
  for (const char* required : {"provider", "id", "prices"}) {
    if (!entry.contains(required)) return ctx.Error(required, "missing required field");
  }
  ModelPricing m;
  absl::StatusOr<std::string> provider = ParseString(ctx, "provider", entry["provider"], true);
  if (!provider.ok()) return provider.status();
  if (!IsValidProviderName(*provider)) {
    return ctx.Error("provider",
                     Cat("\"", *provider,
                         "\" is not a provider name (lowercase letters, digits and '_', "
                         "e.g. openai, anthropic, google, aws_bedrock)"));
  }
  m.provider = *std::move(provider);
  absl::StatusOr<std::string> id = ParseString(ctx, "id", entry["id"], true);
  if (!id.ok()) return id.status();
  if (id->size() > Catalog::kMaxModelIdLength) {
    return ctx.Error("id", Cat("longer than ", Catalog::kMaxModelIdLength, " characters"));
  }
  m.id = *std::move(id);
  m.kind = "chat";
  if (auto it = entry.find("kind"); it != entry.end()) {
    absl::StatusOr<std::string> kind = ParseString(ctx, "kind", *it, true);
    if (!kind.ok()) return kind.status();
    if (*kind != "chat" && *kind != "embedding") {
      return ctx.Error("kind", Cat("expected \"chat\" or \"embedding\", got \"", *kind, "\""));
    }
    m.kind = *std::move(kind);
  }
  if (auto it = entry.find("aliases"); it != entry.end() && !it->is_null()) {
    if (!it->is_array()) {
      return ctx.Error("aliases", Cat("expected an array of strings, got ", Shown(*it)));
    }
    for (size_t i = 0; i < it->size(); ++i) {
      absl::StatusOr<std::string> alias = ParseString(ctx, Cat("aliases[", i, "]"), (*it)[i], true);
      if (!alias.ok()) return alias.status();
      if (alias->size() > Catalog::kMaxModelIdLength) {
        return ctx.Error(Cat("aliases[", i, "]"), "too long");
      }
      m.aliases.push_back(*std::move(alias));
    }
  }
  const Json& prices = entry["prices"];
  if (!prices.is_object()) {
    return ctx.Error("prices", Cat("expected an object, got ", Shown(prices)));
  }
  if (auto s = CheckKeys(ctx, "prices", prices,
                         {"input", "output", "cache_read", "cache_write", "reasoning"});
      !s.ok()) {
    return s;
  }
  if (auto s = ParsePrices(ctx, "prices", prices, m.prices); !s.ok()) return s;
  if (auto it = entry.find("tiers"); it != entry.end() && !it->is_null()) {
    if (!it->is_array()) {
      return ctx.Error("tiers", Cat("expected an array, got ", Shown(*it)));
    }
    for (size_t i = 0; i < it->size(); ++i) {
      std::string where = Cat("tiers[", i, "]");
      const Json& t = (*it)[i];
      if (!t.is_object()) {
        return ctx.Error(where, Cat("expected an object, got ", Shown(t)));
      }
      if (auto s = CheckKeys(
              ctx, where, t,
              {"above_input_tokens", "input", "output", "cache_read", "cache_write", "reasoning"});
          !s.ok()) {
        return s;
      }
      if (!t.contains("above_input_tokens")) {
        return ctx.Error(Cat(where, ".above_input_tokens"), "missing");
      }
      PriceTier tier;
      absl::StatusOr<int64_t> above =
          ParseInt(ctx, Cat(where, ".above_input_tokens"), t["above_input_tokens"], 1);
      if (!above.ok()) return above.status();
      tier.above_input_tokens = *above;
      if (!m.tiers.empty() && tier.above_input_tokens <= m.tiers.back().above_input_tokens) {
        return ctx.Error(Cat(where, ".above_input_tokens"),
                         "tiers must be in strictly ascending order of above_input_tokens");
      }
      if (auto s = ParsePrices(ctx, where, t, tier.prices); !s.ok()) return s;
      m.tiers.push_back(std::move(tier));
    }
  }
  if (auto it = entry.find("default_max_output_tokens"); it != entry.end()) {
    absl::StatusOr<int64_t> v = ParseInt(ctx, "default_max_output_tokens", *it, 0);
    if (!v.ok()) return v.status();
    m.default_max_output_tokens = *v;
  }
  if (auto it = entry.find("as_of"); it != entry.end() && !it->is_null()) {
    absl::StatusOr<std::string> as_of = ParseString(ctx, "as_of", *it, true);
    if (!as_of.ok()) return as_of.status();
    if (!IsDate(*as_of)) {
      return ctx.Error("as_of", Cat("expected a date YYYY-MM-DD, got \"", *as_of, "\""));
    }
    m.as_of = *std::move(as_of);
  }
  if (auto it = entry.find("source"); it != entry.end() && !it->is_null()) {
    absl::StatusOr<std::string> source = ParseString(ctx, "source", *it, false);
    if (!source.ok()) return source.status();
    m.source = *std::move(source);
  }
  return m;
}

// ---------------------------------------------------------------------------------------
// Resolution helpers. All work on lowercase string_views; none allocates.

bool IsDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}

// Strips one "provider/" style prefix ("openai/gpt-4o", "models/gemini-2.5-pro").
bool StripPathPrefix(std::string_view& s) {
  static constexpr std::string_view kPrefixes[] = {
      "openai/",      "anthropic/", "models/",   "google/", "gemini/",  "vertex_ai/", "bedrock/",
      "aws_bedrock/", "groq/",      "deepseek/", "xai/",    "mistral/", "mistralai/", "cohere/"};
  for (std::string_view p : kPrefixes) {
    if (StartsWith(s, p) && s.size() > p.size()) {
      s.remove_prefix(p.size());
      return true;
    }
  }
  return false;
}

// Strips a Bedrock cross-region inference prefix ("us.anthropic.claude-...").
bool StripRegionPrefix(std::string_view& s) {
  static constexpr std::string_view kPrefixes[] = {"us.", "eu.", "apac.", "global.",
                                                   "jp.", "au.", "ca.",   "us-gov."};
  for (std::string_view p : kPrefixes) {
    if (StartsWith(s, p) && s.size() > p.size()) {
      s.remove_prefix(p.size());
      return true;
    }
  }
  return false;
}

// Strips a Bedrock vendor prefix ("anthropic.claude-sonnet-4" -> "claude-sonnet-4").
bool StripVendorPrefix(std::string_view& s) {
  static constexpr std::string_view kPrefixes[] = {"anthropic.", "meta.",     "amazon.", "mistral.",
                                                   "cohere.",    "deepseek.", "ai21.",   "openai.",
                                                   "qwen.",      "writer."};
  for (std::string_view p : kPrefixes) {
    if (StartsWith(s, p) && s.size() > p.size()) {
      s.remove_prefix(p.size());
      return true;
    }
  }
  return false;
}

// Strips one trailing date or version marker; false when there is none.
bool StripVersionSuffix(std::string_view& s) {
  if (size_t at = s.rfind('@'); at != std::string_view::npos && at > 0) {  // "@20241022"
    s = s.substr(0, at);
    return true;
  }
  if (EndsWith(s, "-latest") && s.size() > 7) {
    s.remove_suffix(7);
    return true;
  }
  // ":0" (Bedrock); the "-v1" before it goes next round, so "-v2" is tried before the bare id.
  if (size_t colon = s.rfind(':');
      colon != std::string_view::npos && colon > 0 && IsDigits(s.substr(colon + 1))) {
    s = s.substr(0, colon);
    return true;
  }
  size_t dash = s.rfind('-');
  if (dash == std::string_view::npos || dash == 0) return false;
  std::string_view last = s.substr(dash + 1);
  // "-v1", "-v2" (Bedrock model versions).
  if (last.size() >= 2 && last.size() <= 3 && last[0] == 'v' && IsDigits(last.substr(1))) {
    s = s.substr(0, dash);
    return true;
  }
  if (IsDigits(last)) {
    std::string_view head = s.substr(0, dash);
    // "-2024-08-06": YYYY-MM-DD.
    if (last.size() == 2 && head.size() > 8 && head[head.size() - 3] == '-' &&
        head[head.size() - 8] == '-' && IsDigits(head.substr(head.size() - 7, 4)) &&
        IsDigits(head.substr(head.size() - 2))) {
      s = head.substr(0, head.size() - 8);
      return true;
    }
    // "-preview-05-20" (MM-DD) and "-preview-09-2025" (MM-YYYY).
    constexpr std::string_view kPreview = "-preview-";
    if ((last.size() == 2 || last.size() == 4) && head.size() > kPreview.size() + 2 &&
        head.substr(head.size() - 2 - kPreview.size(), kPreview.size()) == kPreview &&
        IsDigits(head.substr(head.size() - 2))) {
      s = head.substr(0, head.size() - 2 - kPreview.size());
      return true;
    }
    // "-08-2024" (Cohere's MM-YYYY).
    if (last.size() == 4 && head.size() > 3 && head[head.size() - 3] == '-' &&
        IsDigits(head.substr(head.size() - 2))) {
      s = head.substr(0, head.size() - 3);
      return true;
    }
    // "-20241022", "-0613", "-001".
    if (last.size() == 8 || last.size() == 4 || last.size() == 3) {
      s = head;
      return true;
    }
  }
  return false;
}

// Provider spellings used by OpenTelemetry (gen_ai.provider.name / gen_ai.system) and by
// SDKs, mapped to the catalog's names. Unknown spellings pass through unchanged.
std::string_view CanonicalProvider(std::string_view lower) {
  struct Synonym {
    std::string_view from, to;
  };
  static constexpr Synonym kSynonyms[] = {
      {"gemini", "google"},
      {"gcp.gemini", "google"},
      {"gcp.gen_ai", "google"},
      {"gcp.vertex_ai", "google"},
      {"vertex_ai", "google"},
      {"vertexai", "google"},
      {"google_genai", "google"},
      {"bedrock", "aws_bedrock"},
      {"aws.bedrock", "aws_bedrock"},
      {"aws bedrock", "aws_bedrock"},
      {"amazon_bedrock", "aws_bedrock"},
      {"mistral_ai", "mistral"},
      {"mistralai", "mistral"},
      {"x_ai", "xai"},
      {"x-ai", "xai"},
  };
  for (const Synonym& s : kSynonyms) {
    if (lower == s.from) return s.to;
  }
  return lower;
}

void ToLowerInto(std::string_view in, char* out) {
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    out[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

size_t CommonPrefix(std::string_view a, std::string_view b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

}  // namespace

// ---------------------------------------------------------------------------------------

std::string PriceToString(int64_t micros) {
  if (micros < 0) return "";
  std::string frac = std::to_string(micros % 1'000'000);
  frac.insert(0, static_cast<size_t>(kPriceDecimals) - frac.size(), '0');
  while (frac.size() > 2 && frac.back() == '0') frac.pop_back();
  return Cat(micros / 1'000'000, ".", frac);
}

const TokenPrices& ModelPricing::PricesFor(int64_t input_tokens) const noexcept {
  for (auto it = tiers.rbegin(); it != tiers.rend(); ++it) {
    if (input_tokens > it->above_input_tokens) return it->prices;
  }
  return prices;
}

absl::StatusOr<std::unique_ptr<Catalog>> Catalog::FromJson(std::string_view json,
                                                           std::string_view source_name) {
  ErrorContext ctx(source_name);
  if (JsonNestsDeeperThan(json, 32)) {
    return ctx.Error("", "JSON nested deeper than 32 levels; a catalog needs 5");
  }
  Json doc;
  try {
    doc = Json::parse(json.begin(), json.end());
  } catch (const Json::parse_error& e) {
    return ctx.Error("", Cat("malformed JSON at byte ", e.byte, ": ", e.what()));
  } catch (const Json::exception& e) {
    return ctx.Error("", Cat("malformed JSON: ", e.what()));
  }
  if (!doc.is_object()) {
    return ctx.Error("", Cat("expected a JSON object with \"schema_version\" and "
                             "\"models\", got ",
                             Shown(doc)));
  }
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    // Top-level keys starting with '_' or '$' are comments / schema references.
    const std::string& key = it.key();
    if (key == "schema_version" || key == "models" || StartsWith(key, "_") ||
        StartsWith(key, "$")) {
      continue;
    }
    return ctx.Error(key, "unknown top-level field; allowed are schema_version, models");
  }
  auto version = doc.find("schema_version");
  if (version == doc.end()) return ctx.Error("schema_version", "missing (expected 1)");
  if (!version->is_number_integer() || version->get<int64_t>() != kSchemaVersion) {
    return ctx.Error("schema_version", Cat("unsupported version ", Shown(*version),
                                           "; this build reads ", kSchemaVersion));
  }
  auto models = doc.find("models");
  if (models == doc.end()) return ctx.Error("models", "missing");
  if (!models->is_array()) {
    return ctx.Error("models", Cat("expected an array, got ", Shown(*models)));
  }
  auto catalog = std::unique_ptr<Catalog>(new Catalog());
  catalog->models_.reserve(models->size());
  absl::flat_hash_map<std::string, size_t> seen;  // "provider\x1Fid" -> entry index
  for (size_t i = 0; i < models->size(); ++i) {
    absl::StatusOr<ModelPricing> m = ParseEntry(ctx, i, (*models)[i]);
    if (!m.ok()) return m.status();
    std::string key = Cat(m->provider, std::string(1, kKeySeparator), LowerAscii(m->id));
    auto [it, inserted] = seen.emplace(key, i);
    if (!inserted) {
      return ctx.Error("id", Cat("duplicate of models[", it->second, "]: provider \"", m->provider,
                                 "\" already lists \"", catalog->models_[it->second].id,
                                 "\"; merge the two entries"));
    }
    catalog->models_.push_back(*std::move(m));
  }
  if (auto s = catalog->BuildIndex(); !s.ok()) {
    return absl::InvalidArgumentError(Cat(source_name, ": ", s.message()));
  }
  return catalog;
}

absl::StatusOr<std::unique_ptr<Catalog>> Catalog::Builtin() {
  return FromJson(internal::BuiltinCatalogJson(), "pricing_catalog.json (built in)");
}

absl::StatusOr<std::unique_ptr<Catalog>> Catalog::BuiltinWithOverrides(
    const std::string& override_path) {
  absl::StatusOr<std::unique_ptr<Catalog>> base = Builtin();
  if (!base.ok()) return base.status();
  std::ifstream in(override_path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(Cat("cannot open pricing overrides file \"", override_path,
                                   "\"; check pricing.overrides / --pricing-overrides"));
  }
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) {
    return absl::DataLossError(Cat("error reading pricing overrides file \"", override_path, "\""));
  }
  absl::StatusOr<std::unique_ptr<Catalog>> overrides = FromJson(content.str(), override_path);
  if (!overrides.ok()) return overrides.status();
  return Merge(**base, **overrides);
}

absl::StatusOr<std::unique_ptr<Catalog>> Catalog::Merge(const Catalog& base,
                                                        const Catalog& overrides) {
  auto merged = std::unique_ptr<Catalog>(new Catalog());
  merged->models_ = base.models_;
  absl::flat_hash_map<std::string, size_t> position;
  for (size_t i = 0; i < merged->models_.size(); ++i) {
    const ModelPricing& m = merged->models_[i];
    position[Cat(m.provider, std::string(1, kKeySeparator), LowerAscii(m.id))] = i;
  }
  for (const ModelPricing& m : overrides.models_) {
    auto it = position.find(Cat(m.provider, std::string(1, kKeySeparator), LowerAscii(m.id)));
    if (it != position.end()) {
      merged->models_[it->second] = m;
    } else {
      merged->models_.push_back(m);
    }
  }
  if (auto s = merged->BuildIndex(); !s.ok()) {
    return absl::InvalidArgumentError(Cat("pricing overrides: ", s.message()));
  }
  return merged;
}

absl::Status Catalog::BuildIndex() {
  by_provider_id_.clear();
  by_id_.clear();
  for (size_t i = 0; i < models_.size(); ++i) {
    const ModelPricing& m = models_[i];
    std::vector<std::string_view> names = {m.id};
    names.insert(names.end(), m.aliases.begin(), m.aliases.end());
    for (std::string_view name : names) {
      std::string lower = LowerAscii(name);
      std::string key = Cat(m.provider, std::string(1, kKeySeparator), lower);
      auto [it, inserted] = by_provider_id_.emplace(key, i);
      if (!inserted && it->second != i) {
        return absl::InvalidArgumentError(
            Cat("provider \"", m.provider, "\": \"", name, "\" (of \"", m.id,
                "\") is already an id or alias of \"", models_[it->second].id,
                "\"; ids and aliases must be unique within a provider"));
      }
      auto [any, any_inserted] = by_id_.emplace(lower, i);
      // Prefer a direct provider over a reseller (aws_bedrock) for provider-less lookups.
      if (!any_inserted && models_[any->second].provider == "aws_bedrock" &&
          m.provider != "aws_bedrock") {
        any->second = i;
      }
    }
  }
  return absl::OkStatus();
}

const ModelPricing* Catalog::LookupExact(std::string_view provider,
                                         std::string_view lower_model) const noexcept {
  if (provider.empty()) {
    auto it = by_id_.find(absl::string_view(lower_model.data(), lower_model.size()));
    return it == by_id_.end() ? nullptr : &models_[it->second];
  }
  char key[kMaxProviderLength + 1 + kMaxModelIdLength];
  if (provider.size() > kMaxProviderLength || lower_model.size() > kMaxModelIdLength) {
    return nullptr;
  }
  std::copy(provider.begin(), provider.end(), key);
  key[provider.size()] = kKeySeparator;
  std::copy(lower_model.begin(), lower_model.end(), key + provider.size() + 1);
  auto it = by_provider_id_.find(absl::string_view(key, provider.size() + 1 + lower_model.size()));
  return it == by_provider_id_.end() ? nullptr : &models_[it->second];
}

// Tries `model` with trailing date/version markers stripped one by one; each bare form is
// also tried with "-latest" appended (Mistral lists "mistral-large-latest").
const ModelPricing* Catalog::LookupStripped(std::string_view provider,
                                            std::string_view lower_model) const noexcept {
  std::string_view s = lower_model;
  for (int round = 0; round < 6 && StripVersionSuffix(s); ++round) {
    if (const ModelPricing* m = LookupExact(provider, s)) return m;
    char buf[kMaxModelIdLength + 8];
    if (s.size() + 7 <= sizeof(buf)) {
      std::copy(s.begin(), s.end(), buf);
      std::copy_n("-latest", 7, buf + s.size());
      if (const ModelPricing* m = LookupExact(provider, std::string_view(buf, s.size() + 7))) {
        return m;
      }
    }
  }
  return nullptr;
}

const ModelPricing* Catalog::Find(std::string_view provider,
                                  std::string_view model) const noexcept {
  if (model.empty() || model.size() > kMaxModelIdLength || provider.size() > kMaxProviderLength) {
    return nullptr;
  }
  char model_buf[kMaxModelIdLength];
  ToLowerInto(model, model_buf);
  char provider_buf[kMaxProviderLength];
  ToLowerInto(provider, provider_buf);
  std::string_view p = CanonicalProvider(std::string_view(provider_buf, provider.size()));
  std::string_view s(model_buf, model.size());

  // Stage 1: exact id or alias.
  if (const ModelPricing* m = LookupExact(p, s)) return m;
  // Stage 2: provider path prefixes, then a Bedrock region prefix.
  while (StripPathPrefix(s)) {
    if (const ModelPricing* m = LookupExact(p, s)) return m;
  }
  if (StripRegionPrefix(s)) {
    if (const ModelPricing* m = LookupExact(p, s)) return m;
  }
  // Stage 3: trailing dates and versions.
  if (const ModelPricing* m = LookupStripped(p, s)) return m;
  // Bedrock vendor prefix ("anthropic.claude-...") when the catalog lists the bare id.
  if (StripVendorPrefix(s)) {
    if (const ModelPricing* m = LookupExact(p, s)) return m;
    if (const ModelPricing* m = LookupStripped(p, s)) return m;
  }
  return nullptr;
}

std::vector<std::string> Catalog::ClosestMatches(std::string_view model, size_t max_results) const {
  std::string query = LowerAscii(model);
  std::string_view stripped = query;
  while (StripPathPrefix(stripped)) {
  }
  StripRegionPrefix(stripped);
  std::string_view undated = stripped;
  while (StripVersionSuffix(undated)) {
  }
  struct Candidate {
    size_t distance;
    size_t prefix;
    std::string id;
  };
  std::vector<Candidate> candidates;
  std::set<std::string> seen;
  for (const ModelPricing& m : models_) {
    std::vector<std::string_view> names = {m.id};
    names.insert(names.end(), m.aliases.begin(), m.aliases.end());
    for (std::string_view name : names) {
      std::string lower = LowerAscii(name);
      if (!seen.insert(lower).second) continue;
      size_t distance = std::min(EditDistance(stripped, lower), EditDistance(undated, lower));
      size_t prefix = std::max(CommonPrefix(stripped, lower), CommonPrefix(undated, lower));
      // Keep plausible matches only: a few edits, or a substantial shared prefix.
      size_t limit = std::max<size_t>(3, lower.size() / 3);
      if (distance > limit && prefix < 4) continue;
      candidates.push_back({distance, prefix, std::string(name)});
    }
  }
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    // A long shared prefix counts like saved edits.
    auto score = [](const Candidate& c) {
      return static_cast<int64_t>(c.distance) * 2 -
             static_cast<int64_t>(std::min<size_t>(c.prefix, 12));
    };
    if (score(a) != score(b)) return score(a) < score(b);
    return a.id < b.id;
  });
  std::vector<std::string> out;
  for (size_t i = 0; i < candidates.size() && out.size() < max_results; ++i) {
    out.push_back(candidates[i].id);
  }
  return out;
}

}  // namespace genops::pricing
