#include "server/http/http_server.h"

#include <civetweb.h>

#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace infmem::http {
namespace {

const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Status";
  }
}

}  // namespace

HttpExchange::HttpExchange(mg_connection* connection) : connection_(connection) {
  const mg_request_info* info = mg_get_request_info(connection);
  method_ = info->request_method != nullptr ? info->request_method : "";
  path_ = info->local_uri != nullptr ? info->local_uri : "";
}

std::string HttpExchange::Header(absl::string_view name) const {
  const mg_request_info* info = mg_get_request_info(connection_);
  for (int i = 0; i < info->num_headers; ++i) {
    if (absl::EqualsIgnoreCase(info->http_headers[i].name, name))
      return info->http_headers[i].value;
  }
  return "";
}

absl::StatusOr<std::string> HttpExchange::ReadBody(size_t max_bytes) {
  const mg_request_info* info = mg_get_request_info(connection_);
  if (info->content_length > static_cast<long long>(max_bytes)) {
    return absl::ResourceExhaustedError(absl::StrCat("the request body is ", info->content_length,
                                                     " bytes, over the limit of ", max_bytes));
  }
  std::string body;
  char buffer[16384];
  while (true) {
    const int n = mg_read(connection_, buffer, sizeof(buffer));
    if (n <= 0) break;
    body.append(buffer, static_cast<size_t>(n));
    if (body.size() > max_bytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat("the request body is over the limit of ", max_bytes, " bytes"));
    }
  }
  if (info->content_length >= 0 && body.size() < static_cast<size_t>(info->content_length)) {
    return absl::InvalidArgumentError("the request body ended before its Content-Length");
  }
  return body;
}

void HttpExchange::Respond(int status, absl::string_view content_type, absl::string_view body,
                           const std::vector<std::pair<std::string, std::string>>& headers) {
  if (responded_) return;
  responded_ = true;
  status_ = status;
  std::string head =
      absl::StrCat("HTTP/1.1 ", status, " ", Reason(status), "\r\nContent-Type: ", content_type,
                   "\r\nContent-Length: ", body.size(), "\r\n");
  for (const auto& [name, value] : headers) absl::StrAppend(&head, name, ": ", value, "\r\n");
  absl::StrAppend(&head, "\r\n");
  mg_write(connection_, head.data(), head.size());
  mg_write(connection_, body.data(), body.size());
}

void HttpExchange::StartStream(int status, absl::string_view content_type) {
  if (responded_) return;
  responded_ = true;
  status_ = status;
  streaming_ = true;
  const std::string head =
      absl::StrCat("HTTP/1.1 ", status, " ", Reason(status), "\r\nContent-Type: ", content_type,
                   "\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n");
  mg_write(connection_, head.data(), head.size());
}

bool HttpExchange::Write(absl::string_view data) {
  if (!streaming_ || data.empty()) return streaming_;
  return mg_send_chunk(connection_, data.data(), static_cast<unsigned int>(data.size())) > 0;
}

void HttpExchange::End() {
  if (!streaming_) return;
  mg_write(connection_, "0\r\n\r\n", 5);
  streaming_ = false;
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const Options& options,
                                                              Handler handler) {
  std::unique_ptr<HttpServer> server(new HttpServer());
  server->handler_ = std::move(handler);
  // Plain HTTP only: Debian 12's CivetWeb 1.15 loads OpenSSL 1.1 names that OpenSSL 3 no
  // longer exports, and its TLS handshake fails. Terminate TLS in front of the server.
  const std::string ports = absl::StrCat(options.host, ":", options.port);
  const std::string threads = std::to_string(options.threads);
  std::vector<const char*> config = {
      "listening_ports",   ports.c_str(), "num_threads",        threads.c_str(),
      "enable_keep_alive", "yes",         "request_timeout_ms", "600000"};
  config.push_back(nullptr);
  mg_callbacks callbacks{};
  server->context_ = mg_start(&callbacks, nullptr, config.data());
  if (server->context_ == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve HTTP on ", ports, " (port taken or bad address?)"));
  }
  mg_set_request_handler(server->context_, "/", &HttpServer::Dispatch, server.get());
  mg_server_port listening[4];
  const int n = mg_get_server_ports(server->context_, 4, listening);
  if (n > 0) server->port_ = listening[0].port;
  return server;
}

int HttpServer::Dispatch(mg_connection* connection, void* self) {
  // The handler runs on a thread of the default (8 MiB) stack while CivetWeb's worker waits:
  // CivetWeb's workers have small stacks, and a handler reaches torch and BLAS (session loads,
  // forks, prefill), whose kernels overflowed them. A thread per request costs tens of
  // microseconds, nothing beside a model call.
  std::thread worker([connection, self] {
    HttpExchange exchange(connection);
    static_cast<HttpServer*>(self)->handler_(exchange);
    if (!exchange.responded()) exchange.Respond(500, "application/json", "{}");
    exchange.End();
  });
  worker.join();
  return 200;
}

void HttpServer::Stop() {
  if (context_ != nullptr) mg_stop(context_);
  context_ = nullptr;
}

HttpServer::~HttpServer() { Stop(); }

}  // namespace infmem::http
