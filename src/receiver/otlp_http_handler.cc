#include "src/receiver/otlp_http_handler.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "src/core/text.h"
#include "src/export/encoding_util.h"
#include "src/export/gzip.h"

namespace genops::receiver {
namespace {

using gateway::HttpRequest;
using gateway::HttpResponse;

constexpr std::string_view kProtobufType = "application/x-protobuf";
constexpr std::string_view kJsonType = "application/json";

// google.rpc.Status codes used here.
constexpr int kRpcInvalidArgument = 3;
constexpr int kRpcResourceExhausted = 8;
constexpr int kRpcUnavailable = 14;

std::string_view Sv(absl::string_view s) { return std::string_view(s.data(), s.size()); }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

void AppendVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void AppendLenField(uint32_t field, std::string_view bytes, std::string* out) {
  AppendVarint(field << 3 | 2, out);
  AppendVarint(bytes.size(), out);
  out->append(bytes);
}

std::string Utf8(std::string_view text) {
  return exporter::IsValidUtf8(text) ? std::string(text) : exporter::SanitizeUtf8(text);
}

std::string JsonString(std::string_view text) {
  std::string out;
  exporter::AppendJsonString(Utf8(text), &out);
  return out;
}

// A google.rpc.Status in the request's content type (the OTLP/HTTP failure body).
HttpResponse StatusResponse(int http_status, int rpc_code, std::string_view message,
                            PayloadFormat format) {
  HttpResponse r;
  r.status = http_status;
  if (format == PayloadFormat::kJson) {
    r.headers.Add("Content-Type", kJsonType);
    r.body = Cat("{\"code\":", rpc_code, ",\"message\":", JsonString(message), "}");
  } else {
    r.headers.Add("Content-Type", kProtobufType);
    AppendVarint(1 << 3 | 0, &r.body);
    AppendVarint(static_cast<uint64_t>(rpc_code), &r.body);
    AppendLenField(2, Utf8(message), &r.body);
  }
  return r;
}

HttpResponse Unavailable(std::string_view message, PayloadFormat format) {
  HttpResponse r = StatusResponse(503, kRpcUnavailable, message, format);
  r.headers.Add("Retry-After", "1");
  return r;
}

}  // namespace

std::string EncodeExportResponseProto(int64_t rejected_spans, std::string_view error_message) {
  if (rejected_spans == 0 && error_message.empty()) return "";
  std::string partial;
  if (rejected_spans != 0) {
    AppendVarint(1 << 3 | 0, &partial);
    AppendVarint(static_cast<uint64_t>(rejected_spans), &partial);
  }
  if (!error_message.empty()) AppendLenField(2, Utf8(error_message), &partial);
  std::string out;
  AppendLenField(1, partial, &out);
  return out;
}

std::string EncodeExportResponseJson(int64_t rejected_spans, std::string_view error_message) {
  if (rejected_spans == 0 && error_message.empty()) return "{}";
  return Cat("{\"partialSuccess\":{\"rejectedSpans\":\"", rejected_spans,
             "\",\"errorMessage\":", JsonString(error_message), "}}");
}

OtlpHttpReceiver::OtlpHttpReceiver(std::shared_ptr<OtlpTraceReceiver> receiver, Executor executor,
                                   OtlpHttpOptions options)
    : receiver_(std::move(receiver)),
      executor_(std::move(executor)),
      options_(std::move(options)) {}

gateway::HttpHandler OtlpHttpReceiver::handler() {
  std::shared_ptr<OtlpHttpReceiver> self = shared_from_this();
  return [self](HttpRequest request, std::shared_ptr<gateway::HttpResponseWriter> writer) {
    self->Handle(std::move(request), std::move(writer));
  };
}

OtlpHttpReceiver::Checked OtlpHttpReceiver::Check(const HttpRequest& request) {
  Checked c;
  if (request.path != options_.path) {
    c.refusal = Count(
        HttpResponse::Text(404, Cat("not found: ", request.path.substr(0, 200),
                                    "; the OTLP receiver serves POST ", options_.path, "\n")));
    return c;
  }
  if (request.method != "POST") {
    c.refusal =
        Count(HttpResponse::Text(405, Cat(request.method.substr(0, 20), " is not allowed on ",
                                          options_.path, "; use POST\n")));
    c.refusal.headers.Add("Allow", "POST");
    return c;
  }
  std::string_view type = request.headers.GetOr("Content-Type", "");
  if (const size_t semi = type.find(';'); semi != std::string_view::npos)
    type = type.substr(0, semi);
  type = Trim(type);
  if (gateway::EqualsIgnoreCase(type, kProtobufType) ||
      gateway::EqualsIgnoreCase(type, "application/protobuf")) {
    c.format = PayloadFormat::kProtobuf;
  } else if (gateway::EqualsIgnoreCase(type, kJsonType)) {
    c.format = PayloadFormat::kJson;
  } else {
    c.refusal = Count(HttpResponse::Text(
        415, Cat("unsupported Content-Type \"", type.substr(0, 100),
                 "\"; OTLP/HTTP accepts application/x-protobuf or application/json\n")));
    return c;
  }
  const std::string_view coding = Trim(request.headers.GetOr("Content-Encoding", ""));
  if (coding.empty() || gateway::EqualsIgnoreCase(coding, "identity")) {
    c.encoding = Encoding::kIdentity;
  } else if (gateway::EqualsIgnoreCase(coding, "gzip") ||
             gateway::EqualsIgnoreCase(coding, "x-gzip") ||
             gateway::EqualsIgnoreCase(coding, "deflate")) {
    c.encoding = Encoding::kGzip;  // zlib auto-detects gzip and zlib-wrapped deflate
  } else {
    c.refusal = Count(
        HttpResponse::Text(415, Cat("unsupported Content-Encoding \"", coding.substr(0, 100),
                                    "\"; the OTLP receiver accepts gzip, deflate or none\n")));
    return c;
  }
  if (request.body.size() > options_.max_body_bytes) {
    c.refusal = Count(StatusResponse(
        413, kRpcResourceExhausted,
        Cat("the request body has ", request.body.size(), " bytes, above the receiver's limit of ",
            options_.max_body_bytes, "; send smaller batches"),
        c.format));
    return c;
  }
  c.ok = true;
  return c;
}

HttpResponse OtlpHttpReceiver::Process(const HttpRequest& request, const Checked& checked) {
  std::string inflated;
  std::string_view body = request.body;
  if (checked.encoding == Encoding::kGzip) {
    absl::StatusOr<std::string> out =
        exporter::GzipDecompress(request.body, options_.max_decompressed_bytes);
    if (!out.ok()) {
      if (out.status().code() == absl::StatusCode::kResourceExhausted) {
        return Count(
            StatusResponse(413, kRpcResourceExhausted,
                           Cat("the decompressed request body exceeds the receiver's limit of ",
                               options_.max_decompressed_bytes, " bytes; send smaller batches"),
                           checked.format));
      }
      return Count(
          StatusResponse(400, kRpcInvalidArgument,
                         Cat("Content-Encoding ", request.headers.GetOr("Content-Encoding", ""),
                             ": ", out.status().message()),
                         checked.format));
    }
    inflated = std::move(*out);
    body = inflated;
  }
  const ExportOutcome outcome = receiver_->Export(body, checked.format);
  if (!outcome.status.ok()) {
    if (outcome.status.code() == absl::StatusCode::kInvalidArgument) {
      return Count(
          StatusResponse(400, kRpcInvalidArgument, Sv(outcome.status.message()), checked.format));
    }
    return Count(Unavailable(Sv(outcome.status.message()), checked.format));
  }
  HttpResponse r;
  r.status = 200;
  if (checked.format == PayloadFormat::kJson) {
    r.headers.Add("Content-Type", kJsonType);
    r.body = EncodeExportResponseJson(outcome.rejected_spans, outcome.error_message);
  } else {
    r.headers.Add("Content-Type", kProtobufType);
    r.body = EncodeExportResponseProto(outcome.rejected_spans, outcome.error_message);
  }
  return Count(std::move(r), outcome.rejected_spans);
}

HttpResponse OtlpHttpReceiver::HandleSync(const HttpRequest& request) {
  const Checked checked = Check(request);
  if (!checked.ok) return checked.refusal;
  return Process(request, checked);
}

void OtlpHttpReceiver::Handle(HttpRequest request,
                              std::shared_ptr<gateway::HttpResponseWriter> writer) {
  Checked checked = Check(request);
  if (!checked.ok) {
    writer->Respond(std::move(checked.refusal));
    return;
  }
  if (!executor_) {
    writer->Respond(Process(request, checked));
    return;
  }
  const PayloadFormat format = checked.format;
  std::shared_ptr<OtlpHttpReceiver> self = shared_from_this();
  auto shared_request = std::make_shared<HttpRequest>(std::move(request));
  const bool posted = executor_([self, shared_request, checked = std::move(checked), writer] {
    writer->Respond(self->Process(*shared_request, checked));
  });
  if (!posted) {
    writer->Respond(Count(
        Unavailable("the receiver is overloaded (its work queue is full); retry later", format)));
  }
}

HttpResponse OtlpHttpReceiver::Count(HttpResponse response, int64_t rejected) {
  std::atomic<uint64_t>* counter = nullptr;
  switch (response.status) {
    case 200:
      counter = rejected > 0 ? &partial_ : &ok_;
      break;
    case 400:
      counter = &bad_request_;
      break;
    case 413:
      counter = &too_large_;
      break;
    case 415:
      counter = &unsupported_media_;
      break;
    case 404:
    case 405:
      counter = &not_found_;
      break;
    default:
      counter = &unavailable_;
      break;
  }
  counter->fetch_add(1, std::memory_order_relaxed);
  return response;
}

OtlpHttpStats OtlpHttpReceiver::stats() const {
  OtlpHttpStats s;
  s.ok = ok_.load(std::memory_order_relaxed);
  s.partial = partial_.load(std::memory_order_relaxed);
  s.bad_request = bad_request_.load(std::memory_order_relaxed);
  s.unsupported_media = unsupported_media_.load(std::memory_order_relaxed);
  s.too_large = too_large_.load(std::memory_order_relaxed);
  s.not_found = not_found_.load(std::memory_order_relaxed);
  s.unavailable = unavailable_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace genops::receiver
