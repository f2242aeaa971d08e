// The gateway's admin API: what an operator (or `genops approvals`) does to a running gateway.
//
//   GET  /genops/admin/approvals              every retained approval, oldest first
//   POST /genops/admin/approvals/ID/approve   grant a held operation (the client then retries
//                                             with x-genops-approval: ID)
//   POST /genops/admin/approvals/ID/deny
//   GET  /genops/admin/metrics                the adapter's metrics (get_metrics()) as JSON
//
// Every call needs `Authorization: Bearer <token>` with the token from the variable named by
// `gateway.admin_token_env`: clients of the gateway share its port, and one of them must not
// approve its own spend. Without a configured token the admin API answers 403 saying how to
// enable it. Answers are JSON; errors are {"error":{"message","code"}}.
//
// Thread safety: stateless; the stores it calls are thread-safe.
#ifndef GENOPS_GATEWAY_ADMIN_API_H_
#define GENOPS_GATEWAY_ADMIN_API_H_

#include <string>

#include "genops/adapter.h"
#include "src/core/approvals.h"
#include "src/gateway/http_server.h"

namespace genops::gateway {

struct AdminContext {
  Adapter* adapter = nullptr;
  ApprovalStore* approvals = nullptr;
  std::string admin_token;  // empty: the admin API is disabled
};

// Answers a request whose path starts with /genops/admin/.
void HandleAdminRequest(const AdminContext& ctx, const HttpRequest& request,
                        HttpResponseWriter& writer);

// The JSON of one approval entry (also what `genops approvals list --json` prints).
std::string ApprovalEntryJson(const ApprovalStore::Entry& entry);

}  // namespace genops::gateway

#endif  // GENOPS_GATEWAY_ADMIN_API_H_
