// The OpenAI-compatible HTTP API through the official `openai` npm client
// (tests/http/openai_client_test.js, client installed by scripts/fetch-oracles.sh) against a
// real infmem-server with --http_port=0: without authentication, and with bearer tokens.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/integration/integration_env.h"

namespace infmem::testing {
namespace {

const std::string kOracles = std::string(INFMEM_SOURCE_DIR) + "/data/oracles/node_modules";

class OpenAiHttpTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    if (!std::filesystem::exists(kOracles + "/openai/package.json") ||
        std::system("node --version > /dev/null 2>&1") != 0) {
      GTEST_SKIP() << "the openai client is absent: run scripts/fetch-oracles.sh (needs node)";
    }
  }
  // Runs the client script against `server`; returns its exit code, printing its output.
  int RunClient(const ServerProcess& server, const std::string& args) {
    const std::string command =
        absl::StrCat("NODE_PATH='", kOracles, "' node '", INFMEM_SOURCE_DIR,
                     "/tests/http/openai_client_test.js' http://127.0.0.1:", server.http_port(),
                     "/v1 ", args, " 2>&1");
    FILE* pipe = popen(command.c_str(), "r");
    std::string output;
    char buffer[4096];
    while (pipe != nullptr && fgets(buffer, sizeof(buffer), pipe) != nullptr) output += buffer;
    const int status = pipe == nullptr ? -1 : pclose(pipe);
    std::printf("%s", output.c_str());
    return status;
  }
};

TEST_F(OpenAiHttpTest, TheOfficialClientDrivesEveryRoute) {
  auto server = StartServer({"--http_port=0"});
  ASSERT_NE(server, nullptr);
  ASSERT_GT(server->http_port(), 0);
  EXPECT_EQ(RunClient(*server, ""), 0);
  // Each route and status is counted in infmem_request_duration_seconds.
  const auto count = [&](const std::string& method, const std::string& code) {
    return ScrapeMetric(server->metrics_port(),
                        absl::StrCat("infmem_request_duration_seconds_count{code=\"", code,
                                     "\",method=\"", method, "\"}"));
  };
  EXPECT_GE(count("POST /v1/chat/completions", "200"), 5);
  EXPECT_GE(count("POST /v1/chat/completions", "400"), 5);
  EXPECT_GE(count("POST /v1/completions", "413"), 1);
  EXPECT_GE(count("GET /v1/models", "200"), 1);
  EXPECT_GE(count("HTTP other", "404"), 1);
}

TEST_F(OpenAiHttpTest, BearerTokensGuardTheHttpApiAsTheyGuardGrpc) {
  std::ofstream(dir_ + "/tokens") << "alice alice-token-0123456789\nbob bob-token-0123456789x\n";
  auto server = StartServer({"--http_port=0", "--auth_tokens=" + dir_ + "/tokens"});
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(RunClient(*server, "alice-token-0123456789 alice-token-0123456780 bob-token-0123456789x"),
            0);
}

}  // namespace
}  // namespace infmem::testing
