#include "bench/openai_stream_client.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace headroom::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

class Connection {
 public:
  ~Connection() {
    if (fd_ >= 0) ::close(fd_);
  }
  absl::Status Open(const std::string& addr) {
    const size_t colon = addr.rfind(':');
    if (colon == std::string::npos) {
      return absl::InvalidArgumentError("--addr: expected HOST:PORT");
    }
    std::string host = addr.substr(0, colon);
    if (host.size() > 2 && host.front() == '[') {
      host = host.substr(1, host.size() - 2);
    }
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (::getaddrinfo(host.c_str(), addr.substr(colon + 1).c_str(), &hints,
                      &res) != 0) {
      return absl::UnavailableError("cannot resolve " + host);
    }
    for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
      fd_ = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
      if (fd_ >= 0 && ::connect(fd_, a->ai_addr, a->ai_addrlen) == 0) break;
      if (fd_ >= 0) ::close(fd_);
      fd_ = -1;
    }
    ::freeaddrinfo(res);
    if (fd_ < 0) return absl::UnavailableError("cannot connect to " + addr);
    return absl::OkStatus();
  }
  bool Send(const std::string& bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n =
          ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }
  // Appends what arrives to `buf`; false on EOF, error or the deadline.
  bool Read(std::string* buf, Clock::time_point deadline) {
    int wait_ms = -1;
    if (deadline != Clock::time_point::max()) {
      const double left = Since(Clock::now(), deadline);
      if (left <= 0) return false;
      wait_ms = static_cast<int>(left * 1000) + 1;
    }
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, wait_ms) <= 0) return false;
    char chunk[16384];
    const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buf->append(chunk, static_cast<size_t>(n));
    return true;
  }

 private:
  int fd_ = -1;
};

std::string Request(const std::string& method, const std::string& path,
                    const std::string& addr, const std::string& api_key,
                    const std::string& body) {
  std::string r = absl::StrCat(method, " ", path, " HTTP/1.1\r\nHost: ", addr,
                               "\r\nConnection: close\r\n");
  if (!api_key.empty())
    absl::StrAppend(&r, "Authorization: Bearer ", api_key, "\r\n");
  if (!body.empty()) {
    absl::StrAppend(&r, "Content-Type: application/json\r\nContent-Length: ",
                    body.size(), "\r\n");
  }
  absl::StrAppend(&r, "\r\n", body);
  return r;
}

// The response head: status and whether the body is chunked.
struct Head {
  int status = 0;
  bool chunked = false;
  size_t body_start = 0;
};

bool ParseHead(const std::string& buf, Head* head) {
  const size_t end = buf.find("\r\n\r\n");
  if (end == std::string::npos) return false;
  const std::string text = absl::AsciiStrToLower(buf.substr(0, end));
  const size_t sp = text.find(' ');
  if (sp == std::string::npos ||
      !absl::SimpleAtoi(text.substr(sp + 1, 3), &head->status)) {
    head->status = -1;
  }
  head->chunked = text.find("transfer-encoding: chunked") != std::string::npos;
  head->body_start = end + 4;
  return true;
}

// Incremental chunked decoding: moves whole chunks from `raw` to `out`;
// true once the last chunk was seen.
bool Dechunk(std::string* raw, std::string* out) {
  while (true) {
    const size_t eol = raw->find("\r\n");
    if (eol == std::string::npos) return false;
    size_t size = 0;
    try {
      size = std::stoul(raw->substr(0, eol), nullptr, 16);
    } catch (...) {
      return true;  // broken framing: stop
    }
    if (size == 0) return true;
    if (raw->size() < eol + 2 + size + 2) return false;
    out->append(*raw, eol + 2, size);
    raw->erase(0, eol + 2 + size + 2);
  }
}

}  // namespace

