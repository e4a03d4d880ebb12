#include "support/eddy_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace eddy::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;

HttpReply HttpGet(uint16_t port, const std::string& target) {
  try {
    asio::io_context io;
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(10));
    stream.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    beast::http::request<beast::http::empty_body> request(beast::http::verb::get, target, 11);
    request.set(beast::http::field::host, "127.0.0.1");
    beast::http::write(stream, request);
    beast::flat_buffer buffer;
    beast::http::response<beast::http::string_body> response;
    beast::http::read(stream, buffer, response);
    beast::error_code ignored;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    HttpReply reply{static_cast<int>(response.result_int()), response.body(), {}};
    for (const auto& field : response) {
      reply.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    return reply;
  } catch (const std::exception&) {
    return {0, "", {}};
  }
}

std::optional<std::string> HttpReply::Header(std::string_view name) const {
  for (const auto& [field, value] : headers) {
    if (beast::iequals(field, beast::string_view(name.data(), name.size()))) return value;
  }
  return std::nullopt;
}

std::optional<double> MetricValue(const std::string& metrics_text, const std::string& name,
                                  const std::vector<std::string>& labels) {
  std::istringstream lines(metrics_text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(name, 0) != 0) continue;
    const char after = line.size() > name.size() ? line[name.size()] : '\0';
    if (after != '{' && after != ' ') continue;
    bool all = true;
    for (const std::string& label : labels) all = all && line.find(label) != std::string::npos;
    if (!all) continue;
    return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return std::nullopt;
}

uint16_t FreePort() {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io,
                                   asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

std::string MakeTempDir(const std::string& prefix) {
  std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return pattern;
}

std::string WriteTempFile(const std::string& name, const std::string& contents) {
  const std::string path = MakeTempDir("eddy-test") + "/" + name;
  std::ofstream(path) << contents;
  return path;
}

EddyProcess::EddyProcess(std::string config_path, uint16_t http_port) : http_port_(http_port) {
  // Logs go to a fresh temp dir, never next to the config (which may be in the source tree).
  log_path_ = MakeTempDir("eddy-log") + "/eddy.log";
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    const int log = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (log >= 0) {
      dup2(log, STDOUT_FILENO);
      dup2(log, STDERR_FILENO);
    }
    execl(EDDY_BINARY, EDDY_BINARY, "run", "--config", config_path.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
}

EddyProcess::~EddyProcess() {
  if (Running()) Kill();
}

bool EddyProcess::Running() {
  if (pid_ <= 0) return false;
  int status = 0;
  const pid_t done = waitpid(pid_, &status, WNOHANG);
  if (done == pid_) {
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    pid_ = -1;
    return false;
  }
  return true;
}

bool EddyProcess::WaitReady(std::chrono::milliseconds timeout) {
  return Eventually(timeout,
                    [&] { return Running() && HttpGet(http_port_, "/readyz").status == 200; });
}

int EddyProcess::Terminate(std::chrono::milliseconds timeout) {
  if (!Running()) return exit_code_;
  kill(pid_, SIGTERM);
  if (!Eventually(timeout, [&] { return !Running(); })) return -1;
  return exit_code_;
}

void EddyProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  exit_code_ = 128 + SIGKILL;
  pid_ = -1;
}

std::string EddyProcess::Log() const {
  std::ifstream in(log_path_);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool IsNothingForKey(const HttpReply& reply) {
  return reply.status == 404 && reply.body.find("has nothing for key") != std::string::npos;
}

}  // namespace eddy::testing
