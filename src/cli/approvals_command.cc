// `genops approvals list|approve ID|deny ID`: operator actions on operations a running gateway
// holds for approval (governance.require_cost_approval), through its admin API.
//
//   GENOPS_ADMIN_TOKEN=... genops approvals list --gateway http://127.0.0.1:8080
//   GENOPS_ADMIN_TOKEN=... genops approvals approve apr_0123... --config genops.yaml
//
// The gateway comes from --gateway, else gateway.listen of --config, else 127.0.0.1:8080; the
// token from the variable named by gateway.admin_token_env (default GENOPS_ADMIN_TOKEN).
// Exit codes: 0 done, 1 the gateway refused or could not be reached, 2 usage error.
#include <cstdio>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "src/cli/commands.h"
#include "src/cli/ledger_access.h"
#include "src/core/environment.h"
#include "src/core/text.h"
#include "src/gateway/http_client.h"
#include "src/gateway/http_server.h"
#include "src/server/config_file.h"

namespace genops::cli {
namespace {

struct ApprovalsCliOptions {
  std::string gateway;
  std::string config_path;
  std::string id;
  bool json = false;
};

struct Target {
  std::string host;
  int port = 0;
  bool tls = false;
  std::string token;
  std::string token_env;
};

int Fail(const std::string& message, int code = 1) {
  std::fprintf(stderr, "genops approvals: %s\n", message.c_str());
  return code;
}

std::optional<Target> ResolveTarget(const ApprovalsCliOptions& o, int* exit_code) {
  Target t;
  std::string address = "127.0.0.1:8080";
  t.token_env = "GENOPS_ADMIN_TOKEN";
  if (!o.config_path.empty()) {
    auto config = server::LoadConfigFile(o.config_path);
    if (!config.ok()) {
      *exit_code = Fail(std::string(config.status().message()), 2);
      return std::nullopt;
    }
    address = config->gateway.listen;
    if (!config->gateway.admin_token_env.empty()) t.token_env = config->gateway.admin_token_env;
  }
  std::string url = o.gateway.empty() ? address : o.gateway;
  if (url.starts_with("https://")) {
    t.tls = true;
    url = url.substr(8);
  } else if (url.starts_with("http://")) {
    url = url.substr(7);
  }
  while (!url.empty() && url.back() == '/') url.pop_back();
  auto hp = gateway::ParseHostPort(url);
  if (!hp.ok() || hp->port == 0) {
    *exit_code = Fail(
        Cat("--gateway \"", o.gateway.empty() ? address : o.gateway, "\" is not http://HOST:PORT"),
        2);
    return std::nullopt;
  }
  t.host = hp->host == "0.0.0.0" ? "127.0.0.1" : hp->host;
  t.port = hp->port;
  t.token = Environment::Process()->Get(t.token_env).value_or("");
  if (t.token.empty()) {
    *exit_code = Fail(Cat(t.token_env,
                          " is not set: export the admin token the gateway was "
                          "started with"),
                      2);
    return std::nullopt;
  }
  return t;
}

// Sends one admin request; prints errors; returns the parsed JSON body on 200.
std::optional<nlohmann::json> Call(const Target& t, const std::string& method,
                                   const std::string& path, int* exit_code) {
  const std::string base = Cat(t.tls ? "https://" : "http://", t.host, ":", t.port);
  auto client = gateway::HttpClient::Create(
      {.connect_timeout = absl::Seconds(5), .response_timeout = absl::Seconds(10)});
  if (!client.ok()) {
    *exit_code = Fail(std::string(client.status().message()));
    return std::nullopt;
  }
  gateway::HttpClientRequest request;
  request.method = method;
  request.url = base + path;
  request.headers.Set("authorization", "Bearer " + t.token);
  if (method == "POST") request.headers.Set("content-type", "application/json");
  std::promise<absl::StatusOr<gateway::HttpClientResponse>> done;
  (*client)->Send(std::move(request), [&done](absl::StatusOr<gateway::HttpClientResponse> r) {
    done.set_value(std::move(r));
  });
  absl::StatusOr<gateway::HttpClientResponse> r = done.get_future().get();
  if (!r.ok()) {
    *exit_code = Fail(Cat("cannot reach the gateway at ", base, " (", r.status().message(),
                          "); is `genops serve` running?"));
    return std::nullopt;
  }
  auto body = nlohmann::json::parse(r->body, nullptr, /*allow_exceptions=*/false);
  if (r->status != 200) {
    std::string message = r->body;
    if (!body.is_discarded() && body.contains("error") && body["error"].contains("message")) {
      message = body["error"]["message"].get<std::string>();
    }
    *exit_code = Fail(Cat("the gateway answered ", r->status, ": ", message));
    return std::nullopt;
  }
  if (body.is_discarded()) {
    *exit_code = Fail("the gateway's answer is not JSON");
    return std::nullopt;
  }
  return body;
}

std::string Str(const nlohmann::json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

int RunList(const ApprovalsCliOptions& o) {
  int code = 0;
  auto target = ResolveTarget(o, &code);
  if (!target) return code;
  auto body = Call(*target, "GET", "/genops/admin/approvals", &code);
  if (!body) return code;
  if (o.json) {
    std::printf("%s\n", body->dump(2).c_str());
    return 0;
  }
  const auto& list = (*body)["approvals"];
  if (list.empty()) {
    std::printf("No approvals held.\n");
    return 0;
  }
  TextTable table({{"APPROVAL ID"},
                   {"STATE"},
                   {"ESTIMATE USD", TextTable::Align::kRight},
                   {"PROVIDER"},
                   {"MODEL"},
                   {"TEAM"},
                   {"PROJECT"},
                   {"CUSTOMER"}});
  for (const auto& e : list) {
    const auto& a = e["attribution"];
    table.AddRow({Str(e, "approval_id"), Str(e, "state"), Str(e, "estimate_usd"),
                  Str(e, "provider"), Str(e, "model"), Str(a, "team"), Str(a, "project"),
                  Str(a, "customer_id")});
  }
  std::printf("%s", table.Render().c_str());
  return 0;
}

int RunDecide(const ApprovalsCliOptions& o, const std::string& action) {
  int code = 0;
  auto target = ResolveTarget(o, &code);
  if (!target) return code;
  auto body = Call(*target, "POST", Cat("/genops/admin/approvals/", o.id, "/", action), &code);
  if (!body) return code;
  if (o.json) {
    std::printf("%s\n", body->dump(2).c_str());
  } else if (action == "approve") {
    std::printf("Approved %s. The client may now retry with the header x-genops-approval: %s\n",
                o.id.c_str(), o.id.c_str());
  } else {
    std::printf("Denied %s.\n", o.id.c_str());
  }
  return 0;
}

void AddTargetOptions(CLI::App* sub, ApprovalsCliOptions& o) {
  sub->add_option("--gateway", o.gateway,
                  "The gateway, http://HOST:PORT (default: gateway.listen of --config, else "
                  "127.0.0.1:8080)");
  sub->add_option("--config", o.config_path, "Configuration file the gateway runs with")
      ->check(CLI::ExistingFile);
  sub->add_flag("--json", o.json, "Print the gateway's JSON answer");
}

}  // namespace

void RegisterApprovalsCommand(CLI::App& app, CommandRegistry& registry) {
  auto options = std::make_shared<ApprovalsCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "approvals", "List, approve or deny operations a running gateway holds for approval");
  cmd->require_subcommand(1);
  cmd->footer(
      "\nThe admin token comes from GENOPS_ADMIN_TOKEN (or the variable named by "
      "gateway.admin_token_env).\nAfter `approve`, the client retries its request with the "
      "header x-genops-approval: ID.\n");
  CLI::App* list = cmd->add_subcommand("list", "Approvals held by the gateway");
  AddTargetOptions(list, *options);
  registry.Add(list, [options] { return RunList(*options); });
  CLI::App* approve = cmd->add_subcommand("approve", "Grant a held operation");
  approve->add_option("id", options->id, "Approval id (apr_...)")->required();
  AddTargetOptions(approve, *options);
  registry.Add(approve, [options] { return RunDecide(*options, "approve"); });
  CLI::App* deny = cmd->add_subcommand("deny", "Refuse a held operation");
  deny->add_option("id", options->id, "Approval id (apr_...)")->required();
  AddTargetOptions(deny, *options);
  registry.Add(deny, [options] { return RunDecide(*options, "deny"); });
}

}  // namespace genops::cli