absl::StatusOr<std::string> OpenAiModelName(const std::string& addr,
                                            const std::string& api_key,
                                            double timeout_s) {
  Connection c;
  if (auto s = c.Open(addr); !s.ok()) return s;
  if (!c.Send(Request("GET", "/v1/models", addr, api_key, ""))) {
    return absl::UnavailableError("cannot send to " + addr);
  }
  std::string buf;
  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(timeout_s));
  while (c.Read(&buf, deadline)) {
  }
  Head head;
  if (!ParseHead(buf, &head)) {
    return absl::UnavailableError("no answer from " + addr);
  }
  std::string body = buf.substr(head.body_start);
  if (head.chunked) {
    std::string raw = body;
    body.clear();
    Dechunk(&raw, &body);
  }
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (head.status != 200 || !j.is_object() || !j.contains("data") ||
      j["data"].empty()) {
    return absl::UnavailableError(
        absl::StrCat("GET /v1/models: HTTP ", head.status, ": ", body));
  }
  return j["data"][0]["id"].get<std::string>();
}

RequestRecord RunOpenAiStream(const std::string& addr,
                              const std::string& api_key, nlohmann::json body,
                              double timeout_s) {
  RequestRecord r;
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  const std::string request =
      Request("POST", "/v1/completions", addr, api_key, body.dump());
  const auto deadline =
      timeout_s > 0
          ? Clock::now() + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(timeout_s))
          : Clock::time_point::max();
  const Clock::time_point sent = Clock::now();
  Connection c;
  if (auto s = c.Open(addr); !s.ok() || !c.Send(request)) {
    r.status = "UNAVAILABLE";
    r.error = "cannot connect to " + addr;
    r.e2e_s = Since(sent, Clock::now());
    return r;
  }
  std::string buf, raw, events;
  Head head;
  bool have_head = false, ended = false, done = false;
  Clock::time_point last = sent;
  while (!done) {
    if (!c.Read(&buf, deadline)) break;
    if (!have_head) {
      if (!ParseHead(buf, &head)) continue;
      have_head = true;
      raw = buf.substr(head.body_start);
      buf.clear();
    } else {
      raw += buf;
      buf.clear();
    }
    if (head.status != 200) continue;  // read the whole error body
    if (head.chunked) {
      ended = Dechunk(&raw, &events);
    } else {
      events += raw;
      raw.clear();
    }
    // Whole events: "data: ...\n\n".
    size_t end;
    while ((end = events.find("\n\n")) != std::string::npos) {
      const std::string event = events.substr(0, end);
      events.erase(0, end + 2);
      if (event.rfind("data: ", 0) != 0) continue;
      const std::string data = event.substr(6);
      if (data == "[DONE]") {
        done = true;
        break;
      }
      const nlohmann::json j = nlohmann::json::parse(data, nullptr, false);
      if (!j.is_object()) continue;
      if (j.contains("error")) {
        r.status = "INTERNAL";
        r.error = j["error"].value("message", "");
        continue;
      }
      const Clock::time_point now = Clock::now();
      if (j.contains("choices") && !j["choices"].empty() &&
          !j["choices"][0].value("text", "").empty()) {
        if (r.ttft_s < 0) {
          r.ttft_s = Since(sent, now);
        } else {
          r.itl_s.push_back(Since(last, now));
        }
        last = now;
      }
      if (j.contains("usage") && j["usage"].is_object()) {
        r.got_usage = true;
        r.prompt_tokens = j["usage"].value("prompt_tokens", 0);
        r.output_tokens = j["usage"].value("completion_tokens", 0);
      }
    }
    if (ended) break;
  }
  r.e2e_s = Since(sent, Clock::now());
  if (!have_head) {
    r.status = Clock::now() >= deadline ? "DEADLINE_EXCEEDED" : "UNAVAILABLE";
    r.error = "no answer";
  } else if (head.status != 200) {
    r.status = absl::StrCat("HTTP_", head.status);
    const nlohmann::json j = nlohmann::json::parse(raw, nullptr, false);
    r.error = j.is_object() && j.contains("error")
                  ? j["error"].value("message", raw)
                  : raw;
  } else if (!done && r.status == "OK") {
    r.status = Clock::now() >= deadline ? "DEADLINE_EXCEEDED" : "UNAVAILABLE";
    r.error = "the stream ended early";
  }
  return r;
}

}  // namespace headroom::bench
