#include "src/telemetry/span_data.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "src/telemetry/id_generator.h"

namespace genops::telemetry {
namespace {

TEST(TraceIdTest, HexRoundTripAndValidity) {
  TraceId id;
  EXPECT_FALSE(id.valid());
  EXPECT_EQ(id.ToHex(), std::string(32, '0'));
  ASSERT_TRUE(TraceId::FromHex("4bf92f3577b34da6a3ce929d0e0e4736", &id));
  EXPECT_TRUE(id.valid());
  EXPECT_EQ(id.bytes[0], 0x4b);
  EXPECT_EQ(id.bytes[15], 0x36);
  EXPECT_EQ(id.ToHex(), "4bf92f3577b34da6a3ce929d0e0e4736");
}

TEST(TraceIdTest, FromHexAcceptsUppercaseAsOtlpJsonDoes) {
  TraceId id;
  ASSERT_TRUE(TraceId::FromHex("4BF92F3577B34DA6A3CE929D0E0E4736", &id));
  EXPECT_EQ(id.ToHex(), "4bf92f3577b34da6a3ce929d0e0e4736");
}

TEST(TraceIdTest, FromHexRejectsBadInputAndLeavesOutputUntouched) {
  TraceId id;
  ASSERT_TRUE(TraceId::FromHex("0123456789abcdef0123456789abcdef", &id));
  const TraceId before = id;
  EXPECT_FALSE(TraceId::FromHex("0123456789abcdef0123456789abcde", &id));    // 31 chars
  EXPECT_FALSE(TraceId::FromHex("0123456789abcdef0123456789abcdef0", &id));  // 33 chars
  EXPECT_FALSE(TraceId::FromHex("0123456789abcdef0123456789abcdeg", &id));   // 'g'
  EXPECT_FALSE(TraceId::FromHex("", &id));
  EXPECT_FALSE(TraceId::FromHex("0123456789abcdef0123456789abcdef", nullptr));
  EXPECT_EQ(id, before);
}

TEST(SpanIdTest, HexRoundTripAndValidity) {
  SpanId id;
  EXPECT_FALSE(id.valid());
  ASSERT_TRUE(SpanId::FromHex("00f067aa0ba902b7", &id));
  EXPECT_TRUE(id.valid());
  EXPECT_EQ(id.ToHex(), "00f067aa0ba902b7");
  EXPECT_FALSE(SpanId::FromHex("00f067aa0ba902b", &id));
  EXPECT_FALSE(SpanId::FromHex("00f067aa0ba902b7 ", &id));
}

TEST(SpanDataTest, FindAttributeReturnsFirstMatchOrNull) {
  SpanData span;
  span.attributes.push_back({"a", int64_t{1}});
  span.attributes.push_back({"b", std::string("x")});
  span.attributes.push_back({"a", int64_t{2}});
  const AttributeValue* a = span.FindAttribute("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(std::get<int64_t>(*a), 1);
  ASSERT_NE(span.FindAttribute("b"), nullptr);
  EXPECT_EQ(std::get<std::string>(*span.FindAttribute("b")), "x");
  EXPECT_EQ(span.FindAttribute("c"), nullptr);
}

TEST(IdGeneratorTest, IdsAreValidAndDistinct) {
  std::set<std::string> traces;
  std::set<std::string> spans;
  for (int i = 0; i < 10000; ++i) {
    const TraceId trace = GenerateTraceId();
    const SpanId span = GenerateSpanId();
    ASSERT_TRUE(trace.valid());
    ASSERT_TRUE(span.valid());
    traces.insert(trace.ToHex());
    spans.insert(span.ToHex());
  }
  EXPECT_EQ(traces.size(), 10000u);
  EXPECT_EQ(spans.size(), 10000u);
}

TEST(IdGeneratorTest, ThreadsDoNotShareAStream) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 5000;
  std::vector<std::vector<std::string>> ids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&ids, t] {
      for (int i = 0; i < kPerThread; ++i) {
        ids[t].push_back(IdGenerator::Random().GenerateTraceId().ToHex());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::set<std::string> all;
  for (const auto& list : ids) all.insert(list.begin(), list.end());
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kPerThread));
}

TEST(IdGeneratorTest, BitsLookUniform) {
  // Every bit of the trace id (in particular the rightmost 56 the ratio sampler reads) should be
  // set about half the time. 20k ids: a fair bit is within 50% +- 2% with overwhelming odds.
  constexpr int kIds = 20000;
  std::vector<int> ones(128, 0);
  for (int i = 0; i < kIds; ++i) {
    const TraceId id = GenerateTraceId();
    for (int bit = 0; bit < 128; ++bit) ones[bit] += (id.bytes[bit / 8] >> (bit % 8)) & 1;
  }
  for (int bit = 0; bit < 128; ++bit) {
    EXPECT_NEAR(ones[bit] / static_cast<double>(kIds), 0.5, 0.02) << "bit " << bit;
  }
}

TEST(IdGeneratorTest, ParentAndForkedChildMintDifferentIds) {
  GenerateTraceId();  // make sure this thread's generator is seeded before the fork
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const TraceId id = GenerateTraceId();
    const ssize_t written = write(fds[1], id.bytes.data(), id.bytes.size());
    _exit(written == static_cast<ssize_t>(id.bytes.size()) ? 0 : 1);
  }
  const TraceId mine = GenerateTraceId();
  TraceId theirs;
  ASSERT_EQ(read(fds[0], theirs.bytes.data(), theirs.bytes.size()),
            static_cast<ssize_t>(theirs.bytes.size()));
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  close(fds[0]);
  close(fds[1]);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_NE(mine, theirs) << "the child replayed the parent's random stream";
}

