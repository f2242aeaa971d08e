#include "src/gateway/sse.h"

#include <utility>

#include "src/core/text.h"

namespace genops::gateway {
namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";

bool AllDigits(std::string_view s) {
  if (s.empty() || s.size() > 18) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// Calls `line_fn` for each line of `text` split on CR LF, LF or CR. A trailing line break
// does not produce an extra empty line; empty text is one empty line.
template <typename LineFn>
void ForEachLine(std::string_view text, LineFn line_fn) {
  size_t start = 0;
  while (true) {
    size_t end = text.find_first_of("\r\n", start);
    if (end == std::string_view::npos) {
      if (start < text.size() || start == 0) line_fn(text.substr(start));
      return;
    }
    line_fn(text.substr(start, end - start));
    start = end + 1;
    if (text[end] == '\r' && start < text.size() && text[start] == '\n') ++start;
    if (start == text.size()) return;
  }
}

}  // namespace

absl::Status SseParser::Feed(std::string_view chunk, std::vector<SseEvent>* events) {
  if (!status_.ok()) return status_;
  if (at_stream_start_) {
    // The BOM may itself be split across chunks: hold its bytes until it is decided.
    while (!chunk.empty() && bom_prefix_.size() < kBom.size()) {
      if (chunk.front() != kBom[bom_prefix_.size()]) break;
      bom_prefix_.push_back(chunk.front());
      chunk.remove_prefix(1);
    }
    if (bom_prefix_.size() == kBom.size()) {
      at_stream_start_ = false;  // a whole BOM: dropped
    } else if (!chunk.empty()) {
      at_stream_start_ = false;  // not a BOM after all: the held bytes are content
      std::string held = std::move(bom_prefix_);
      bom_prefix_.clear();
      if (!held.empty()) {
        if (absl::Status s = Feed(held, events); !s.ok()) return s;
      }
    } else {
      return absl::OkStatus();  // still undecided
    }
  }
  size_t pos = 0;
  while (pos < chunk.size()) {
    if (pending_cr_) {
      pending_cr_ = false;
      if (chunk[pos] == '\n') {
        raw_.push_back('\n');  // the LF of a CR LF pair split across chunks
        ++pos;
      }
      if (dispatch_pending_) {
        dispatch_pending_ = false;
        Dispatch(events);
      }
      continue;
    }
    // A plain loop: libstdc++'s find_first_of calls memchr once per byte for a two-byte set.
    size_t end = pos;
    while (end < chunk.size() && chunk[end] != '\n' && chunk[end] != '\r') ++end;
    if (end == chunk.size()) {
      line_.append(chunk.substr(pos));
      raw_.append(chunk.substr(pos));
      pos = chunk.size();
      break;
    }
    // The line is read in place when no part of it came with an earlier chunk.
    std::string_view line;
    if (line_.empty()) {
      line = chunk.substr(pos, end - pos);
    } else {
      line_.append(chunk.substr(pos, end - pos));
      line = line_;
    }
    raw_.append(chunk.substr(pos, end - pos + 1));
    pos = end + 1;
    if (chunk[end] == '\r') {
      if (pos < chunk.size()) {
        if (chunk[pos] == '\n') {
          raw_.push_back('\n');
          ++pos;
        }
      } else {
        pending_cr_ = true;
      }
    }
    if (raw_.size() > options_.max_block_bytes) break;
    if (line.empty()) {
      if (pending_cr_) {
        dispatch_pending_ = true;  // wait: the next byte may belong to this terminator
      } else {
        Dispatch(events);
      }
    } else {
      ProcessLine(line);
    }
    line_.clear();  // keeps its capacity for the next split line
  }
  if (raw_.size() > options_.max_block_bytes) {
    status_ = absl::ResourceExhaustedError(
        Cat("SSE stream: an event exceeds ", options_.max_block_bytes,
            " bytes without ending (no blank line); the stream is not valid text/event-stream "
            "or max_block_bytes is too small"));
    return status_;
  }
  return absl::OkStatus();
}

void SseParser::ProcessLine(std::string_view line) {
  if (line.front() == ':') {
    std::string_view text = line.substr(1);
    if (!text.empty() && text.front() == ' ') text.remove_prefix(1);
    current_.comments.emplace_back(text);
    return;
  }
  std::string_view field = line;
  std::string_view value;
  if (size_t colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    current_.data.append(value);
    current_.data.push_back('\n');
    current_.has_data = true;
  } else if (field == "event") {
    current_.type = std::string(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) {
      current_.id = std::string(value);
      last_event_id_ = std::string(value);
    }
  } else if (field == "retry") {
    if (AllDigits(value)) {
      int64_t ms = 0;
      for (char c : value) ms = ms * 10 + (c - '0');
      current_.retry_ms = ms;
    }
  }
  // Other fields are ignored, as the specification requires.
}

void SseParser::Finish(std::vector<SseEvent>* events) {
  if (dispatch_pending_) {
    dispatch_pending_ = false;
    pending_cr_ = false;
    Dispatch(events);
  }
}

void SseParser::Dispatch(std::vector<SseEvent>* events) {
  if (!current_.data.empty()) current_.data.pop_back();  // the last data line's '\n'
  current_.raw = std::move(raw_);
  raw_.clear();
  events->push_back(std::move(current_));
  current_ = SseEvent();
}

std::string FormatSseEvent(const SseEventSpec& event) {
  std::string out;
  out.reserve(event.data.size() + event.type.size() + 32);
  if (!event.type.empty()) out.append("event: ").append(event.type).push_back('\n');
  if (!event.id.empty()) out.append("id: ").append(event.id).push_back('\n');
  if (event.retry_ms.has_value()) out.append(Cat("retry: ", *event.retry_ms, "\n"));
  ForEachLine(event.data,
              [&out](std::string_view line) { out.append("data: ").append(line).push_back('\n'); });
  out.push_back('\n');
  return out;
}

std::string FormatSseData(std::string_view data) { return FormatSseEvent({.data = data}); }

std::string FormatSseComment(std::string_view text) {
  std::string out;
  ForEachLine(text,
              [&out](std::string_view line) { out.append(": ").append(line).push_back('\n'); });
  out.push_back('\n');
  return out;
}

}  // namespace genops::gateway
