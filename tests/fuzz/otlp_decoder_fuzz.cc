// Fuzz target for the OTLP receiver's decoders (src/receiver/otlp_decoder.h) and the span
// reading that follows them (src/receiver/span_enricher.h).
//
// LLVMFuzzerTestOneInput is the libFuzzer / AFL++ entry point. The first input byte picks the
// decoder (even: protobuf, odd: OTLP/JSON); the rest is the request body. For every input:
//   - decoding never crashes, hangs or allocates without bound (the limits are lowered so
//     mutated counts and sizes hit them);
//   - an error is InvalidArgument and names where it happened;
//   - protobuf only: whatever libprotobuf parses, the decoder parses too, except for what it
//     refuses on purpose (ids of the wrong length, values nested deeper than its limit, limits);
//   - a decoded request goes through ReadLlmCall, attribution and AnnotateLlmSpan, is
//     re-encoded with the exporters' encoder and decodes again to the same number of spans.
// A violated property calls abort(), which both libFuzzer and the standalone driver report.
//
// Without libFuzzer (GCC builds; GENOPS_LIBFUZZER undefined), main() below is a small driver:
//   otlp_decoder_fuzz [--mutations=N] [--seed=S] [--max_len=BYTES] [--write_seeds=DIR]
//                     [CORPUS_DIR_OR_FILE...]
// (--write_seeds writes the built-in seeds as files, e.g. to start a libFuzzer corpus.)
// It runs built-in seeds (valid protobuf and JSON requests made with the project's encoders)
// and every corpus file, then N random mutations of them (bit flips, byte changes, insertions,
// deletions, truncations, splices, interesting integers), and prints a summary. CI runs it
// briefly (see the report for the CMake lines); a failing input is written to
// ./otlp_decoder_crash.bin before aborting, so it can be added to the corpus.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "google/protobuf/stubs/logging.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "src/export/otlp_json_encoder.h"
#include "src/export/otlp_proto_encoder.h"
#include "src/receiver/otlp_decoder.h"
#include "src/receiver/span_enricher.h"

