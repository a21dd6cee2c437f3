// HttpServer: a small HTTP/1.1 front end on CivetWeb (already in infmem's dependency tree
// through prometheus-cpp), for the OpenAI-style API. Each request runs on one of CivetWeb's
// worker threads, which may block (a streamed response writes from it as tokens arrive).
// Owned by the Server; Start once, Stop (or destroy) before the handlers' dependencies go.
// Thread-safety: handlers run concurrently; the server object itself is not shared.
#ifndef INFMEM_SERVER_HTTP_HTTP_SERVER_H_
#define INFMEM_SERVER_HTTP_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct mg_connection;
struct mg_context;

namespace infmem::http {

// One request and its response, for the handler that serves it.
class HttpExchange {
 public:
  explicit HttpExchange(mg_connection* connection);

  const std::string& method() const { return method_; }
  const std::string& path() const { return path_; }
  // Returns the value of request header `name` (case-insensitive), or "".
  std::string Header(absl::string_view name) const;
  // Reads the whole body. ResourceExhausted beyond `max_bytes`, InvalidArgument when the
  // client sent less than its Content-Length.
  absl::StatusOr<std::string> ReadBody(size_t max_bytes);

  // Sends a complete response.
  void Respond(int status, absl::string_view content_type, absl::string_view body,
               const std::vector<std::pair<std::string, std::string>>& headers = {});
  // Starts a chunked response (Server-Sent Events and the like); then Write, then End.
  void StartStream(int status, absl::string_view content_type);
  // Writes a chunk; false when the client has gone.
  bool Write(absl::string_view data);
  void End();
  bool responded() const { return responded_; }
  // The status sent (0 before any).
  int status() const { return status_; }

 private:
  mg_connection* connection_;
  std::string method_, path_;
  bool responded_ = false;
  int status_ = 0;
  bool streaming_ = false;
};

class HttpServer {
 public:
  using Handler = std::function<void(HttpExchange&)>;

  struct Options {
    std::string host = "127.0.0.1";
    int port = 0;      // 0: the kernel picks one (see port())
    int threads = 32;  // concurrent requests; a streamed one holds its thread
  };

  // Starts listening; `handler` serves every request. Unavailable when the port is taken.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const Options& options, Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }
  // Stops accepting and waits for the running requests to end.
  void Stop();

 private:
  HttpServer() = default;
  static int Dispatch(mg_connection* connection, void* self);

  mg_context* context_ = nullptr;
  Handler handler_;
  int port_ = 0;
};

}  // namespace infmem::http

#endif  // INFMEM_SERVER_HTTP_HTTP_SERVER_H_
