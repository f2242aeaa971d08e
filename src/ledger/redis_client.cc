#include "src/ledger/redis_client.h"

#include <hiredis/hiredis.h>
#include <linux/futex.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "src/core/text.h"

namespace genops::ledger::redis {
namespace {

// Commands written per round trip at most: large enough to amortise the system calls,
// small enough that one batch's replies do not wait long behind each other.
constexpr size_t kMaxBatch = 128;

std::string Sha1Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha1(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0xf]);
  }
  return out;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// The status for an error reply.
absl::Status ErrorReplyStatus(std::string_view address, std::string_view error) {
  const std::string message = Cat("redis ledger at ", address, ": ", error);
  if (StartsWith(error, "LOADING") || StartsWith(error, "BUSY") ||
      StartsWith(error, "MASTERDOWN") || StartsWith(error, "TRYAGAIN")) {
    return absl::UnavailableError(message);
  }
  if (StartsWith(error, "NOAUTH") || StartsWith(error, "WRONGPASS") ||
      StartsWith(error, "NOPERM")) {
    return absl::PermissionDeniedError(
        Cat(message, "; check the user and password in the ledger URL"));
  }
  if (StartsWith(error, "OOM")) return absl::ResourceExhaustedError(message);
  if (StartsWith(error, "READONLY")) {
    return absl::FailedPreconditionError(
        Cat(message, "; the ledger URL must name the primary, not a read-only replica"));
  }
  return absl::InternalError(message);
}

timeval ToTimeval(int64_t ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
  return tv;
}

// Sleeps while *word == expected (or until woken); may return spuriously.
void FutexWait(std::atomic<uint32_t>* word, uint32_t expected) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE, expected, nullptr,
          nullptr, 0);
}
// Wakes one thread sleeping on `word`. The kernel uses the address only as a key and never
// reads it, so waking a word whose owner has already returned (its stack reused) is harmless:
// at worst a spurious wake-up, which every waiter tolerates by re-checking its state.
void FutexWakeOne(std::atomic<uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));

}  // namespace

void ReplyDeleter::operator()(redisReply* reply) const {
  if (reply != nullptr) freeReplyObject(reply);
}

Script::Script(std::string body) : body_(std::move(body)), sha1_(Sha1Hex(body_)) {}

bool IsArray(const redisReply* reply) {
  return reply != nullptr && reply->type == REDIS_REPLY_ARRAY;
}
size_t ArraySize(const redisReply* reply) { return IsArray(reply) ? reply->elements : 0; }
const redisReply* Element(const redisReply* reply, size_t i) {
  return i < ArraySize(reply) ? reply->element[i] : nullptr;
}
bool IsNil(const redisReply* reply) { return reply == nullptr || reply->type == REDIS_REPLY_NIL; }
std::string Text(const redisReply* reply) {
  if (reply == nullptr) return "";
  switch (reply->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      return std::string(reply->str, reply->len);
    case REDIS_REPLY_INTEGER:
      return Cat(static_cast<int64_t>(reply->integer));
    default:
      return "";
  }
}

// One connection and the callers combined onto it (see the header).
class Client::Lane {
 public:
  Lane(const ClientOptions& options, const std::string& address)
      : options_(options), address_(address) {}
  ~Lane() {
    if (ctx_ != nullptr) redisFree(ctx_);
  }

  bool busy() const { return busy_.load(std::memory_order_relaxed); }

  absl::StatusOr<ReplyPtr> Run(const Command& command) {
    Pending self;
    self.command = &command;
    RunAll(std::span<Pending>(&self, 1));
    return Result(self);
  }

  std::vector<absl::StatusOr<ReplyPtr>> RunMany(std::span<const Command> commands) {
    std::unique_ptr<Pending[]> pendings(new Pending[commands.size()]);
    for (size_t i = 0; i < commands.size(); ++i) pendings[i].command = &commands[i];
    RunAll(std::span<Pending>(pendings.get(), commands.size()));
    std::vector<absl::StatusOr<ReplyPtr>> results;
    results.reserve(commands.size());
    for (size_t i = 0; i < commands.size(); ++i) results.push_back(Result(pendings[i]));
    return results;
  }

