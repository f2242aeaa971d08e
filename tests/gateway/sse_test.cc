#include "src/gateway/sse.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace genops::gateway {
namespace {

std::vector<SseEvent> ParseAll(const std::vector<std::string_view>& chunks,
                               SseParser* parser = nullptr) {
  SseParser local;
  SseParser& p = parser != nullptr ? *parser : local;
  std::vector<SseEvent> events;
  for (std::string_view chunk : chunks) {
    EXPECT_TRUE(p.Feed(chunk, &events).ok());
  }
  return events;
}

// The stream an OpenAI chat completion sends, with a keep-alive comment and CR LF lines.
const std::string kStream =
    "\xEF\xBB\xBF"
    ": keep-alive\r\n\r\n"
    "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\r\n\r\n"
    "event: message_delta\n"
    "id: 7\n"
    "retry: 1500\n"
    "data: line one\n"
    "data:line two\n"
    "data:\n"
    "\n"
    "data: {\"usage\":{\"prompt_tokens\":3}}\r\r"
    "data: [DONE]\n\n";

void ExpectStreamEvents(const std::vector<SseEvent>& events) {
  ASSERT_EQ(events.size(), 5u);
  EXPECT_FALSE(events[0].has_data);
  ASSERT_EQ(events[0].comments.size(), 1u);
  EXPECT_EQ(events[0].comments[0], "keep-alive");
  EXPECT_EQ(events[0].raw, ": keep-alive\r\n\r\n");
  EXPECT_EQ(events[1].data, "{\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}");
  EXPECT_EQ(events[1].type, "");
  EXPECT_EQ(events[2].type, "message_delta");
  EXPECT_EQ(events[2].data, "line one\nline two\n");
  EXPECT_EQ(events[2].id, "7");
  EXPECT_EQ(events[2].retry_ms, 1500);
  EXPECT_EQ(events[3].data, "{\"usage\":{\"prompt_tokens\":3}}");
  EXPECT_EQ(events[3].raw, "data: {\"usage\":{\"prompt_tokens\":3}}\r\r");
  EXPECT_EQ(events[4].data, "[DONE]");
  std::string joined;
  for (const SseEvent& e : events) joined += e.raw;
  EXPECT_EQ(joined, kStream.substr(3));  // byte-exact, without the BOM
}

TEST(SseParserTest, WholeStream) {
  SseParser parser;
  ExpectStreamEvents(ParseAll({kStream}, &parser));
  EXPECT_FALSE(parser.HasPartialBlock());
  EXPECT_EQ(parser.last_event_id(), "7");
}

TEST(SseParserTest, EveryTwoWaySplit) {
  for (size_t cut = 0; cut <= kStream.size(); ++cut) {
    SCOPED_TRACE(cut);
    std::string_view s(kStream);
    ExpectStreamEvents(ParseAll({s.substr(0, cut), s.substr(cut)}));
  }
}

TEST(SseParserTest, ByteAtATime) {
  std::vector<std::string_view> chunks;
  std::string_view s(kStream);
  for (size_t i = 0; i < s.size(); ++i) chunks.push_back(s.substr(i, 1));
  ExpectStreamEvents(ParseAll(chunks));
}

TEST(SseParserTest, RandomChunkings) {
  std::mt19937 rng(42);
  for (int round = 0; round < 500; ++round) {
    std::vector<std::string_view> chunks;
    std::string_view s(kStream);
    while (!s.empty()) {
      size_t n = std::uniform_int_distribution<size_t>(1, 12)(rng);
      n = std::min(n, s.size());
      chunks.push_back(s.substr(0, n));
      s.remove_prefix(n);
    }
    ExpectStreamEvents(ParseAll(chunks));
  }
}

TEST(SseParserTest, BlankLineEndingInCrWaitsForTheNextByte) {
  // The CR may be the first half of CR LF: the block is dispatched once that is known, so
  // its raw text holds its whole terminator.
  SseParser parser;
  std::vector<SseEvent> events;
  ASSERT_TRUE(parser.Feed("data: a\r\n\r", &events).ok());
  EXPECT_TRUE(events.empty());
  EXPECT_FALSE(parser.HasPartialBlock());  // complete, only its terminator is open
  ASSERT_TRUE(parser.Feed("\n", &events).ok());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].raw, "data: a\r\n\r\n");
  // CR-only line endings: the next byte is not LF, or the stream ends (Finish()).
  ASSERT_TRUE(parser.Feed("data: b\r\r", &events).ok());
  ASSERT_TRUE(parser.Feed("data: c\r\r", &events).ok());
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].raw, "data: b\r\r");
  parser.Finish(&events);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2].data, "c");
  EXPECT_FALSE(parser.HasPartialBlock());
}

