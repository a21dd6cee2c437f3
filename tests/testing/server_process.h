// ServerProcess: runs the real infmem-server binary for an integration test, on 127.0.0.1 with
// port 0 (gRPC and metrics), and tells the test the ports it picked (from the lines the server
// prints on stdout: "open on ..." when its ports open, "listening on ..." once it serves). The
// test owns it; destruction kills the server. Not thread-safe.
#ifndef INFMEM_TESTS_TESTING_SERVER_PROCESS_H_
#define INFMEM_TESTS_TESTING_SERVER_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "infmem/v1/infmem.grpc.pb.h"

namespace infmem::testing {

class ServerProcess {
 public:
  // Starts `binary` with `args` plus --host=127.0.0.1 --port=0 --metrics_port=0 (an arg
  // given in `args` wins) and waits up to a minute for it to listen.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(const std::string& binary,
                                                              std::vector<std::string> args);
  // Like Start, but returns as soon as the ports are open, while the model still loads.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> StartLoading(const std::string& binary,
                                                                     std::vector<std::string> args);
  // Waits up to `timeout` for the server to print that it serves.
  absl::Status WaitUntilServing(absl::Duration timeout);
  ~ServerProcess();

  std::string address() const;
  int metrics_port() const { return metrics_port_; }
  // The HTTP API's port (started with --http_port), known once serving; -1 without it.
  int http_port() const { return http_port_; }
  pid_t pid() const { return pid_; }
  std::unique_ptr<v1::Infmem::Stub> NewStub() const;

  // Sends SIGTERM and returns the exit code (-1 when killed by a signal).
  int Stop();
  // Sends SIGKILL and waits.
  void Kill();

 private:
  ServerProcess(pid_t pid, int out) : pid_(pid), out_(out) {}
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Launch(const std::string& binary,
                                                               std::vector<std::string> args);
  // Reads stdout until a line containing `marker`, which it returns.
  absl::StatusOr<std::string> ReadLineWith(absl::string_view marker, absl::Duration timeout);
  int Wait();

  pid_t pid_;
  int out_;             // the read end of the server's stdout
  std::string buffer_;  // read from out_, not yet consumed
  int port_ = 0;
  int metrics_port_ = 0;
  int http_port_ = -1;
};

}  // namespace infmem::testing

#endif  // INFMEM_TESTS_TESTING_SERVER_PROCESS_H_
