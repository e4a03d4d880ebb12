// Server: Boost.Beast HTTP/1.1 over `io_threads` Asio io_contexts, one per I/O thread.
//
// Ownership and threads:
//   - Server::Impl owns the io_contexts, the acceptor and the I/O threads. Start() spawns the
//     threads; Stop() (also called by the destructor) stops every io_context and joins them.
//   - Each I/O thread runs its own io_context (concurrency hint 1). A new connection is
//     handed to the next one in turn and stays on it: all of a Session's handlers run on one
//     thread, so a Session needs no strand and no lock, and a request never wakes another
//     thread. (One io_context shared by every thread cost a futex wake and an IPI per
//     request: ~1.5 futex calls per lookup, measured with `perf stat -e syscalls:*`.)
//   - Each connection is a Session, owned by shared_ptr through the completion handler of
//     its one pending operation (read, write or drain); when that chain ends the Session is
//     destroyed and its socket closed. An idle connection is just a pending async_read: no
//     thread waits on it.
//   - The acceptor runs on the first io_context, with a single accept chain.
//   - ServerState (options, router, the registry of live sessions) outlives the io_contexts,
//     because sessions still owned by queued handlers are destroyed inside ~io_context and
//     unregister themselves from it.
//
// Stop sequence: stop every io_context and join the threads first; only then, with no thread
// touching any socket, close the acceptor and every registered session. Handlers still
// queued never run; they (and the sessions they own) are destroyed with the io_contexts.
//
// Per-connection limits (ServerOptions): the first byte of each request must arrive within
// idle_timeout (the keep-alive idle time), the rest of it within request_timeout of that first
// byte, and a response must be written within write_timeout; otherwise the connection is
// closed without an answer. Request line and headers are limited to max_header_bytes (431), the
// target to max_target_bytes (414), bodies to max_body_bytes (413); HTTP versions other than
// 1.0 and 1.1 get 505. After any error response the connection is closed. Connections beyond
// max_connections get a 503 and are closed.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

// Not <boost/asio.hpp>: in Boost 1.74 it pulls in awaitable.hpp, which misses <utility>
// under GCC 12 / C++20. -Wnull-dereference: GCC 12 reports a false positive inside
// Asio's scheduler (scheduler.ipp, compensating_work_started) after inlining, which the
// system-header exemption does not cover.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <boost/asio/buffer.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#pragma GCC diagnostic pop

#include "http/access.h"
#include "http/server.h"

namespace eddy::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

// After a response that closes the connection we stop sending and read (and discard) what the
// client still sends for up to this long before closing: closing a socket with unread input
// makes the kernel send RST, which can destroy the response (e.g. a 413) before the client
// reads it.
constexpr std::chrono::seconds kDrainTimeout{2};
// Bytes read while waiting for a request to start; the parser reads the rest.
constexpr size_t kFirstReadBytes = 4096;

class Session;

// What sessions share with the server. Constant after construction, except the registry.
struct ServerState {
  ServerState(ServerOptions options_in, Router router_in, AccessControl* access_in)
      : options(std::move(options_in)), router(std::move(router_in)), access(access_in) {}

  const ServerOptions options;
  const Router router;
  AccessControl* const access;  // may be null

  std::mutex mu;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions;  // guarded by mu
};

