#include "tests/raw_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstring>
#include <sstream>

namespace headroom::testing {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(c));
  return s;
}

// Parses "HTTP/1.1 200 OK\r\nName: value\r\n..." (without the blank line).
RawHttpResponse ParseHead(const std::string& head) {
  RawHttpResponse r;
  std::istringstream in(head);
  std::string line;
  std::getline(in, line);
  if (line.rfind("HTTP/1.", 0) != 0 || line.size() < 12) return r;
  r.status = std::stoi(line.substr(9, 3));
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    size_t value = colon + 1;
    while (value < line.size() && line[value] == ' ') ++value;
    r.headers[Lower(line.substr(0, colon))] = line.substr(value);
  }
  return r;
}

}  // namespace

RawHttpConnection::RawHttpConnection(int port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd_ < 0) return;
  sockaddr_in addr;
  std::memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

RawHttpConnection::~RawHttpConnection() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawHttpConnection::Send(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool RawHttpConnection::ReadMore(double timeout_s) {
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout_s * 1000)) <= 0) return false;
  char buf[16384];
  const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
  if (n <= 0) return false;
  pending_.append(buf, static_cast<size_t>(n));
  return true;
}

RawHttpResponse RawHttpConnection::ReadResponse(bool head, double timeout_s) {
  if (fd_ < 0) return {};
  size_t end;
  while ((end = pending_.find("\r\n\r\n")) == std::string::npos) {
    if (!ReadMore(timeout_s)) return {};
  }
  RawHttpResponse r = ParseHead(pending_.substr(0, end));
  pending_.erase(0, end + 4);
  size_t length = 0;
  if (!head && r.headers.count("content-length") > 0) {
    length = std::stoul(r.headers["content-length"]);
  }
  while (pending_.size() < length) {
    if (!ReadMore(timeout_s)) return {};
  }
  r.body = pending_.substr(0, length);
  pending_.erase(0, length);
  return r;
}

bool RawHttpConnection::WaitClosed(double timeout_s) {
  if (fd_ < 0) return true;
  pollfd p{fd_, POLLIN, 0};
  char buf[4096];
  for (;;) {
    if (::poll(&p, 1, static_cast<int>(timeout_s * 1000)) <= 0) return false;
    if (::recv(fd_, buf, sizeof(buf), 0) <= 0) return true;
  }
}

RawHttpResponse RawHttpRequest(int port, std::string_view request, bool head) {
  RawHttpConnection c(port);
  if (!c.ok() || !c.Send(request)) return {};
  return c.ReadResponse(head);
}

}  // namespace headroom::testing
