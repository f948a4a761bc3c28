// A raw TCP connection to 127.0.0.1:port for HTTP tests that need control
// over the bytes: malformed or half-sent requests, keep-alive, HEAD.
//
//   RawHttpConnection c(port);
//   c.Send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
//   RawHttpResponse r = c.ReadResponse();  // r.status == 200
#ifndef HEADROOM_TESTS_RAW_HTTP_H_
#define HEADROOM_TESTS_RAW_HTTP_H_

#include <map>
#include <string>
#include <string_view>

namespace headroom::testing {

struct RawHttpResponse {
  int status = 0;                              // 0: no (complete) response
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};

class RawHttpConnection {
 public:
  explicit RawHttpConnection(int port);  // connects; see ok()
  ~RawHttpConnection();
  RawHttpConnection(const RawHttpConnection&) = delete;
  RawHttpConnection& operator=(const RawHttpConnection&) = delete;

  bool ok() const { return fd_ >= 0; }
  bool Send(std::string_view bytes);
  // One response: the header, then Content-Length bytes of body (none when
  // `head`). Status 0 if the connection ends or `timeout_s` passes first.
  RawHttpResponse ReadResponse(bool head = false, double timeout_s = 10);
  // True when the server closes the connection within `timeout_s`
  // (whatever it sent before is discarded).
  bool WaitClosed(double timeout_s);

 private:
  // Appends what arrives within `timeout_s` to pending_; false on EOF,
  // error or timeout.
  bool ReadMore(double timeout_s);

  int fd_ = -1;
  std::string pending_;  // received, not yet returned
};

// Sends `request` on a new connection and reads one response.
RawHttpResponse RawHttpRequest(int port, std::string_view request,
                               bool head = false);

}  // namespace headroom::testing

#endif  // HEADROOM_TESTS_RAW_HTTP_H_
