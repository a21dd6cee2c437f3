#include "tests/testing/server_process.h"

#include <grpcpp/grpcpp.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace infmem::testing {

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Launch(
    const std::string& binary, std::vector<std::string> args) {
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
  auto server = std::unique_ptr<ServerProcess>(new ServerProcess(pid, out[0]));
  // "infmem-server open on 127.0.0.1:PORT, metrics on port M; loading the model"
  absl::StatusOr<std::string> line = server->ReadLineWith(" open on ", absl::Minutes(1));
  if (!line.ok() || std::sscanf(line->c_str() + line->find(" open on "),
                                " open on 127.0.0.1:%d, metrics on port %d", &server->port_,
                                &server->metrics_port_) != 2) {
    return absl::InternalError(absl::StrCat("infmem-server did not open its ports: ",
                                            line.ok() ? *line : line.status().message()));
  }
  return server;
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::StartLoading(
    const std::string& binary, std::vector<std::string> args) {
  return Launch(binary, std::move(args));
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(const std::string& binary,
                                                                    std::vector<std::string> args) {
  auto server = Launch(binary, std::move(args));
  if (!server.ok()) return server.status();
  if (absl::Status serving = (*server)->WaitUntilServing(absl::Minutes(1)); !serving.ok()) {
    return serving;
  }
  return server;
}

absl::Status ServerProcess::WaitUntilServing(absl::Duration timeout) {
  absl::StatusOr<std::string> line = ReadLineWith(" listening on ", timeout);
  if (!line.ok()) {
    return absl::InternalError(
        absl::StrCat("infmem-server did not start serving: ", line.status().message()));
  }
  // "..., http on port N" when the HTTP API is on.
  const size_t http = line->find(", http on port ");
  if (http != std::string::npos) http_port_ = std::atoi(line->c_str() + http + 15);
  return absl::OkStatus();
}

absl::StatusOr<std::string> ServerProcess::ReadLineWith(absl::string_view marker,
                                                        absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    for (size_t end; (end = buffer_.find('\n')) != std::string::npos;) {
      std::string line = buffer_.substr(0, end);
      buffer_.erase(0, end + 1);
      if (absl::StrContains(line, marker)) return line;
    }
    pollfd p{out_, POLLIN, 0};
    const int wait_ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (wait_ms <= 0 || poll(&p, 1, wait_ms) <= 0) {
      return absl::DeadlineExceededError(absl::StrCat("no line with '", marker, "' in time"));
    }
    char buf[256];
    const ssize_t n = read(out_, buf, sizeof(buf));
    if (n <= 0) {
      return absl::InternalError(absl::StrCat("the server closed stdout (exit status ", Wait(),
                                              ") before a line with '", marker, "'"));
    }
    buffer_.append(buf, static_cast<size_t>(n));
  }
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) Kill();
  close(out_);
}

std::string ServerProcess::address() const { return absl::StrCat("127.0.0.1:", port_); }

std::unique_ptr<v1::Infmem::Stub> ServerProcess::NewStub() const {
  return v1::Infmem::NewStub(grpc::CreateChannel(address(), grpc::InsecureChannelCredentials()));
}

int ServerProcess::Wait() {
  if (pid_ <= 0) return -1;
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