// Runs the router, turning everything a handler can do wrong into a 500: this is the one
// place in eddy where exceptions from HTTP handlers are caught.
Response CallRouter(const Router& router, Request& request) {
  try {
    Response response = router.Dispatch(request);
    if (response.status < 200 || response.status > 599) {
      return Response::Error(
          500, "handler returned invalid HTTP status " + std::to_string(response.status));
    }
    for (const auto& [name, value] : response.headers) {
      // Framing is the server's business: a handler's Transfer-Encoding or Connection would
      // contradict the Content-Length and keep-alive decision made here.
      if (name.empty() || name.find_first_of("\r\n: ") != std::string::npos ||
          value.find_first_of("\r\n") != std::string::npos ||
          beast::iequals(name, "Transfer-Encoding") || beast::iequals(name, "Connection")) {
        return Response::Error(500, "handler returned an invalid response header: " + name);
      }
    }
    return response;
  } catch (const std::exception& e) {
    return Response::Error(500, std::string("handler failed: ") + e.what());
  } catch (...) {
    return Response::Error(500, "handler failed with a non-standard exception");
  }
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, ServerState& state) : state_(state), stream_(std::move(socket)) {
    beast::error_code ec;
    const tcp::endpoint peer = stream_.socket().remote_endpoint(ec);
    if (!ec) client_address_ = peer.address().to_string();
  }

  ~Session() {
    std::lock_guard lock(state_.mu);
    state_.sessions.erase(this);
  }

  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Registers the session and starts reading on its io_context; past max_connections, answers
  // 503 instead and closes.
  void Start() {
    bool over_limit = false;
    {
      std::lock_guard lock(state_.mu);
      over_limit = state_.sessions.size() >= state_.options.max_connections;
      state_.sessions.emplace(this, weak_from_this());
    }
    if (over_limit) {
      asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
        self->request_read_at_ = std::chrono::steady_clock::now();
        self->Reply(Response::Error(503, "too many connections (at most " +
                                             std::to_string(self->state_.options.max_connections) +
                                             "); try again later"),
                    11, /*keep_alive=*/false, /*head=*/false);
      });
      return;
    }
    asio::dispatch(stream_.get_executor(),
                   beast::bind_front_handler(&Session::DoRead, shared_from_this()));
  }

  // Only while no I/O thread runs (Server::Stop, after joining them).
  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

 private:
  // Waits (up to idle_timeout) for the first byte of the next request, unless a pipelined
  // request has already arrived.
  void DoRead() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(state_.options.max_header_bytes));
    parser_->body_limit(static_cast<std::uint64_t>(state_.options.max_body_bytes));
    if (buffer_.size() > 0) return ReadRequest();
    stream_.expires_after(state_.options.idle_timeout);
    stream_.async_read_some(buffer_.prepare(kFirstReadBytes),
                            beast::bind_front_handler(&Session::OnFirstBytes, shared_from_this()));
  }

  void OnFirstBytes(beast::error_code ec, size_t bytes) {
    if (ec) return;  // closed, idle timeout, or aborted by Stop: the session ends
    buffer_.commit(bytes);
    ReadRequest();
  }

  // The rest of the request must arrive within request_timeout.
  void ReadRequest() {
    stream_.expires_after(state_.options.request_timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, size_t /*bytes*/) {
    const ServerOptions& options = state_.options;
    request_read_at_ = std::chrono::steady_clock::now();
    route_.clear();
    if (ec == bhttp::error::body_limit) {
      return Reply(Response::Error(413, "request body larger than " +
                                            std::to_string(options.max_body_bytes) + " bytes"),
                   parser_->get().version(), /*keep_alive=*/false, /*head=*/false);
    }
    if (ec == bhttp::error::header_limit) {
      // The parser stopped inside the request line (it has no method yet): the target is
      // what is too long.
      if (parser_->get().method_string().empty()) {
        return Reply(Response::Error(414, "request target longer than " +
                                              std::to_string(options.max_target_bytes) + " bytes"),
                     11, false, false);
      }
      return Reply(Response::Error(431, "request headers larger than " +
                                            std::to_string(options.max_header_bytes) + " bytes"),
                   11, false, false);
    }
    if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message) {
      return;  // the client closed (between requests, or mid-request): nobody to answer
    }
    if (ec == bhttp::error::bad_version && RequestLineNamesHttpVersion()) {
      return Reply(Response::Error(505, "HTTP version not supported; use HTTP/1.1 or HTTP/1.0"), 11,
                   false, false);
    }
    if (ec && ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category()) {
      return Reply(Response::Error(400, "malformed HTTP request: " + ec.message()), 11, false,
                   false);
    }
    if (ec) return;  // timeout, reset, or aborted by Stop: the session ends and closes

    bhttp::request<bhttp::string_body>& message = parser_->get();
    const unsigned version = message.version();
    const bool head = message.method() == bhttp::verb::head;
    if (message.target().size() > options.max_target_bytes) {
      return Reply(Response::Error(414, "request target longer than " +
                                            std::to_string(options.max_target_bytes) + " bytes"),
                   version, false, head);
    }
    const bool keep_alive = message.keep_alive();
    Result<Request> request =
        ParseRequest(std::string(message.method_string()), std::string(message.target()),
                     std::move(message.body()));
    if (!request.ok()) {
      return Reply(Response::Error(400, request.status().message()), version, false, head);
    }
    request->authorization = std::string(message[bhttp::field::authorization]);
    request->client_address = client_address_;
    if (state_.access != nullptr) {
      if (std::optional<Response> denied = state_.access->Check(*request)) {
        route_.clear();
        return Reply(std::move(*denied), version, keep_alive, head);
      }
    }
    Response response = CallRouter(state_.router, *request);
    route_ = std::move(request->route);
    Reply(std::move(response), version, keep_alive, head);
  }

  // True if the unparsed request line ends in "HTTP/<digit>" (a version the parser refused,
  // such as HTTP/2.0), rather than in something that is not HTTP at all.
  bool RequestLineNamesHttpVersion() const {
    const auto* data = static_cast<const char*>(buffer_.data().data());
    const std::string_view received(data, buffer_.size());
    const std::string_view line = received.substr(0, received.find("\r\n"));
    const size_t space = line.rfind(' ');
    if (space == std::string_view::npos) return false;
    const std::string_view version = line.substr(space + 1);
    return version.size() > 5 && version.starts_with("HTTP/") && version[5] >= '0' &&
           version[5] <= '9';
  }

  void Reply(Response response, unsigned version, bool keep_alive, bool head) {
    if (state_.options.observer) {
      state_.options.observer(route_, response.status,
                              std::chrono::steady_clock::now() - request_read_at_);
    }
    response_ = {};
    response_.version(version);
    response_.result(static_cast<unsigned>(response.status));
    for (auto& [name, value] : response.headers) response_.set(name, value);
    response_.set(bhttp::field::server, "eddy");
    if (response.status == 204 || response.status == 304) {
      // These carry no body (RFC 9110), so neither Content-Type nor Content-Length.
      response_.erase(bhttp::field::content_type);
      response_.erase(bhttp::field::content_length);
    } else {
      response_.set(bhttp::field::content_type, response.content_type);
      // For HEAD, Content-Length announces the body a GET would have received.
      response_.content_length(response.body.size());
      if (!head) response_.body() = std::move(response.body);
    }
    response_.keep_alive(keep_alive);
    stream_.expires_after(state_.options.write_timeout);
    bhttp::async_write(
        stream_, response_,
        beast::bind_front_handler(&Session::OnWrite, shared_from_this(), keep_alive));
  }

  void OnWrite(bool keep_alive, beast::error_code ec, size_t /*bytes*/) {
    if (ec) return;
    if (!keep_alive) return DrainAndClose();
    DoRead();
  }

  void DrainAndClose() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(kDrainTimeout);
    DoDrain();
  }

  void DoDrain() {
    stream_.async_read_some(asio::buffer(drain_buffer_),
                            beast::bind_front_handler(&Session::OnDrain, shared_from_this()));
  }

  void OnDrain(beast::error_code ec, size_t /*bytes*/) {
    if (ec) return;  // EOF, timeout or reset: done, the destructor closes the socket
    DoDrain();
  }

  ServerState& state_;
  beast::tcp_stream stream_;
  std::string client_address_;  // the peer's IP address; "" if it could not be read
  beast::flat_buffer buffer_;   // may hold the start of the next (pipelined) request
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;  // one per request
  bhttp::response<bhttp::string_body> response_;  // alive until its async_write completes
  std::array<char, 4096> drain_buffer_{};
  // For ServerOptions::observer: the request being answered.
  std::chrono::steady_clock::time_point request_read_at_;
  std::string route_;  // Request::route; empty when no route answered
};