  uint64_t round_trips() const { return round_trips_.load(std::memory_order_relaxed); }
  // Connects now (Client::Connect checks the server this way).
  absl::Status Warm() {
    std::lock_guard<std::mutex> lock(mu_);
    if (leader_active_ || ctx_ != nullptr) return absl::OkStatus();
    return Open();
  }

 private:
  static constexpr uint32_t kWaiting = 0;
  static constexpr uint32_t kDone = 1;  // reply or status filled in
  static constexpr uint32_t kLead = 2;  // the caller is the lane's next leader

  // One caller's command, on the caller's stack. The leader fills in `reply` or `status`,
  // then publishes `state` (release); the caller reads them after seeing it (acquire).
  struct Pending {
    const Command* command = nullptr;
    ReplyPtr reply;
    absl::Status status;
    std::atomic<uint32_t> state{kWaiting};  // also the futex the caller sleeps on
  };

  // Queues `pendings` in order, as one caller, and returns once every one of them has its
  // reply or status. The caller leads a batch whenever leadership reaches one of its own
  // entries (the first, if the lane was idle); a lane carries at most kMaxBatch commands per
  // round trip, so a long list takes several, each shared with other callers' commands.
  void RunAll(std::span<Pending> pendings) {
    if (pendings.empty()) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (Pending& p : pendings) queue_.push_back(&p);
      if (!leader_active_) {
        // No leader means an empty queue (a leader hands over to the front or clears it), so
        // our first entry is at the front: lead with it.
        leader_active_ = true;
        busy_.store(true, std::memory_order_relaxed);
        pendings[0].state.store(kLead, std::memory_order_relaxed);
      }
    }
    for (Pending& p : pendings) {
      for (;;) {
        const uint32_t state = p.state.load(std::memory_order_acquire);
        if (state == kDone) break;
        if (state == kLead) {
          Lead(&p);
          p.state.store(kDone, std::memory_order_relaxed);
          break;
        }
        FutexWait(&p.state, kWaiting);  // returns at once if the state already changed
      }
    }
  }

  // The leader's turn: `self` is at the front of the queue. Writes up to kMaxBatch queued
  // commands, reads their replies, hands them out, and passes leadership on.
  void Lead(Pending* self) {
    std::vector<Pending*> batch;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const size_t n = std::min(queue_.size(), kMaxBatch);
      batch.assign(queue_.begin(), queue_.begin() + static_cast<ptrdiff_t>(n));
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<ptrdiff_t>(n));
    }
    const absl::Status connected = Execute(batch);
    round_trips_.fetch_add(1, std::memory_order_relaxed);
    Pending* next_leader = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!connected.ok()) {
        // Everyone waiting would try (and wait for) the same failing connect in turn: fail
        // them now, so each caller waits for at most one connect timeout.
        for (Pending* waiting : queue_) {
          waiting->status = connected;
          batch.push_back(waiting);
        }
        queue_.clear();
      }
      if (!queue_.empty()) {
        next_leader = queue_.front();
      } else {
        leader_active_ = false;
        busy_.store(false, std::memory_order_relaxed);
      }
    }
    for (Pending* p : batch) {
      if (p != self) Signal(p, kDone);
    }
    if (next_leader != nullptr) Signal(next_leader, kLead);
  }

  // Publishes `state` to a waiting caller and wakes it. Once the state is stored the caller
  // may return and its Pending vanish; only the futex wake-up (harmless, see FutexWakeOne)
  // follows.
  static void Signal(Pending* p, uint32_t state) {
    std::atomic<uint32_t>* word = &p->state;
    word->store(state, std::memory_order_release);
    FutexWakeOne(word);
  }

  static absl::StatusOr<ReplyPtr> Result(Pending& p) {
    if (!p.status.ok()) return p.status;
    return std::move(p.reply);
  }

  void Drop() {
    if (ctx_ != nullptr) redisFree(ctx_);
    ctx_ = nullptr;
  }

  absl::Status Unavailable(std::string_view what) const {
    return absl::UnavailableError(
        Cat("redis ledger at ", address_, ": ", what,
            "; check that redis-server is running and reachable there (host and port of the "
            "ledger URL)"));
  }

  // A reply to a command sent on a fresh connection during Open().
  absl::StatusOr<ReplyPtr> Simple(const std::vector<std::string>& argv) {
    std::vector<const char*> ptrs;
    std::vector<size_t> lens;
    for (const std::string& a : argv) {
      ptrs.push_back(a.data());
      lens.push_back(a.size());
    }
    ReplyPtr reply(static_cast<redisReply*>(
        redisCommandArgv(ctx_, static_cast<int>(ptrs.size()), ptrs.data(), lens.data())));
    if (reply == nullptr) return Unavailable(ctx_->errstr);
    return reply;
  }

  absl::Status Open() {
    Drop();
    const timeval tv = ToTimeval(options_.timeout_ms);
    ctx_ = redisConnectWithTimeout(options_.host.c_str(), options_.port, tv);
    if (ctx_ == nullptr) return Unavailable("cannot allocate a connection");
    if (ctx_->err != 0) {
      absl::Status s = Unavailable(Cat("cannot connect (", ctx_->errstr, ")"));
      Drop();
      return s;
    }
    redisSetTimeout(ctx_, tv);
    redisEnableKeepAlive(ctx_);
    if (!options_.password.empty()) {
      std::vector<std::string> auth = {"AUTH"};
      if (!options_.username.empty()) auth.push_back(options_.username);
      auth.push_back(options_.password);
      absl::StatusOr<ReplyPtr> reply = Simple(auth);
      if (!reply.ok()) {
        Drop();
        return reply.status();
      }
      if ((*reply)->type == REDIS_REPLY_ERROR) {
        const std::string error = Text(reply->get());
        Drop();
        return absl::PermissionDeniedError(Cat("redis ledger at ", address_, ": AUTH failed (",
                                               error, "); check the user and password in the URL"));
      }
    }
    if (options_.db != 0) {
      absl::StatusOr<ReplyPtr> reply = Simple({"SELECT", Cat(options_.db)});
      if (!reply.ok()) {
        Drop();
        return reply.status();
      }
      if ((*reply)->type == REDIS_REPLY_ERROR) {
        const std::string error = Text(reply->get());
        Drop();
        if (StartsWith(error, "LOADING")) return ErrorReplyStatus(address_, error);
        return absl::InvalidArgumentError(
            Cat("redis ledger at ", address_, ": cannot select database ", options_.db, " (", error,
                "); the server has fewer databases (see `databases` in redis.conf)"));
      }
    }
    fresh_ = true;
    return absl::OkStatus();
  }

  // True when a used connection has something to read between batches: the server closed
  // it (restart, idle timeout) or sent an error. Such a connection is replaced before a
  // batch is written on it, so no command is lost to a stale connection.
  bool StaleConnection() const {
    if (fresh_) return false;
    pollfd pfd{};
    pfd.fd = ctx_->fd;
    pfd.events = POLLIN;
    return poll(&pfd, 1, 0) != 0;
  }

  void Append(const Command& command, bool full_body) {
    argv_.clear();
    lens_.clear();
    if (command.script != nullptr) {
      argv_.push_back(full_body ? "EVAL" : "EVALSHA");
      lens_.push_back(full_body ? 4 : 7);
      const std::string& script = full_body ? command.script->body() : command.script->sha1();
      argv_.push_back(script.data());
      lens_.push_back(script.size());
      argv_.push_back("0");
      lens_.push_back(1);
    }
    for (const std::string& a : command.args) {
      argv_.push_back(a.data());
      lens_.push_back(a.size());
    }
    redisAppendCommandArgv(ctx_, static_cast<int>(argv_.size()), argv_.data(), lens_.data());
  }

  // Reads one reply per entry of `which` into it; false (and the connection dropped, the
  // rest failed) on an I/O error.
  bool ReadReplies(const std::vector<Pending*>& which) {
    for (size_t i = 0; i < which.size(); ++i) {
      void* raw = nullptr;
      if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) {
        const absl::Status lost = Unavailable(
            Cat("connection lost (", ctx_->errstr[0] != '\0' ? ctx_->errstr : "no reply",
                "); the command may or may not have run"));
        for (size_t j = i; j < which.size(); ++j) which[j]->status = lost;
        Drop();
        return false;
      }
      which[i]->reply.reset(static_cast<redisReply*>(raw));
    }
    return true;
  }

  // Leader only. Returns a non-OK status only when it could not connect.
  absl::Status Execute(const std::vector<Pending*>& batch) {
    if (ctx_ != nullptr && StaleConnection()) Drop();
    if (ctx_ == nullptr) {
      absl::Status opened = Open();
      if (!opened.ok()) {
        for (Pending* p : batch) p->status = opened;
        return opened;
      }
    }
    fresh_ = false;
    for (Pending* p : batch) Append(*p->command, /*full_body=*/false);
    if (!ReadReplies(batch)) return absl::OkStatus();
    // NOSCRIPT: the server does not know the script (restart, SCRIPT FLUSH); it did not run.
    std::vector<Pending*> retry;
    for (Pending* p : batch) {
      const redisReply* r = p->reply.get();
      if (p->command->script != nullptr && r->type == REDIS_REPLY_ERROR &&
          StartsWith(std::string_view(r->str, r->len), "NOSCRIPT")) {
        retry.push_back(p);
      }
    }
    if (!retry.empty()) {
      for (Pending* p : retry) Append(*p->command, /*full_body=*/true);
      if (!ReadReplies(retry)) return absl::OkStatus();
    }
    for (Pending* p : batch) {
      if (p->status.ok() && p->reply != nullptr && p->reply->type == REDIS_REPLY_ERROR) {
        p->status = ErrorReplyStatus(address_, Text(p->reply.get()));
        p->reply.reset();
      }
    }
    return absl::OkStatus();
  }

  const ClientOptions& options_;
  const std::string& address_;

  std::mutex mu_;
  std::deque<Pending*> queue_;  // guarded by mu_; callers not yet in a batch
  bool leader_active_ = false;  // guarded by mu_
  std::atomic<bool> busy_{false};
  std::atomic<uint64_t> round_trips_{0};  // batches written (connect failures included)

  // Touched only by the current leader (or Warm() with no leader active, under mu_).
  redisContext* ctx_ = nullptr;
  bool fresh_ = false;  // connected and not yet used
  std::vector<const char*> argv_;
  std::vector<size_t> lens_;
};

