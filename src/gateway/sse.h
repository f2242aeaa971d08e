// Server-Sent Events (text/event-stream): an incremental parser and a writer.
//
// The gateway passes provider streams through chunk by chunk (DESIGN.md §5) while it reads
// usage out of them, so the parser must accept the stream in whatever pieces TCP delivers:
// an event, a line, a field name or even a CR LF pair may be split across two chunks. Each
// block (the lines up to a blank line) is reported with its exact raw bytes, so a proxy can
// forward the blocks it does not change byte for byte and drop or rewrite the others (the
// usage chunk the gateway added to an OpenAI stream is removed again that way).
//
// Parsing follows the WHATWG "event stream interpretation": lines end in CR LF, LF or CR; a
// leading UTF-8 BOM is ignored; `:` starts a comment; `field: value` drops one space after
// the colon; `data` lines accumulate joined by LF; `id` values containing NUL are ignored;
// `retry` accepts digits only; unknown fields are ignored.
//
//   SseParser parser;
//   std::vector<SseEvent> events;
//   for (std::string_view chunk : chunks) {
//     if (absl::Status s = parser.Feed(chunk, &events); !s.ok()) return s;
//   }
//   if (parser.HasPartialBlock()) { /* the stream ended inside an event */ }
//
// Thread safety: SseParser is thread-compatible (one stream, one parser). The Format*
// functions are pure.
#ifndef GENOPS_GATEWAY_SSE_H_
#define GENOPS_GATEWAY_SSE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace genops::gateway {

// One block of the stream: the lines up to and including the blank line that ends it.
struct SseEvent {
  // The `event` field; empty when absent (a consumer treats that as "message").
  std::string type;
  // The `data` lines joined by '\n' (no trailing newline).
  std::string data;
  // True when the block had at least one `data` line. Per the specification only such
  // blocks are dispatched as events; the others carry only comments or fields and a proxy
  // forwards them as they are (keep-alive comments such as ": ping").
  bool has_data = false;
  // The block's own `id` field, when it had one (see SseParser::last_event_id()).
  std::optional<std::string> id;
  // The block's `retry` field in milliseconds, when it had a valid one.
  std::optional<int64_t> retry_ms;
  // Comment lines without the leading ':' (and without one following space).
  std::vector<std::string> comments;
  // The exact bytes of the block as received, including its terminating blank line (a
  // leading BOM of the stream is not included).
  std::string raw;
};

struct SseParserOptions {
  // A block larger than this is an error (a stream that never sends a blank line must not
  // grow memory without bound).
  size_t max_block_bytes = 16 * 1024 * 1024;
};

// Thread-compatible; see the file comment.
class SseParser {
 public:
  SseParser() = default;
  explicit SseParser(SseParserOptions options) : options_(options) {}

  // Consumes `chunk` and appends each block it completes to `*events`. Returns
  // kResourceExhausted when a block exceeds max_block_bytes; the parser then stays failed.
  absl::Status Feed(std::string_view chunk, std::vector<SseEvent>* events);

  // Call when the stream ended: dispatches a block whose final blank line ended in CR (it
  // waits for the next byte, which could be the LF of CR LF). An unfinished block is not
  // dispatched (see HasPartialBlock()).
  void Finish(std::vector<SseEvent>* events);

  // True when bytes of an unfinished block are pending: a stream that ends now ended in
  // the middle of an event (the specification discards such an event).
  bool HasPartialBlock() const { return !raw_.empty() && !dispatch_pending_; }
  // The pending bytes of the unfinished block.
  std::string_view partial_block() const { return raw_; }
  // The last `id` seen in any block (the specification's "last event ID").
  const std::string& last_event_id() const { return last_event_id_; }

 private:
  void ProcessLine(std::string_view line);
  void Dispatch(std::vector<SseEvent>* events);

  SseParserOptions options_;
  bool at_stream_start_ = true;    // a BOM may still follow
  std::string bom_prefix_;         // bytes of a possibly split BOM at the start
  bool pending_cr_ = false;        // the previous chunk ended in CR; skip an LF that follows
  std::string line_;               // the current unfinished line
  std::string raw_;                // the current block's raw bytes
  bool dispatch_pending_ = false;  // the block is complete but ended in CR (see Finish())
  SseEvent current_;               // fields of the current block
  std::string last_event_id_;
  absl::Status status_;
};

// The pieces of one event to write.
struct SseEventSpec {
  std::string_view type;  // written as `event:` when not empty
  std::string_view data;  // each line (split on CR LF, LF or CR) becomes one `data:` line
  std::string_view id;    // written as `id:` when not empty
  std::optional<int64_t> retry_ms;
};

// The event as text, ending with the blank line: "event: x\ndata: {...}\n\n". Empty data
// still writes one `data:` line so the event is dispatched.
std::string FormatSseEvent(const SseEventSpec& event);
// Shorthand for an event with data only (an OpenAI chunk).
std::string FormatSseData(std::string_view data);
// A comment block (": text\n\n"), used as a keep-alive. Line breaks in `text` start new
// comment lines.
std::string FormatSseComment(std::string_view text);

// The OpenAI end-of-stream marker block.
inline constexpr std::string_view kSseDoneBlock = "data: [DONE]\n\n";

}  // namespace genops::gateway

#endif  // GENOPS_GATEWAY_SSE_H_
