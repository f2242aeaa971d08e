#include "src/gateway/admin_api.h"

#include <openssl/crypto.h>

#include <string_view>

#include "absl/strings/match.h"
#include "nlohmann/json.hpp"
#include "src/core/text.h"

namespace genops::gateway {
namespace {

using nlohmann::json;

std::string_view StateName(ApprovalStore::State s) {
  switch (s) {
    case ApprovalStore::State::kPending:
      return "pending";
    case ApprovalStore::State::kApproved:
      return "approved";
    case ApprovalStore::State::kDenied:
      return "denied";
    case ApprovalStore::State::kConsumed:
      return "consumed";
  }
  return "unknown";
}

json AttributionJson(const Attribution& a) {
  json j = json::object();
  auto put = [&j](const char* k, const std::string& v) {
    if (!v.empty()) j[k] = v;
  };
  put("team", a.team);
  put("project", a.project);
  put("environment", a.environment);
  put("customer_id", a.customer_id);
  put("cost_center", a.cost_center);
  put("feature", a.feature);
  if (!a.tags.empty()) j["tags"] = a.tags;
  return j;
}

HttpResponse Error(int status, std::string_view code, std::string_view message) {
  json j = {{"error", {{"message", message}, {"code", code}}}};
  HttpResponse r = HttpResponse::Json(status, j.dump());
  r.headers.Set("x-should-retry", "false");
  return r;
}

// Constant-time comparison so the token cannot be found byte by byte from response times.
bool TokenMatches(std::string_view presented, std::string_view expected) {
  if (presented.size() != expected.size()) return false;
  return CRYPTO_memcmp(presented.data(), expected.data(), expected.size()) == 0;
}

}  // namespace

std::string ApprovalEntryJson(const ApprovalStore::Entry& e) {
  json j = {{"approval_id", e.request.approval_id},
            {"state", StateName(e.state)},
            {"operation_id", e.request.operation_id},
            {"provider", e.request.provider},
            {"model", e.request.model},
            {"estimate_usd", e.request.estimate.ToUsdString()},
            {"attribution", AttributionJson(e.request.attribution)},
            {"created_unix_nanos", e.created_unix_nanos},
            {"decided_unix_nanos", e.decided_unix_nanos}};
  return j.dump();
}

void HandleAdminRequest(const AdminContext& ctx, const HttpRequest& request,
                        HttpResponseWriter& writer) {
  if (ctx.admin_token.empty()) {
    writer.Respond(Error(403, "admin_disabled",
                         "the admin API is disabled: set the variable named by "
                         "gateway.admin_token_env (default GENOPS_ADMIN_TOKEN) before starting "
                         "`genops serve`, and send it as Authorization: Bearer <token>"));
    return;
  }
  std::string_view auth = request.headers.GetOr("authorization", "");
  constexpr std::string_view kBearer = "Bearer ";
  if (!auth.starts_with(kBearer) || !TokenMatches(auth.substr(kBearer.size()), ctx.admin_token)) {
    writer.Respond(Error(401, "admin_unauthorized",
                         "missing or wrong admin token (Authorization: Bearer <token>)"));
    return;
  }
  constexpr std::string_view kPrefix = "/genops/admin/";
  std::string_view rest = std::string_view(request.path).substr(kPrefix.size());
  if (rest == "approvals") {
    if (request.method != "GET") {
      writer.Respond(Error(405, "method_not_allowed", "use GET /genops/admin/approvals"));
      return;
    }
    std::string body = "{\"approvals\":[";
    bool first = true;
    for (const auto& e : ctx.approvals->List()) {
      if (!first) body += ',';
      first = false;
      body += ApprovalEntryJson(e);
    }
    body += "]}";
    writer.Respond(HttpResponse::Json(200, std::move(body)));
    return;
  }
  if (rest == "metrics") {
    writer.Respond(HttpResponse::Json(200, ctx.adapter->get_metrics().ToJson()));
    return;
  }
  constexpr std::string_view kApprovals = "approvals/";
  if (rest.starts_with(kApprovals)) {
    std::string_view tail = rest.substr(kApprovals.size());
    const size_t slash = tail.find('/');
    std::string_view id = tail.substr(0, slash);
    std::string_view action = slash == std::string_view::npos ? "" : tail.substr(slash + 1);
    if (request.method != "POST" || (action != "approve" && action != "deny")) {
      writer.Respond(Error(405, "method_not_allowed",
                           "use POST /genops/admin/approvals/ID/approve or .../deny"));
      return;
    }
    absl::Status s = action == "approve" ? ctx.approvals->Approve(id) : ctx.approvals->Deny(id);
    if (!s.ok()) {
      writer.Respond(Error(absl::IsNotFound(s) ? 404 : 409,
                           absl::IsNotFound(s) ? "approval_not_found" : "approval_conflict",
                           ToStd(s.message())));
      return;
    }
    auto entry = ctx.approvals->Find(id);
    writer.Respond(HttpResponse::Json(200, entry ? ApprovalEntryJson(*entry) : "{}"));
    return;
  }
  writer.Respond(Error(404, "not_found",
                       Cat("no admin route ", request.path,
                           " (approvals, approvals/ID/approve, approvals/ID/deny, metrics)")));
}

}  // namespace genops::gateway