Client::Client(const ClientOptions& options)
    : options_(options), address_(Cat(options.host, ":", options.port)) {
  const int n = std::clamp(options_.pool_size, 1, 256);
  for (int i = 0; i < n; ++i) lanes_.push_back(std::make_unique<Lane>(options_, address_));
}

Client::~Client() = default;

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(const ClientOptions& options) {
  std::unique_ptr<Client> client(new Client(options));
  if (absl::Status s = client->lanes_[0]->Warm(); !s.ok()) return s;
  return client;
}

Client::Lane& Client::PickLane() noexcept {
  const size_t n = lanes_.size();
  const size_t start = next_lane_.fetch_add(1, std::memory_order_relaxed) % n;
  // Prefer an idle lane: a lone caller then never queues behind another's batch.
  for (size_t k = 0; k < n; ++k) {
    Lane& lane = *lanes_[(start + k) % n];
    if (!lane.busy()) return lane;
  }
  return *lanes_[start];
}

absl::StatusOr<ReplyPtr> Client::Run(const Command& command) noexcept {
  return PickLane().Run(command);
}

std::vector<absl::StatusOr<ReplyPtr>> Client::RunMany(std::span<const Command> commands) noexcept {
  return PickLane().RunMany(commands);
}

uint64_t Client::round_trips() const {
  uint64_t total = 0;
  for (const auto& lane : lanes_) total += lane->round_trips();
  return total;
}

}  // namespace genops::ledger::redis
