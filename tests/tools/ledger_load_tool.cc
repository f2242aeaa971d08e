// ledger_load_tool: one process of the multi-process ledger tests.
//
// Opens the ledger at --url and runs --threads threads, each doing --ops reserve+settle pairs
// of --amount-nanos against whatever budgets match the attribution team=load. Every admitted
// operation is settled with an actual cost a little below its reservation, so spend varies.
//
// The journal (--journal, appended with O_APPEND, one write(2) per line so a SIGKILL never
// leaves half a line) tells the test what this process was told:
//   P <id> <actual>   about to settle <id> (in doubt until an S line follows)
//   S <id> <actual>   Settle() returned OK: the spend is committed
// At the end it prints one line: "admitted=<n> refused=<n> errors=<n> settled_nanos=<sum>".
// Reservations expire --expires-ms after they are made (real clock), so a killed process's
// holds can be expired by the test.
#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "genops/clock.h"
#include "src/core/text.h"
#include "src/ledger/ledger_factory.h"

namespace {

void AppendLine(int fd, const std::string& line) {
  // One write per line; O_APPEND keeps lines from different threads whole.
  const ssize_t n = write(fd, line.data(), line.size());
  (void)n;
}

}  // namespace

int main(int argc, char** argv) {
  std::string url;
  std::string journal;
  std::string prefix = "op";
  int threads = 8;
  int ops = 100;
  int64_t amount_nanos = 1'000'000;
  int64_t expires_ms = 60'000;
  CLI::App app("ledger load generator for the multi-process tests");
  app.add_option("--url", url, "ledger URL")->required();
  app.add_option("--journal", journal, "journal file (P/S lines)")->required();
  app.add_option("--prefix", prefix, "operation id prefix (unique per process)");
  app.add_option("--threads", threads);
  app.add_option("--ops", ops, "reserve+settle attempts per thread");
  app.add_option("--amount-nanos", amount_nanos, "reservation per operation");
  app.add_option("--expires-ms", expires_ms, "reservation expiry");
  CLI11_PARSE(app, argc, argv);

  const int fd = open(journal.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    std::fprintf(stderr, "cannot open journal %s\n", journal.c_str());
    return 1;
  }
  genops::ledger::LedgerOpenOptions options;
  auto ledger = genops::ledger::OpenLedger(url, options);
  if (!ledger.ok()) {
    std::fprintf(stderr, "open %s: %s\n", url.c_str(), ledger.status().ToString().c_str());
    return 1;
  }
  std::atomic<int64_t> admitted{0}, refused{0}, errors{0}, settled_nanos{0};
  const genops::Clock* clock = genops::Clock::Real();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < ops; ++i) {
        genops::ledger::ReserveRequest request;
        request.operation_id = genops::Cat(prefix, "-", t, "-", i);
        request.attribution.team = "load";
        request.amount = genops::Money::FromNanos(amount_nanos);
        request.now_unix_nanos = clock->NowUnixNanos();
        request.expires_at_unix_nanos = request.now_unix_nanos + expires_ms * 1'000'000;
        auto reserved = (*ledger)->Reserve(request);
        if (!reserved.ok()) {
          ++errors;
          continue;
        }
        if (!reserved->admitted) {
          ++refused;
          continue;
        }
        ++admitted;
        const int64_t actual = amount_nanos - (i % 7) * (amount_nanos / 100);
        AppendLine(fd, genops::Cat("P ", request.operation_id, " ", actual, "\n"));
        auto settled = (*ledger)->Settle(request.operation_id, genops::Money::FromNanos(actual),
                                         clock->NowUnixNanos());
        if (!settled.ok()) {
          ++errors;
          continue;
        }
        AppendLine(fd, genops::Cat("S ", request.operation_id, " ", actual, "\n"));
        settled_nanos += actual;
      }
    });
  }
  for (std::thread& w : workers) w.join();
  close(fd);
  std::printf("admitted=%lld refused=%lld errors=%lld settled_nanos=%lld\n",
              static_cast<long long>(admitted.load()), static_cast<long long>(refused.load()),
              static_cast<long long>(errors.load()), static_cast<long long>(settled_nanos.load()));
  return errors.load() == 0 ? 0 : 3;
}
