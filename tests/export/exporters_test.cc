// Console, file and in-memory exporters.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "src/export/console_exporter.h"
#include "src/export/file_exporter.h"
#include "src/export/memory_exporter.h"
#include "tests/export/span_fixtures.h"

namespace genops::exporter {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::filesystem::path UniqueTempDir(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) /
                              (std::string("genops_export_") + info->name() + "_" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

std::vector<std::string> ReadLines(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// ---- Console ------------------------------------------------------------------------------

TEST(ConsoleExporterTest, OneLinePerSpanWithNameCostAndAttribution) {
  std::ostringstream out;
  ConsoleExporter exporter(out);
  const auto spans = genops::testing::MakeGenOpsBatch(2);
  ASSERT_EQ(exporter.Export(spans), ExportResult::kSuccess);
  const std::string text = out.str();
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], HasSubstr("2023-11-14T22:13:20.000Z chat gpt-4o CLIENT OK 1250.0ms"));
  EXPECT_THAT(lines[0], HasSubstr("cost=$0.004250 USD"));
  EXPECT_THAT(lines[0], HasSubstr("provider=openai"));
  EXPECT_THAT(lines[0], HasSubstr("model=gpt-4o-2024-08-06"));
  EXPECT_THAT(lines[0], HasSubstr("team=platform project=llm-api env=production"));
  EXPECT_THAT(lines[0], HasSubstr("customer=acme-corp"));
  EXPECT_THAT(lines[0], HasSubstr("tokens=1200/350"));
  EXPECT_THAT(lines[0], HasSubstr("policy=allowed"));
  EXPECT_THAT(lines[0], HasSubstr("trace=" + spans[0].trace_id.ToHex()));
  EXPECT_THAT(lines[1], HasSubstr("tokens=1201/350"));
}

TEST(ConsoleExporterTest, ControlCharactersCannotForgeLines) {
  telemetry::SpanData span = genops::testing::MakeGenOpsSpan(0);
  span.name = "evil\nFAKE LINE\x1b[31m";
  span.status_code = telemetry::StatusCode::kError;
  span.status_message = "budget\r\nexceeded";
  const std::string line = ConsoleExporter::FormatSpan(span);
  EXPECT_THAT(line, Not(HasSubstr("\n")));
  EXPECT_THAT(line, Not(HasSubstr("\x1b")));
  EXPECT_THAT(line, HasSubstr("evil?FAKE LINE?[31m"));
  EXPECT_THAT(line, HasSubstr("ERROR(\"budget??exceeded\")"));
}

TEST(ConsoleExporterTest, ReceivedSpansNameTheirApplication) {
  telemetry::SpanData span = genops::testing::MakeGenOpsSpan(0);
  EXPECT_THAT(ConsoleExporter::FormatSpan(span), Not(HasSubstr("service=")));
  span.origin = genops::testing::MakeOrigin("app-x", "@traceloop/instrumentation-openai", "1");
  EXPECT_THAT(ConsoleExporter::FormatSpan(span),
              HasSubstr(" service=app-x scope=@traceloop/instrumentation-openai trace="));
}

TEST(ConsoleExporterTest, FailsAfterShutdown) {
  std::ostringstream out;
  ConsoleExporter exporter(out);
  EXPECT_TRUE(exporter.Shutdown(std::chrono::seconds(1)));
  const auto spans = genops::testing::MakeGenOpsBatch(1);
  EXPECT_EQ(exporter.Export(spans), ExportResult::kFailure);
  EXPECT_TRUE(out.str().empty());
}

// ---- File ---------------------------------------------------------------------------------

TEST(FileExporterTest, WritesParseableJsonLinesAndAppends) {
  const auto path = UniqueTempDir("jsonl") / "spans.jsonl";
  const auto spans = genops::testing::MakeGenOpsBatch(3);
  {
    auto exporter = FileExporter::Create(path.string(), genops::testing::MakeResource());
    ASSERT_TRUE(exporter.ok()) << exporter.status();
    ASSERT_EQ((*exporter)->Export(std::span(spans).first(2)), ExportResult::kSuccess);
    ASSERT_TRUE((*exporter)->ForceFlush(std::chrono::seconds(1)));
    EXPECT_EQ(ReadLines(path).size(), 2u);  // flushed: visible before shutdown
    ASSERT_EQ((*exporter)->Export(std::span(spans).subspan(2)), ExportResult::kSuccess);
    ASSERT_TRUE((*exporter)->Shutdown(std::chrono::seconds(1)));
    EXPECT_EQ((*exporter)->Export(spans), ExportResult::kFailure);
  }
  {
    auto again = FileExporter::Create(path.string(), genops::testing::MakeResource());
    ASSERT_TRUE(again.ok()) << again.status();
    ASSERT_EQ((*again)->Export(std::span(spans).first(1)), ExportResult::kSuccess);
  }  // the destructor closes (and flushes) the file

  const auto lines = ReadLines(path);
  ASSERT_EQ(lines.size(), 4u);  // appended, not truncated
  for (size_t i = 0; i < lines.size(); ++i) {
    const nlohmann::json json = nlohmann::json::parse(lines[i]);  // throws -> test fails
    const auto& span = spans[i == 3 ? 0 : i];
    EXPECT_EQ(json["traceId"], span.trace_id.ToHex());
    EXPECT_EQ(json["spanId"], span.span_id.ToHex());
    EXPECT_EQ(json["name"], "chat gpt-4o");
    EXPECT_EQ(json["kind"], 3);
    EXPECT_EQ(json["resource"]["attributes"][0]["key"], "service.name");
    EXPECT_EQ(json["resource"]["attributes"][0]["value"]["stringValue"], "checkout-assistant");
    EXPECT_EQ(json["scope"]["name"], "genops");
  }
}

TEST(FileExporterTest, ReceivedSpansCarryTheirApplicationsResourceAndScope) {
  const auto path = UniqueTempDir("origin") / "spans.jsonl";
  auto spans = genops::testing::MakeGenOpsBatch(3);
  spans[1].origin =
      genops::testing::MakeOrigin("app-x", "@traceloop/instrumentation-openai", "0.11.0");
  {
    auto exporter = FileExporter::Create(path.string(), genops::testing::MakeResource());
    ASSERT_TRUE(exporter.ok()) << exporter.status();
    ASSERT_EQ((*exporter)->Export(spans), ExportResult::kSuccess);
  }
  const auto lines = ReadLines(path);
  ASSERT_EQ(lines.size(), 3u);
  for (size_t i = 0; i < lines.size(); ++i) {
    const nlohmann::json json = nlohmann::json::parse(lines[i]);
    EXPECT_EQ(json["spanId"], spans[i].span_id.ToHex());
    EXPECT_EQ(json["resource"]["attributes"][0]["key"], "service.name");
    if (i == 1) {
      EXPECT_EQ(json["resource"]["attributes"][0]["value"]["stringValue"], "app-x");
      EXPECT_EQ(json["resource"]["attributes"].size(), 3u);
      EXPECT_EQ(json["scope"]["name"], "@traceloop/instrumentation-openai");
      EXPECT_EQ(json["scope"]["version"], "0.11.0");
    } else {
      EXPECT_EQ(json["resource"]["attributes"][0]["value"]["stringValue"], "checkout-assistant");
      EXPECT_EQ(json["scope"]["name"], "genops");
    }
    EXPECT_EQ(json["attributes"].size(), spans[i].attributes.size());  // genops.* kept
  }
}

TEST(FileExporterTest, ABatchLargerThanOneWriteChunkKeepsEveryLineWholeAndInOrder) {
  // The exporter writes in ~64 KB chunks; 600 spans of ~1.5 KB span many of them.
  const auto path = UniqueTempDir("chunks") / "spans.jsonl";
  const auto spans = genops::testing::MakeGenOpsBatch(600);
  {
    auto exporter = FileExporter::Create(path.string(), genops::testing::MakeResource());
    ASSERT_TRUE(exporter.ok()) << exporter.status();
    ASSERT_EQ((*exporter)->Export(spans), ExportResult::kSuccess);
  }
  const auto lines = ReadLines(path);
  ASSERT_EQ(lines.size(), spans.size());
  size_t bytes = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    bytes += lines[i].size() + 1;
    const nlohmann::json json = nlohmann::json::parse(lines[i]);  // throws -> test fails
    EXPECT_EQ(json["spanId"], spans[i].span_id.ToHex()) << "line " << i;
  }
  EXPECT_GT(bytes, 4u * 64 * 1024);
}