namespace {

using genops::receiver::DecodedTraces;
using genops::receiver::DecodeLimits;

const DecodeLimits& FuzzLimits() {
  static const DecodeLimits limits = [] {
    DecodeLimits l;
    l.max_spans = 1000;
    l.max_attributes = 200;
    l.max_events_per_span = 100;
    l.max_key_bytes = 256;
    l.max_value_bytes = 64 * 1024;
    l.max_array_values = 200;
    l.max_value_depth = 8;
    return l;
  }();
  return limits;
}

std::string* g_current_input = nullptr;  // for the driver's crash file

// libprotobuf logs every invalid UTF-8 string it refuses; mutated inputs have thousands.
const bool g_quiet_libprotobuf = [] {
  google::protobuf::SetLogHandler(nullptr);
  return true;
}();

[[noreturn]] void Fail(std::string_view what, const absl::Status& status = absl::OkStatus()) {
  std::cerr << "otlp_decoder_fuzz: property violated: " << what;
  if (!status.ok()) std::cerr << " (" << status << ")";
  std::cerr << "\n";
  if (g_current_input != nullptr) {
    std::ofstream("otlp_decoder_crash.bin", std::ios::binary) << *g_current_input;
    std::cerr << "input written to otlp_decoder_crash.bin\n";
  }
  std::abort();
}

bool RefusedOnPurpose(std::string_view message) {
  for (std::string_view s :
       {"it must have", "nested", "more than", "exceeds the limit", "groups nested"}) {
    if (message.find(s) != std::string_view::npos) return true;
  }
  return false;
}

void Exercise(DecodedTraces& traces) {
  size_t spans = 0;
  for (genops::receiver::ScopeSpansBatch& batch : traces.batches) {
    const genops::Attribution base =
        genops::receiver::ResourceAttribution(batch.resource, genops::Attribution{});
    for (genops::telemetry::SpanData& span : batch.spans) {
      ++spans;
      absl::StatusOr<genops::receiver::LlmCall> call =
          genops::receiver::ReadLlmCall(span, batch.resource);
      if (!call.ok()) {
        if (call.status().code() != absl::StatusCode::kInvalidArgument) {
          Fail("ReadLlmCall error is not InvalidArgument", call.status());
        }
        continue;
      }
      if (call->has_usage && !call->usage.Validate().ok()) Fail("ReadLlmCall gave invalid usage");
      if (!call->is_llm) continue;
      genops::receiver::LlmAnnotation an;
      an.call = &*call;
      an.attribution = genops::receiver::SpanAttribution(span, base);
      an.operation_id = "otlp-fuzz";
      an.priced = true;
      an.charged = true;
      genops::receiver::AnnotateLlmSpan(an, span);
    }
  }
  if (spans != traces.span_count) Fail("span_count does not match the batches");
  // Our own encoding of what was decoded must decode again.
  std::string body;
  DecodeLimits relaxed;
  for (const genops::receiver::ScopeSpansBatch& batch : traces.batches) {
    genops::exporter::EncodeOtlpProto(batch.spans, batch.resource, &body);
    DecodedTraces again;
    const absl::Status s = genops::receiver::DecodeOtlpProto(body, relaxed, &again);
    if (!s.ok()) Fail("the re-encoded request does not decode", s);
    if (again.span_count != batch.spans.size()) Fail("the re-encoded request lost spans");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool json = (data[0] & 1) != 0;
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  DecodedTraces traces;
  const absl::Status s = json ? genops::receiver::DecodeOtlpJson(body, FuzzLimits(), &traces)
                              : genops::receiver::DecodeOtlpProto(body, FuzzLimits(), &traces);
  if (!json) {
    opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest reference;
    const bool libprotobuf_ok =
        reference.ParseFromArray(body.data(), static_cast<int>(body.size()));
    if (libprotobuf_ok && !s.ok() &&
        !RefusedOnPurpose(std::string_view(s.message().data(), s.message().size()))) {
      Fail("libprotobuf parses a request the decoder refuses", s);
    }
  }
  if (!s.ok()) {
    if (s.code() != absl::StatusCode::kInvalidArgument) Fail("error is not InvalidArgument", s);
    const std::string_view m(s.message().data(), s.message().size());
    if (m.rfind(json ? "otlp json: " : "otlp protobuf: ", 0) != 0)
      Fail("error lacks its prefix", s);
    return 0;
  }
  Exercise(traces);
  return 0;
}

#ifndef GENOPS_LIBFUZZER

namespace {

std::vector<std::string> BuiltinSeeds() {
  using genops::telemetry::SpanData;
  std::vector<SpanData> spans(3);
  for (size_t k = 0; k < spans.size(); ++k) {
    SpanData& s = spans[k];
    s.trace_id.bytes.fill(static_cast<uint8_t>(0x10 + k));
    s.span_id.bytes.fill(static_cast<uint8_t>(0x20 + k));
    s.name = k == 0 ? "chat gpt-4o" : k == 1 ? "anthropic.chat" : "GET /";
    s.start_unix_nanos = 1'700'000'000'000'000'000;
    s.end_unix_nanos = s.start_unix_nanos + 1000;
    s.status_code = genops::telemetry::StatusCode::kError;
    s.status_message = "err";
  }
  spans[0].attributes = {{"gen_ai.provider.name", std::string("openai")},
                         {"gen_ai.request.model", std::string("gpt-4o")},
                         {"gen_ai.usage.input_tokens", int64_t{100}},
                         {"gen_ai.usage.output_tokens", int64_t{20}},
                         {"gen_ai.usage.cache_read.input_tokens", int64_t{10}},
                         {"gen_ai.response.finish_reasons", std::vector<std::string>{"stop"}},
                         {"genops.team", std::string("t")},
                         {"temperature", 0.5},
                         {"stream", true}};
  spans[1].attributes = {{"gen_ai.system", std::string("Anthropic")},
                         {"gen_ai.request.model", std::string("claude-sonnet-4-5")},
                         {"gen_ai.usage.prompt_tokens", std::string("1500")},
                         {"llm.usage.total_tokens", 1550.0},
                         {"gen_ai.usage.cache_read_input_tokens", int64_t{1000}},
                         {"gen_ai.usage.cache_creation_input_tokens", int64_t{400}},
                         {"traceloop.association.properties.customer_id", std::string("c")}};
  genops::telemetry::SpanEvent e;
  e.name = genops::telemetry::EventName(std::string_view("event"));
  e.attributes = {{"k", std::string("v")}};
  spans[2].events = {e};
  spans[2].parent_span_id.bytes.fill(0x30);
  genops::telemetry::ResourceInfo resource;
  resource.attributes = {{"service.name", std::string("svc")},
                         {"genops.project", std::string("p")}};
  resource.scope_name = "opentelemetry.instrumentation.anthropic";
  resource.scope_version = "0.38.0";

  std::vector<std::string> seeds;
  seeds.push_back('\0' + genops::exporter::EncodeOtlpProto(spans, resource));
  seeds.push_back('\1' + genops::exporter::EncodeOtlpJson(spans, resource));
  // A libprotobuf request with what our encoder never writes: links, kvlists, int arrays,
  // bytes, flags, a resource after its scope spans.
  opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest req;
  auto* rs = req.add_resource_spans();
  auto* span = rs->add_scope_spans()->add_spans();
  span->set_trace_id(std::string(16, 'a'));
  span->set_span_id(std::string(8, 'b'));
  span->set_flags(1);
  span->add_links()->set_trace_id(std::string(16, 'c'));
  auto* kv = span->add_attributes();
  kv->set_key("map");
  auto* entry = kv->mutable_value()->mutable_kvlist_value()->add_values();
  entry->set_key("inner");
  entry->mutable_value()->mutable_array_value()->add_values()->set_int_value(-3);
  auto* bytes = span->add_attributes();
  bytes->set_key("bytes");
  bytes->mutable_value()->set_bytes_value(std::string("\x00\xff", 2));
  rs->mutable_resource()->add_attributes()->set_key("late");
  seeds.push_back('\0' + req.SerializeAsString());
  seeds.push_back(std::string("\1") +
                  R"({"resource_spans":[{"scope_spans":[{"spans":[{)"
                  R"("trace_id":"5B8EFFF798038103D269B633813FC60C","spanId":"7uGbfsPBsXQ=",)"
                  R"("kind":"SPAN_KIND_CLIENT","startTimeUnixNano":1,"attributes":[)"
                  R"({"key":"gen_ai.usage.input_tokens","value":{"intValue":"12"}},)"
                  R"({"key":"d","value":{"doubleValue":"NaN"}}]}]}]}]})");
  return seeds;
}

void AddFile(const std::filesystem::path& path, std::vector<std::string>* corpus) {
  std::ifstream in(path, std::ios::binary);
  corpus->emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string Mutate(const std::vector<std::string>& corpus, std::mt19937_64& rng, size_t max_len) {
  std::string s = corpus[rng() % corpus.size()];
  const int steps = 1 + static_cast<int>(rng() % 4);
  for (int k = 0; k < steps; ++k) {
    const size_t pos = s.empty() ? 0 : rng() % s.size();
    switch (rng() % 8) {
      case 0:  // flip a bit
        if (!s.empty()) s[pos] = static_cast<char>(s[pos] ^ (1 << (rng() % 8)));
        break;
      case 1:  // set a random byte
        if (!s.empty()) s[pos] = static_cast<char>(rng());
        break;
      case 2:  // insert random bytes
        s.insert(pos, std::string(1 + rng() % 8, static_cast<char>(rng())));
        break;
      case 3:  // delete a range
        if (!s.empty()) s.erase(pos, 1 + rng() % 16);
        break;
      case 4:  // truncate
        s.resize(pos);
        break;
      case 5: {  // splice with another input
        const std::string& other = corpus[rng() % corpus.size()];
        if (!other.empty()) s = s.substr(0, pos) + other.substr(rng() % other.size());
        break;
      }
      case 6: {  // an interesting varint / number
        static const char* const kValues[] = {"\xff\xff\xff\xff\x0f",
                                              "\x80\x80\x80\x80\x80\x80",
                                              "-1",
                                              "99999999999999999999",
                                              "1e400",
                                              "\"\\u0000\"",
                                              "\x7f",
                                              "\x00"};
        s.insert(pos, kValues[rng() % (sizeof(kValues) / sizeof(kValues[0]))]);
        break;
      }
      default:  // duplicate a range (repeated fields, nesting)
        if (!s.empty()) s.insert(pos, s.substr(rng() % s.size(), 1 + rng() % 64));
        break;
    }
  }
  if (s.size() > max_len) s.resize(max_len);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t mutations = 10'000;
  uint64_t seed = 1;
  size_t max_len = 1 << 20;
  std::vector<std::string> corpus = BuiltinSeeds();
  for (int k = 1; k < argc; ++k) {
    const std::string_view arg = argv[k];
    if (arg.rfind("--mutations=", 0) == 0) {
      mutations = std::strtoull(argv[k] + 12, nullptr, 10);
    } else if (arg.rfind("--seed=", 0) == 0) {
      seed = std::strtoull(argv[k] + 7, nullptr, 10);
    } else if (arg.rfind("--write_seeds=", 0) == 0) {
      const std::filesystem::path dir(argv[k] + 14);
      std::filesystem::create_directories(dir);
      const std::vector<std::string> seeds = BuiltinSeeds();
      for (size_t n = 0; n < seeds.size(); ++n) {
        std::ofstream(dir / ("seed_" + std::to_string(n)), std::ios::binary) << seeds[n];
      }
      std::cout << "wrote " << seeds.size() << " seeds to " << dir << "\n";
      return 0;
    } else if (arg.rfind("--max_len=", 0) == 0) {
      max_len = std::strtoull(argv[k] + 10, nullptr, 10);
    } else if (arg == "--help" || arg == "-h") {
      std::cout << "usage: otlp_decoder_fuzz [--mutations=N] [--seed=S] [--max_len=BYTES] "
                   "[--write_seeds=DIR] [CORPUS_DIR_OR_FILE...]\n";
      return 0;
    } else if (std::filesystem::is_directory(arg)) {
      for (const auto& entry : std::filesystem::directory_iterator(arg)) {
        if (entry.is_regular_file()) AddFile(entry.path(), &corpus);
      }
    } else if (std::filesystem::is_regular_file(arg)) {
      AddFile(arg, &corpus);
    } else {
      std::cerr << "otlp_decoder_fuzz: " << arg << " is neither a corpus directory nor a file\n";
      return 2;
    }
  }
  for (std::string& input : corpus) {
    g_current_input = &input;
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  }
  std::mt19937_64 rng(seed);
  for (uint64_t k = 0; k < mutations; ++k) {
    std::string input = Mutate(corpus, rng, max_len);
    g_current_input = &input;
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  }
  g_current_input = nullptr;
  std::cout << "otlp_decoder_fuzz: " << corpus.size() << " corpus inputs and " << mutations
            << " mutations (seed " << seed << "): no property violated\n";
  return 0;
}

#endif  // GENOPS_LIBFUZZER
