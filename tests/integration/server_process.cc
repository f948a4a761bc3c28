#include "tests/integration/server_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <regex>
#include <sstream>
#include <thread>

#include "tests/raw_http.h"
#include "tests/test_support.h"

extern char** environ;

namespace headroom::testing {

using Clock = std::chrono::steady_clock;

ServerProcess::~ServerProcess() {
  if (pid_ > 0 && exit_code_ == -2) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

bool ServerProcess::Start(const std::vector<std::string>& args,
                          const std::string& log_path) {
  log_path_ = log_path;
  const std::string binary = BinaryPath("server/headroom-server");
  std::vector<std::string> all = {binary};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  const int rc = posix_spawn(&pid_, binary.c_str(), &actions, nullptr,
                             argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0;
}

std::string ServerProcess::Log() const { return ReadTextFile(log_path_); }

bool ServerProcess::WaitForLog(const std::string& text, double timeout_s) {
  const auto end = Clock::now() + std::chrono::duration<double>(timeout_s);
  while (Clock::now() < end) {
    if (Log().find(text) != std::string::npos) return true;
    int status = 0;
    if (exit_code_ == -2 && ::waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      return Log().find(text) != std::string::npos;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

int ServerProcess::WaitExit(double timeout_s) {
  if (exit_code_ != -2) return exit_code_;
  const auto end = Clock::now() + std::chrono::duration<double>(timeout_s);
  while (Clock::now() < end) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      return exit_code_;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

int ServerProcess::Stop(double timeout_s) {
  if (exit_code_ == -2) ::kill(pid_, SIGTERM);
  return WaitExit(timeout_s);
}

namespace {
int PortAfter(const std::string& log, const std::string& prefix) {
  const std::regex re(prefix + "[0-9.]+:([0-9]+)");
  std::smatch m;
  if (std::regex_search(log, m, re)) return std::stoi(m[1]);
  return 0;
}
}  // namespace

int ServerProcess::grpc_port() const {
  return PortAfter(Log(), "grpc listening on ");
}
int ServerProcess::metrics_port() const {
  return PortAfter(Log(), "metrics listening on http://");
}
std::string ServerProcess::grpc_address() const {
  return "127.0.0.1:" + std::to_string(grpc_port());
}

HttpResponse HttpGet(int port, const std::string& path) {
  const RawHttpResponse raw =
      RawHttpRequest(port, "GET " + path + " HTTP/1.0\r\n\r\n");
  return {raw.status, raw.body};
}

double MetricValue(const std::string& text, const std::string& sample) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(sample + " ", 0) == 0) {
      return std::stod(line.substr(sample.size() + 1));
    }
  }
  return std::nan("");
}

std::vector<std::string> NonEmptyLines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

}  // namespace headroom::testing