TEST(FileExporterTest, UnopenablePathIsAClearError) {
  const auto dir = UniqueTempDir("bad");
  const std::string missing = (dir / "no-such-dir" / "spans.jsonl").string();
  auto exporter = FileExporter::Create(missing, genops::testing::MakeResource());
  ASSERT_FALSE(exporter.ok());
  EXPECT_EQ(exporter.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(exporter.status().message()), HasSubstr(missing));
  EXPECT_THAT(std::string(exporter.status().message()), HasSubstr("No such file or directory"));

  auto directory = FileExporter::Create(dir.string(), genops::testing::MakeResource());
  ASSERT_FALSE(directory.ok());
  EXPECT_THAT(std::string(directory.status().message()), HasSubstr("Is a directory"));

  EXPECT_FALSE(FileExporter::Create("", genops::testing::MakeResource()).ok());
}

// ---- Memory -------------------------------------------------------------------------------

TEST(InMemorySpanExporterTest, StoresClearsAndFailsOnDemand) {
  InMemorySpanExporter exporter;
  const auto spans = genops::testing::MakeGenOpsBatch(3);
  ASSERT_EQ(exporter.Export(spans), ExportResult::kSuccess);
  ASSERT_EQ(exporter.GetSpans().size(), 3u);
  EXPECT_EQ(exporter.GetSpans()[2].span_id, spans[2].span_id);

  exporter.SetExportResult(ExportResult::kFailure);
  EXPECT_EQ(exporter.Export(spans), ExportResult::kFailure);
  EXPECT_EQ(exporter.span_count(), 3u);
  exporter.SetExportResult(ExportResult::kSuccess);

  exporter.Clear();
  EXPECT_EQ(exporter.span_count(), 0u);
  EXPECT_EQ(exporter.export_calls(), 2u);
  EXPECT_TRUE(exporter.ForceFlush(std::chrono::seconds(1)));
  EXPECT_EQ(exporter.force_flush_calls(), 1u);

  EXPECT_TRUE(exporter.Shutdown(std::chrono::seconds(1)));
  EXPECT_TRUE(exporter.is_shutdown());
  EXPECT_EQ(exporter.Export(spans), ExportResult::kFailure);
  EXPECT_EQ(exporter.span_count(), 0u);
}

TEST(InMemorySpanExporterTest, KeepsTheOrigin) {
  InMemorySpanExporter exporter;
  auto spans = genops::testing::MakeGenOpsBatch(2);
  spans[0].origin = genops::testing::MakeOrigin("app-x", "scope", "1");
  ASSERT_EQ(exporter.Export(spans), ExportResult::kSuccess);
  const auto stored = exporter.GetSpans();
  ASSERT_EQ(stored.size(), 2u);
  EXPECT_EQ(stored[0].origin, spans[0].origin);
  EXPECT_EQ(stored[1].origin, nullptr);
}

TEST(InMemorySpanExporterTest, WaitForSpansWakesWhenAnotherThreadExports) {
  InMemorySpanExporter exporter;
  const auto spans = genops::testing::MakeGenOpsBatch(4);
  std::thread producer([&] {
    for (const auto& span : spans) exporter.Export(std::span(&span, 1));
  });
  EXPECT_TRUE(exporter.WaitForSpans(4, std::chrono::seconds(10)));
  producer.join();
  EXPECT_EQ(exporter.span_count(), 4u);
  EXPECT_FALSE(exporter.WaitForSpans(5, std::chrono::milliseconds(1)));
}

}  // namespace
}  // namespace genops::exporter
