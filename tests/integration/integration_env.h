// Paths and fixtures the integration tests share: the server binary, the shipped model they
// serve, and a fresh temporary directory per test.
#ifndef INFMEM_TESTS_INTEGRATION_INTEGRATION_ENV_H_
#define INFMEM_TESTS_INTEGRATION_INTEGRATION_ENV_H_

#include <gtest/gtest.h>

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