TEST(SseParserTest, TruncatedStreamLeavesAPartialBlock) {
  SseParser parser;
  std::vector<SseEvent> events;
  ASSERT_TRUE(parser.Feed("data: one\n\ndata: {\"trunc", &events).ok());
  EXPECT_EQ(events.size(), 1u);
  EXPECT_TRUE(parser.HasPartialBlock());
  EXPECT_EQ(parser.partial_block(), "data: {\"trunc");
  // A complete line without the blank line is still unfinished.
  ASSERT_TRUE(parser.Feed("ated\"}\n", &events).ok());
  EXPECT_EQ(events.size(), 1u);
  EXPECT_TRUE(parser.HasPartialBlock());
}

TEST(SseParserTest, FieldRules) {
  std::string nul_id("id: a\0b\ndata: i\n\n", 17);
  SseParser parser;
  auto events =
      ParseAll({"data\n\n",               // no colon: the value is empty
                "data:  two spaces\n\n",  // only one space is dropped
                "event: x\n\n",           // no data line: not an event per spec
                "id: ok\nretry: 12a\nunknown: f\ndata: r\n\n", nul_id, "\n"},  // an empty block
               &parser);
  ASSERT_EQ(events.size(), 6u);
  EXPECT_TRUE(events[0].has_data);
  EXPECT_EQ(events[0].data, "");
  EXPECT_EQ(events[1].data, " two spaces");
  EXPECT_FALSE(events[2].has_data);
  EXPECT_EQ(events[2].type, "x");
  EXPECT_EQ(events[3].data, "r");
  EXPECT_FALSE(events[3].retry_ms.has_value());  // digits only
  EXPECT_FALSE(events[4].id.has_value());        // an id with NUL is ignored
  EXPECT_EQ(parser.last_event_id(), "ok");
  EXPECT_FALSE(events[5].has_data);
  EXPECT_EQ(events[5].raw, "\n");
}

TEST(SseParserTest, NotABomIsContent) {
  // Bytes that start like a BOM but are not one must be kept.
  auto events = ParseAll({"\xEF", "data: x\n\n"});
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(events[0].has_data);  // the field name is "\xEFdata"
  EXPECT_EQ(events[0].raw,
            "\xEF"
            "data: x\n\n");
  auto split_bom = ParseAll({"\xEF\xBB", "\xBF", "data: y\n\n"});
  ASSERT_EQ(split_bom.size(), 1u);
  EXPECT_EQ(split_bom[0].data, "y");
}

TEST(SseParserTest, OversizedBlockIsAnError) {
  SseParser parser(SseParserOptions{.max_block_bytes = 64});
  std::vector<SseEvent> events;
  EXPECT_TRUE(parser.Feed("data: small\n\n", &events).ok());
  absl::Status s = parser.Feed(std::string(100, 'x'), &events);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(parser.Feed("\n\n", &events).ok());  // stays failed
  EXPECT_EQ(events.size(), 1u);
}

TEST(SseWriterTest, FormatsEvents) {
  EXPECT_EQ(FormatSseData("{\"a\":1}"), "data: {\"a\":1}\n\n");
  EXPECT_EQ(FormatSseEvent({.type = "message_stop", .data = "{}"}),
            "event: message_stop\ndata: {}\n\n");
  EXPECT_EQ(FormatSseEvent({.data = "a\r\nb\nc\rd", .id = "5", .retry_ms = 10}),
            "id: 5\nretry: 10\ndata: a\ndata: b\ndata: c\ndata: d\n\n");
  EXPECT_EQ(FormatSseEvent({.data = ""}), "data: \n\n");
  EXPECT_EQ(FormatSseComment("ping"), ": ping\n\n");
  EXPECT_EQ(std::string(kSseDoneBlock), "data: [DONE]\n\n");
}

TEST(SseWriterTest, RoundTrip) {
  std::string text = FormatSseEvent({.type = "t", .data = "x\ny\n"}) + FormatSseComment("c");
  auto events = ParseAll({text});
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type, "t");
  EXPECT_EQ(events[0].data, "x\ny");  // a trailing line break does not add a line
  EXPECT_EQ(events[1].comments, std::vector<std::string>{"c"});
}

}  // namespace
}  // namespace genops::gateway