std::string DescribeEndpoint(const std::string& address, uint16_t port) {
  bool v6 = address.find(':') != std::string::npos;
  return (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

}  // namespace

class Server::Impl {
 public:
  Impl(ServerOptions options, Router router, AccessControl* access)
      : shared_(std::move(options), std::move(router), access),
        contexts_(MakeContexts(shared_.options.io_threads)),
        acceptor_(*contexts_.front()),
        accept_retry_timer_(*contexts_.front()) {}

  ~Impl() { Stop(); }

  Status Start() {
    if (state_ != Lifecycle::kNew) return Status::Internal("HTTP server already started");
    const ServerOptions& options = shared_.options;
    if (options.io_threads < 1) {
      return Status::InvalidArgument("HTTP io_threads must be at least 1, got " +
                                     std::to_string(options.io_threads));
    }
    if (options.idle_timeout.count() <= 0 || options.request_timeout.count() <= 0 ||
        options.write_timeout.count() <= 0) {
      return Status::InvalidArgument("HTTP idle, request and write timeouts must be positive");
    }
    if (options.max_connections < 1 || options.max_header_bytes < 1 ||
        options.max_target_bytes < 1) {
      return Status::InvalidArgument("HTTP connection and header limits must be positive");
    }
    const std::string where = DescribeEndpoint(options.address, options.port);
    beast::error_code ec;
    asio::ip::address address = asio::ip::make_address(options.address, ec);
    if (ec) {
      // A host name (the config allows "localhost" or a pod's DNS name): resolve it once, at
      // start-up, and listen on its first address.
      tcp::resolver resolver(*contexts_.front());
      auto results = resolver.resolve(options.address, std::to_string(options.port), ec);
      if (ec || results.empty()) {
        return Status::InvalidArgument("cannot listen on " + where + ": cannot resolve '" +
                                       options.address + "'" + (ec ? ": " + ec.message() : ""));
      }
      address = results.begin()->endpoint().address();
    }
    const tcp::endpoint endpoint(address, options.port);
    auto fail = [&](const beast::error_code& error) {
      beast::error_code ignored;
      acceptor_.close(ignored);
      return Status::IoError("cannot listen on " + where + ": " + error.message());
    };
    acceptor_.open(endpoint.protocol(), ec);
    if (ec) return fail(ec);
    // Lets a restarted eddy bind while old connections sit in TIME_WAIT; still fails if
    // another process listens on the port.
    acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (ec) return fail(ec);
    acceptor_.bind(endpoint, ec);
    if (ec) return fail(ec);
    acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return fail(ec);
    tcp::endpoint bound = acceptor_.local_endpoint(ec);
    if (ec) return fail(ec);
    port_ = bound.port();

    DoAccept();
    state_ = Lifecycle::kRunning;
    try {
      for (const std::unique_ptr<asio::io_context>& context : contexts_) {
        // Keeps run() from returning while its context has no connection yet.
        work_guards_.push_back(asio::make_work_guard(*context));
        threads_.emplace_back([this, io = context.get()] { RunIoThread(*io); });
      }
    } catch (const std::system_error& e) {
      Stop();
      return Status::Internal(std::string("cannot start HTTP I/O threads: ") + e.what());
    }
    return Status::Ok();
  }

  void Stop() {
    if (state_ != Lifecycle::kRunning) return;
    state_ = Lifecycle::kStopped;
    for (const std::unique_ptr<asio::io_context>& context : contexts_) context->stop();
    for (std::thread& thread : threads_) thread.join();
    threads_.clear();
    work_guards_.clear();

    // No I/O thread runs from here on: sockets may be touched from this thread.
    beast::error_code ignored;
    acceptor_.close(ignored);
    accept_retry_timer_.cancel();
    std::vector<std::shared_ptr<Session>> open;
    {
      std::lock_guard lock(shared_.mu);
      for (auto& [raw, weak] : shared_.sessions) {
        if (std::shared_ptr<Session> session = weak.lock()) open.push_back(std::move(session));
      }
    }
    // Outside the lock: dropping the last reference destroys a session, which takes mu.
    for (const std::shared_ptr<Session>& session : open) session->Close();
  }

  uint16_t port() const { return port_; }

 private:
  enum class Lifecycle { kNew, kRunning, kStopped };

  // io_threads < 1 is refused by Start; the constructor still needs a context for the
  // acceptor.
  static std::vector<std::unique_ptr<asio::io_context>> MakeContexts(int io_threads) {
    std::vector<std::unique_ptr<asio::io_context>> contexts;
    for (int i = 0; i < std::max(1, io_threads); ++i) {
      contexts.push_back(std::make_unique<asio::io_context>(1));
    }
    return contexts;
  }

  void RunIoThread(asio::io_context& context) {
    while (true) {
      try {
        context.run();
        return;  // stopped
      } catch (const std::exception& e) {
        // Handler exceptions are caught in the session; this is Asio or allocation failure.
        // Keep the thread serving rather than silently losing it.
        std::fprintf(stderr, "eddy: exception on an HTTP I/O thread: %s\n", e.what());
      }
    }
  }

  void DoAccept() {
    // The new connection's socket belongs to the next io_context in turn.
    asio::io_context& next = *contexts_[next_context_];
    next_context_ = (next_context_ + 1) % contexts_.size();
    acceptor_.async_accept(next, [this](beast::error_code ec, tcp::socket socket) {
      OnAccept(ec, std::move(socket));
    });
  }

  void OnAccept(beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (ec) {
      // Typically EMFILE/ENFILE: retrying at once would spin; wait a little instead.
      accept_retry_timer_.expires_after(std::chrono::milliseconds(100));
      accept_retry_timer_.async_wait([this](beast::error_code wait_ec) {
        if (!wait_ec) DoAccept();
      });
      return;
    }
    try {
      std::make_shared<Session>(std::move(socket), shared_)->Start();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "eddy: dropping HTTP connection: %s\n", e.what());
    }
    DoAccept();
  }

  // Outlives contexts_ (declared first): sessions destroyed inside ~io_context unregister here.
  ServerState shared_;

  Lifecycle state_ = Lifecycle::kNew;  // owner thread only (Start/Stop)
  std::atomic<uint16_t> port_{0};

  // One per I/O thread; never empty.
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  // Used only by the accept chain (one operation at a time, on contexts_[0]'s thread) and by
  // Start/Stop while no I/O thread runs.
  tcp::acceptor acceptor_;
  asio::steady_timer accept_retry_timer_;
  size_t next_context_ = 0;  // accept chain only
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work_guards_;
  std::vector<std::thread> threads_;  // started by Start, joined by Stop
};

Server::Server(ServerOptions options, Router router, AccessControl* access)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(router), access)) {}

Server::~Server() {
  Stop();
}

Status Server::Start() {
  return impl_->Start();
}

void Server::Stop() {
  impl_->Stop();
}

uint16_t Server::port() const {
  return impl_->port();
}

}  // namespace eddy::http
