// Runs the real headroom-server binary for integration tests: start with
// flags, wait for its start-up lines, read its ports, talk HTTP to /metrics,
// stop with SIGTERM and collect the exit status.
#ifndef HEADROOM_TESTS_INTEGRATION_SERVER_PROCESS_H_
#define HEADROOM_TESTS_INTEGRATION_SERVER_PROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

namespace headroom::testing {

class ServerProcess {
 public:
  ServerProcess() = default;
  ~ServerProcess();  // SIGKILL if still running
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Starts build/server/headroom-server with `args`; output goes to
  // `log_path`. False if it could not be spawned.
  bool Start(const std::vector<std::string>& args, const std::string& log_path);
  // Polls the log until a line containing `text` appears (true), the process
  // exits or `timeout_s` passes (false). Start-up is a child process's
  // output: polling it (every 20 ms) is the only way to watch it.
  bool WaitForLog(const std::string& text, double timeout_s);
  // Waits for the process to exit; its exit code, or -1 if it did not exit
  // within `timeout_s` or died by a signal.
  int WaitExit(double timeout_s);
  // SIGTERM, then WaitExit.
  int Stop(double timeout_s);
  std::string Log() const;
  // The ports from the start-up lines (0 if not printed).
  int grpc_port() const;
  int metrics_port() const;
  std::string grpc_address() const;
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  std::string log_path_;
  int exit_code_ = -2;  // -2: not collected yet
};

struct HttpResponse {
  int status = 0;  // 0: no answer
  std::string body;
};
// GET http://127.0.0.1:port/path (HTTP/1.0, one response: RawHttpRequest).
HttpResponse HttpGet(int port, const std::string& path);

// The non-empty lines of `text` (a server's log), in order.
std::vector<std::string> NonEmptyLines(const std::string& text);

// The value of the first sample `name` (exact, with its labels as written,
// e.g. "headroom:kv_cache_free_blocks") in a /metrics text; NaN if absent.
double MetricValue(const std::string& text, const std::string& sample);

}  // namespace headroom::testing

#endif  // HEADROOM_TESTS_INTEGRATION_SERVER_PROCESS_H_
