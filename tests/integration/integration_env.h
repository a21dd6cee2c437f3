// Paths and fixtures the integration tests share: the server binary, the shipped model they
// serve, and a fresh temporary directory per test.
#ifndef INFMEM_TESTS_INTEGRATION_INTEGRATION_ENV_H_
#define INFMEM_TESTS_INTEGRATION_INTEGRATION_ENV_H_

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "tests/testing/api_calls.h"
#include "tests/testing/server_process.h"

namespace infmem::testing {

inline std::string ServerBinary() { return INFMEM_SERVER_BINARY; }
inline std::string ModelDir(const std::string& name = "brown-lm") {
  return std::string(INFMEM_SOURCE_DIR) + "/models/" + name;
}

// Returns the value of the metric `name` (with its labels, as exposed, when it has some) on the
// server's metrics page, or -1.
inline double ScrapeMetric(int port, const std::string& name) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  const std::string request = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return -1;
  }
  std::string page;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;) page.append(buf, static_cast<size_t>(n));
  close(fd);
  const size_t at = page.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stod(page.substr(at + name.size() + 2));
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/" +
           ::testing::UnitTest::GetInstance()->current_test_suite()->name() + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }

  // Starts a server on `session_dir` (default: this test's directory) with `extra` flags.
  std::unique_ptr<ServerProcess> StartServer(std::vector<std::string> extra = {},
                                             const std::string& session_dir = "") {
    std::vector<std::string> args = {
        "--model_dir=" + ModelDir(), "--threads=1",
        "--session_dir=" + (session_dir.empty() ? dir_ + "/sessions" : session_dir)};
    args.insert(args.end(), extra.begin(), extra.end());
    auto server = ServerProcess::Start(ServerBinary(), args);
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? *std::move(server) : nullptr;
  }

  std::string dir_;
};

}  // namespace infmem::testing

#endif  // INFMEM_TESTS_INTEGRATION_INTEGRATION_ENV_H_
