#include "tests/testing/server_process.h"

#include <grpcpp/grpcpp.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace infmem::testing {

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(const std::string& binary,
                                                                    std::vector<std::string> args) {
  for (const char* flag : {"--host=127.0.0.1", "--port=0", "--metrics_port=0"}) {
    const std::string name = std::string(flag).substr(0, std::string(flag).find('=') + 1);
    bool given = false;
    for (const std::string& a : args) given = given || absl::StartsWith(a, name);
    if (!given) args.push_back(flag);
  }
  int out[2];
  if (pipe(out) != 0) return absl::InternalError("pipe failed");
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    close(out[1]);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(binary.c_str()));
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    std::perror("execv infmem-server");
    _exit(127);
  }
  close(out[1]);
  // Read stdout up to the "listening" line.
  std::string line;
  const absl::Time deadline = absl::Now() + absl::Minutes(1);
  while (line.find('\n') == std::string::npos) {
    pollfd p{out[0], POLLIN, 0};
    const int wait_ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (wait_ms <= 0 || poll(&p, 1, wait_ms) <= 0) break;
    char buf[256];
    const ssize_t n = read(out[0], buf, sizeof(buf));
    if (n <= 0) break;
    line.append(buf, static_cast<size_t>(n));
  }
  close(out[0]);  // the server writes nothing more to stdout
  int port = 0, metrics_port = 0;
  const size_t at = line.find("listening on 127.0.0.1:");
  if (at == std::string::npos ||
      std::sscanf(line.c_str() + at, "listening on 127.0.0.1:%d, metrics on port %d", &port,
                  &metrics_port) != 2) {
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    return absl::InternalError(
        absl::StrCat("infmem-server did not start (exit status ", status, "); stdout: ", line));
  }
  return std::unique_ptr<ServerProcess>(new ServerProcess(pid, port, metrics_port));
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) Kill();
}

std::string ServerProcess::address() const { return absl::StrCat("127.0.0.1:", port_); }

std::unique_ptr<v1::Infmem::Stub> ServerProcess::NewStub() const {
  return v1::Infmem::NewStub(grpc::CreateChannel(address(), grpc::InsecureChannelCredentials()));
}

int ServerProcess::Wait() {
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int ServerProcess::Stop() {
  kill(pid_, SIGTERM);
  return Wait();
}

void ServerProcess::Kill() {
  kill(pid_, SIGKILL);
  Wait();
}

}  // namespace infmem::testing
