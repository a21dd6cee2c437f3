#include "tests/testing/local_cluster.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/testing/free_port.h"

namespace infmem::testing {
namespace {

bool Accepts(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

}  // namespace

LocalCluster::LocalCluster(LocalClusterOptions options) : options_(std::move(options)) {
  for (int i = 0; i < options_.slots; ++i) ports_.push_back(FreePort());
  replicas_.resize(static_cast<size_t>(options_.slots));
}

LocalCluster::~LocalCluster() {
  for (auto& r : replicas_) {
    if (r != nullptr && r->pid() > 0) kill(r->pid(), SIGCONT);
  }
  replicas_.clear();
  if (haproxy_pid_ > 0) {
    kill(haproxy_pid_, SIGKILL);
    waitpid(haproxy_pid_, nullptr, 0);
  }
}

absl::Status LocalCluster::StartReplica(int slot) {
  std::vector<std::string> args = options_.server_args;
  args.push_back("--store=" + options_.store_uri);
  args.push_back(absl::StrCat("--replica_id=r", slot));
  args.push_back(absl::StrCat("--port=", ports_[static_cast<size_t>(slot)]));
  args.push_back("--session_dir=" + options_.work_dir + "/unused");
  auto server = ServerProcess::Start(options_.server_binary, args);
  if (!server.ok()) return server.status();
  replicas_[static_cast<size_t>(slot)] = *std::move(server);
  return absl::OkStatus();
}

absl::Status LocalCluster::StartHaproxy() {
  // The shipped config, its server lines (between the markers) replaced by the slots.
  std::ifstream in(options_.source_dir + "/deploy/haproxy/haproxy.cfg");
  std::stringstream text;
  text << in.rdbuf();
  std::string cfg = text.str();
  const size_t begin = cfg.find("# >>> servers");
  const size_t end = cfg.find("# <<< servers");
  if (begin == std::string::npos || end == std::string::npos) {
    return absl::FailedPreconditionError("deploy/haproxy/haproxy.cfg lost its server markers");
  }
  std::string servers;
  for (size_t i = 0; i < ports_.size(); ++i) {
    absl::StrAppend(&servers, "    server r", i, " 127.0.0.1:", ports_[i], " id ", i + 1, "\n");
  }
  cfg = cfg.substr(0, cfg.find('\n', begin) + 1) + servers + cfg.substr(cfg.rfind('\n', end) + 1);
  // The replicas here serve no HTTP API: the HTTP backend keeps no servers.
  const size_t http_begin = cfg.find("# >>> http servers");
  const size_t http_end = cfg.find("# <<< http servers");
  if (http_begin == std::string::npos || http_end == std::string::npos) {
    return absl::FailedPreconditionError("deploy/haproxy/haproxy.cfg lost its http server markers");
  }
  cfg = cfg.substr(0, cfg.find('\n', http_begin) + 1) + cfg.substr(cfg.rfind('\n', http_end) + 1);
  const std::string path = options_.work_dir + "/haproxy.cfg";
  std::ofstream(path) << cfg;
  haproxy_port_ = FreePort();
  const std::string bind = absl::StrCat("127.0.0.1:", haproxy_port_);
  const std::string admin = absl::StrCat("127.0.0.1:", FreePort());
  const std::string http = absl::StrCat("127.0.0.1:", FreePort());
  const std::string socket = options_.work_dir + "/haproxy.sock";
  const std::string log = options_.work_dir + "/haproxy.log";
  haproxy_pid_ = fork();
  if (haproxy_pid_ == 0) {
    setenv("INFMEM_LB_BIND", bind.c_str(), 1);
    setenv("INFMEM_LB_ADMIN_BIND", admin.c_str(), 1);
    setenv("INFMEM_LB_HTTP_BIND", http.c_str(), 1);
    setenv("INFMEM_LB_SOCKET", socket.c_str(), 1);
    if (freopen(log.c_str(), "w", stdout) == nullptr || dup2(1, 2) < 0) _exit(126);
    execlp("haproxy", "haproxy", "-db", "-f", path.c_str(), nullptr);
    _exit(127);
  }
  for (int i = 0; i < 100 && !Accepts(haproxy_port_); ++i) absl::SleepFor(absl::Milliseconds(50));
  if (!Accepts(haproxy_port_)) {
    return absl::UnavailableError(absl::StrCat("haproxy did not start; see ", log));
  }
  absl::SleepFor(absl::Seconds(1.5));  // its first health checks
  return absl::OkStatus();
}

std::unique_ptr<v1::Infmem::Stub> LocalCluster::NewStub() const {
  return v1::Infmem::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", haproxy_port_),
                                                 grpc::InsecureChannelCredentials()));
}

}  // namespace infmem::testing
