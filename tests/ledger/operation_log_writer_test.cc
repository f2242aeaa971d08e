// OperationLogWriter: batched, retried, never-dropped writes to the operations log.
#include "src/ledger/operation_log_writer.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "genops/clock.h"
#include "gtest/gtest.h"
#include "src/core/text.h"
#include "src/ledger/memory_ledger.h"
#include "tests/support/faulty_ledger.h"

namespace genops::ledger {
namespace {

using genops::testing::FaultyLedger;
using std::chrono::milliseconds;

constexpr int64_t kNow = 1'772'625'600LL * kNanosPerSecond;
constexpr int64_t kDay = 86'400 * kNanosPerSecond;

OperationRecord Record(int i, int64_t start = kNow) {
  OperationRecord r;
  r.operation_id = Cat("op-", i);
  r.start_unix_nanos = start + i;
  r.attribution.team = "a";
  r.cost = Money::FromNanos(i);
  return r;
}

size_t Count(Ledger& ledger) {
  auto all = QueryOperations(ledger, {});
  EXPECT_TRUE(all.ok()) << all.status();
  return all.ok() ? all->size() : 0;
}

class OperationLogWriterTest : public ::testing::Test {
 protected:
  OperationLogWriterTest()
      : clock_(kNow), ledger_(std::make_shared<FaultyLedger>(NewMemoryLedger(&clock_))) {}
  ManualClock clock_;
  std::shared_ptr<FaultyLedger> ledger_;
};

TEST_F(OperationLogWriterTest, WritesEverythingInFewBatches) {
  OperationLogWriter writer(ledger_, &clock_, {.batch_size = 256});
  for (int i = 0; i < 1000; ++i) writer.Add(Record(i));
  ASSERT_TRUE(writer.Flush(milliseconds(10'000)));
  EXPECT_EQ(Count(*ledger_), 1000u);
  const OperationLogWriterStats stats = writer.stats();
  EXPECT_EQ(stats.written, 1000);
  EXPECT_EQ(stats.queued, 0);
  EXPECT_GE(stats.batches, 4);  // 1000 / 256, rounded up
  EXPECT_LE(stats.batches, 1000 / 10) << "records were not grouped into batches";
  EXPECT_TRUE(writer.Unwritten().empty());
}

// A store with one writer runs admissions behind each append: a batch is written as several
// small transactions rather than one long one.
TEST_F(OperationLogWriterTest, ABatchIsWrittenInTransactionsOfBoundedSize) {
  OperationLogWriter writer(ledger_, &clock_,
                            {.batch_size = 256, .max_records_per_transaction = 10});
  for (int i = 0; i < 100; ++i) writer.Add(Record(i));
  ASSERT_TRUE(writer.Flush(milliseconds(10'000)));
  EXPECT_EQ(Count(*ledger_), 100u);
  const OperationLogWriterStats stats = writer.stats();
  EXPECT_EQ(stats.written, 100);
  EXPECT_GE(stats.batches, 10);  // never more than 10 records per transaction
  EXPECT_TRUE(writer.Unwritten().empty());
}

TEST_F(OperationLogWriterTest, AnUnreachableStoreLosesNothingAndRecovers) {
  absl::Mutex mu;
  std::vector<bool> transitions;  // false = failing, true = recovered
  OperationLogWriterOptions options;
  options.initial_backoff = milliseconds(5);
  options.max_backoff = milliseconds(20);
  options.on_store_state_change = [&](const absl::Status& s) {
    absl::MutexLock lock(&mu);
    transitions.push_back(s.ok());
  };
  OperationLogWriter writer(ledger_, &clock_, options);
  ledger_->down = true;
  for (int i = 0; i < 50; ++i) writer.Add(Record(i));
  EXPECT_FALSE(writer.Flush(milliseconds(100)));
  EXPECT_EQ(writer.Unwritten().size(), 50u);
  EXPECT_GT(writer.stats().failed_attempts, 0);

  ledger_->down = false;
  ASSERT_TRUE(writer.Flush(milliseconds(10'000)));
  EXPECT_EQ(Count(*ledger_), 50u);
  EXPECT_EQ(writer.stats().written, 50);
  absl::MutexLock lock(&mu);
  EXPECT_EQ(transitions, (std::vector<bool>{false, true}));
}

TEST_F(OperationLogWriterTest, AddBlocksInsteadOfDroppingWhenTheQueueIsFull) {
  OperationLogWriterOptions options;
  options.max_queued = 10;
  options.initial_backoff = milliseconds(5);
  options.max_backoff = milliseconds(10);
  OperationLogWriter writer(ledger_, &clock_, options);
  ledger_->down = true;
  std::atomic<int> added{0};
  std::thread producer([&] {
    for (int i = 0; i < 25; ++i) {
      writer.Add(Record(i));
      ++added;
    }
  });
  // The producer fills the queue and then waits for room.
  while (writer.stats().queued < 10) std::this_thread::sleep_for(milliseconds(1));
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(added.load(), 10);
  EXPECT_EQ(writer.stats().queued, 10);
  ledger_->down = false;
  producer.join();
  ASSERT_TRUE(writer.Flush(milliseconds(10'000)));
  EXPECT_EQ(Count(*ledger_), 25u);
}

TEST_F(OperationLogWriterTest, ShutdownWritesTheQueueAndReportsWhatItCouldNot) {
  {
    OperationLogWriter writer(ledger_, &clock_, {.flush_interval = milliseconds(60'000)});
    for (int i = 0; i < 7; ++i) writer.Add(Record(i));
    EXPECT_EQ(writer.Shutdown(milliseconds(5'000)), 0);
    EXPECT_EQ(Count(*ledger_), 7u);
    // After shutdown a record is written synchronously, not lost.
    writer.Add(Record(100));
    EXPECT_EQ(Count(*ledger_), 8u);
  }
  OperationLogWriter writer(ledger_, &clock_, {.initial_backoff = milliseconds(5)});
  ledger_->down = true;
  for (int i = 200; i < 203; ++i) writer.Add(Record(i));
  EXPECT_EQ(writer.Shutdown(milliseconds(50)), 3);
  ledger_->down = false;
  EXPECT_EQ(Count(*ledger_), 8u);
}

TEST_F(OperationLogWriterTest, RetentionPurgesOldRecords) {
  ASSERT_TRUE(ledger_
                  ->AppendOperations(
                      {Record(1, kNow - 10 * kDay), Record(2, kNow - 2 * kDay), Record(3, kNow)})
                  .ok());
  OperationLogWriter writer(ledger_, &clock_, {.retention_days = 7});
  writer.Add(Record(4));
  ASSERT_TRUE(writer.Flush(milliseconds(10'000)));
  auto left = QueryOperations(*ledger_, {});
  ASSERT_TRUE(left.ok());
  std::vector<std::string> ids;
  for (const auto& r : *left) ids.push_back(r.operation_id);
  EXPECT_EQ(ids, (std::vector<std::string>{"op-4", "op-3", "op-2"}));
  EXPECT_EQ(writer.stats().purged, 1);
}

}  // namespace
}  // namespace genops::ledger