TEST(AttributeKeyTest, StaticKeyRefersToTheConstant) {
  static constexpr std::string_view kKey = "gen_ai.usage.cache_read.input_tokens";
  const AttributeKey key = AttributeKey::Static(kKey);
  EXPECT_TRUE(key.is_static());
  EXPECT_EQ(key.view().data(), kKey.data());
  EXPECT_EQ(key, kKey);
  const AttributeKey copy = key;
  EXPECT_EQ(copy.view().data(), kKey.data());
}

TEST(AttributeKeyTest, OwnedKeySurvivesCopyMoveAndTheSourceDying) {
  std::vector<Attribute> attributes;
  {
    std::string built = "genops.tag." + std::string(40, 'k');
    attributes.push_back({AttributeKey(built), int64_t{1}});
    built.assign(built.size(), 'x');  // the key owns its copy
  }
  const std::string expected = "genops.tag." + std::string(40, 'k');
  EXPECT_FALSE(attributes[0].key.is_static());
  EXPECT_EQ(attributes[0].key, expected);
  for (int i = 0; i < 100; ++i) attributes.push_back({"short", int64_t{i}});  // reallocates
  EXPECT_EQ(attributes[0].key, expected);
  AttributeKey moved = std::move(attributes[0].key);
  EXPECT_EQ(moved, expected);
  AttributeKey copied = moved;
  moved = AttributeKey("other");
  EXPECT_EQ(copied, expected);
  EXPECT_EQ(moved, "other");
  // Short keys live in the string's own buffer: a view computed before a move would dangle.
  AttributeKey small("abc");
  AttributeKey small_moved = std::move(small);
  EXPECT_EQ(small_moved.view(), "abc");
}

TEST(AttributeKeyTest, ComparesConvertsAndPrints) {
  const AttributeKey key("service.name");
  EXPECT_TRUE(key == "service.name");
  EXPECT_TRUE("service.name" == key);
  EXPECT_TRUE(key == std::string("service.name"));
  EXPECT_TRUE(key == std::string_view("service.name"));
  EXPECT_TRUE(key == AttributeKey::Static("service.name"));
  EXPECT_FALSE(key == "service");
  EXPECT_TRUE(AttributeKey("a") < AttributeKey::Static("b"));
  const std::string_view view = key;
  EXPECT_EQ(view, "service.name");
  EXPECT_EQ(std::string(key), "service.name");
  EXPECT_EQ(key.str(), "service.name");
  EXPECT_EQ(key.size(), 12u);
  EXPECT_TRUE(AttributeKey().empty());
  std::ostringstream out;
  out << key;
  EXPECT_EQ(out.str(), "service.name");
  EXPECT_EQ(::testing::PrintToString(key), "service.name");
}

TEST(AttributeKeyTest, ReassigningFromAStringOwnsIt) {
  Attribute attribute{AttributeKey::Static("static.key"), true};
  attribute.key = std::string("replaced.by.a.long.sanitized.key");
  EXPECT_FALSE(attribute.key.is_static());
  EXPECT_EQ(attribute.key, "replaced.by.a.long.sanitized.key");
}

}  // namespace
}  // namespace genops::telemetry
