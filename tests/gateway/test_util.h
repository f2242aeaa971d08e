// Helpers for the gateway tests: a blocking raw-socket HTTP client (so tests control every
// byte, pipelining and half-closes), temporary directories and test certificates made with
// the openssl command.
//
// Thread safety: RawSocket is not thread-safe; the functions are thread-safe.
#ifndef GENOPS_TESTS_GATEWAY_TEST_UTIL_H_
#define GENOPS_TESTS_GATEWAY_TEST_UTIL_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "src/core/text.h"
#include "src/gateway/http_message.h"

namespace genops::gateway::testing {

struct RawResponse {
  int status = 0;
  HttpHeaders headers;
  std::string body;
  bool chunked = false;
};

// A blocking TCP client on 127.0.0.1. Every read waits at most `timeout` (default 5 s) so a
// broken server fails the test instead of hanging it.
class RawSocket {
 public:
  explicit RawSocket(int port, absl::Duration timeout = absl::Seconds(5)) : timeout_(timeout) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~RawSocket() { Close(); }
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;

  bool connected() const { return connected_; }
  int fd() const { return fd_; }

  void SetReceiveBuffer(int bytes) {
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
  }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads what is available (waiting up to the timeout). "" on EOF, nullopt on error or
  // timeout.
  std::optional<std::string> RecvSome(size_t max = 65536) {
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout_)));
    if (r <= 0) return std::nullopt;
    std::string buf(max, '\0');
    ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
    if (n < 0) return std::nullopt;
    buf.resize(static_cast<size_t>(n));
    return buf;
  }

  // True when the peer closed (EOF or reset) within the timeout; data read meanwhile is
  // appended to `*drained` when given.
  bool WaitForClose(std::string* drained = nullptr) {
    auto deadline = absl::Now() + timeout_;
    while (absl::Now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      int r = ::poll(&p, 1, 50);
      if (r <= 0) continue;
      char buf[65536];
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) return true;
      if (drained != nullptr) drained->append(buf, static_cast<size_t>(n));
    }
    return false;
  }

  // Reads one response (Content-Length, chunked or until close). nullopt when the
  // connection ends before a whole response or a read times out.
  std::optional<RawResponse> ReadResponse(bool head_request = false) {
    size_t header_end;
    while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return std::nullopt;
    }
    RawResponse r;
    std::string head = buffer_.substr(0, header_end);
    buffer_.erase(0, header_end + 4);
    std::istringstream lines(head);
    std::string line;
    std::getline(lines, line);
    if (line.size() < 12) return std::nullopt;
    r.status = std::atoi(line.substr(9, 3).c_str());
    size_t content_length = std::string::npos;
    while (std::getline(lines, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      r.headers.Add(name, value);
      if (EqualsIgnoreCase(name, "content-length")) content_length = std::stoul(value);
      if (EqualsIgnoreCase(name, "transfer-encoding") && HeaderHasToken(value, "chunked")) {
        r.chunked = true;
      }
    }
    if (head_request || r.status == 204 || r.status == 304 || (r.status >= 100 && r.status < 200)) {
      return r;
    }
    if (r.chunked) {
      while (true) {
        size_t eol;
        while ((eol = buffer_.find("\r\n")) == std::string::npos) {
          if (!Fill()) return std::nullopt;
        }
        size_t size = std::stoul(buffer_.substr(0, eol), nullptr, 16);
        buffer_.erase(0, eol + 2);
        while (buffer_.size() < size + 2) {
          if (!Fill()) return std::nullopt;
        }
        r.body.append(buffer_.substr(0, size));
        buffer_.erase(0, size + 2);
        if (size == 0) return r;
      }
    }
    if (content_length != std::string::npos) {
      while (buffer_.size() < content_length) {
        if (!Fill()) return std::nullopt;
      }
      r.body = buffer_.substr(0, content_length);
      buffer_.erase(0, content_length);
      return r;
    }
    while (Fill()) {
    }
    r.body = std::move(buffer_);
    buffer_.clear();
    return r;
  }

  void ShutdownWrite() { ::shutdown(fd_, SHUT_WR); }
  // Closes with a reset (SO_LINGER 0) instead of a FIN.
  void Reset() {
    linger l{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    Close();
  }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  bool Fill() {
    auto piece = RecvSome();
    if (!piece.has_value() || piece->empty()) return false;
    buffer_.append(*piece);
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  absl::Duration timeout_;
  std::string buffer_;
};

// A fresh directory under the system temp dir, removed by the destructor.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "genops-gw-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct TestCerts {
  std::string ca_cert;      // PEM of the test CA
  std::string server_cert;  // PEM chain of the server certificate
  std::string server_key;
};

// Makes a CA and a server certificate for `subject_alt_names` ("DNS:localhost,IP:127.0.0.1")
// signed by it, with the openssl command, in `dir`.
inline absl::StatusOr<TestCerts> MakeTestCerts(const std::string& dir,
                                               const std::string& subject_alt_names,
                                               const std::string& name = "server") {
  TestCerts certs{dir + "/ca.pem", dir + "/" + name + ".pem", dir + "/" + name + ".key"};
  std::string ext = dir + "/" + name + ".ext";
  std::ofstream(ext) << "subjectAltName=" << subject_alt_names << "\n"
                     << "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                     << "extendedKeyUsage=serverAuth\n";
  std::string quiet = " >/dev/null 2>&1";
  std::string cmds[] = {
      Cat("test -f ", certs.ca_cert, " || openssl req -x509 -newkey rsa:2048 -nodes -keyout ", dir,
          "/ca.key -out ", certs.ca_cert, " -days 2 -subj /CN=genops-test-ca", quiet),
      Cat("openssl req -newkey rsa:2048 -nodes -keyout ", certs.server_key, " -out ", dir, "/",
          name, ".csr -subj /CN=genops-test-server", quiet),
      Cat("openssl x509 -req -in ", dir, "/", name, ".csr -CA ", certs.ca_cert, " -CAkey ", dir,
          "/ca.key -CAcreateserial -out ", certs.server_cert, " -days 2 -extfile ", ext, quiet),
  };
  for (const std::string& cmd : cmds) {
    if (std::system(cmd.c_str()) != 0) return absl::InternalError("failed: " + cmd);
  }
  return certs;
}

}  // namespace genops::gateway::testing

#endif  // GENOPS_TESTS_GATEWAY_TEST_UTIL_H_
