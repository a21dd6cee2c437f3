// ServerProcess: runs the real infmem-server binary for an integration test, on 127.0.0.1 with
// port 0 (gRPC and metrics), and tells the test the ports it picked (from the one line the
// server prints on stdout). The test owns it; destruction kills the server. Not thread-safe.
#ifndef INFMEM_TESTS_TESTING_SERVER_PROCESS_H_
#define INFMEM_TESTS_TESTING_SERVER_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "infmem/v1/infmem.grpc.pb.h"

namespace infmem::testing {

class ServerProcess {
 public:
  // Starts `binary` with `args` plus --host=127.0.0.1 --port=0 --metrics_port=0 (an arg
  // given in `args` wins) and waits up to a minute for it to listen.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(const std::string& binary,
                                                              std::vector<std::string> args);
  ~ServerProcess();

  std::string address() const;
  int metrics_port() const { return metrics_port_; }
  pid_t pid() const { return pid_; }
  std::unique_ptr<v1::Infmem::Stub> NewStub() const;

  // Sends SIGTERM and returns the exit code (-1 when killed by a signal).
  int Stop();
  // Sends SIGKILL and waits.
  void Kill();

 private:
  ServerProcess(pid_t pid, int port, int metrics_port)
      : pid_(pid), port_(port), metrics_port_(metrics_port) {}
  int Wait();

  pid_t pid_;
  int port_;
  int metrics_port_;
};

}  // namespace infmem::testing

#endif  // INFMEM_TESTS_TESTING_SERVER_PROCESS_H_
