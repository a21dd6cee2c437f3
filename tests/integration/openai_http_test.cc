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
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
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
  // Runs `count` turns of tests/http/`script` from turn `first` (continuing `previous`: a
  // response id, or a history file); returns one JSON object per turn (empty on failure).
  std::vector<nlohmann::json> Chain(const ServerProcess& server, int first, int count,
                                    const std::string& previous = "",
                                    const std::string& script = "responses_chain.js") {
    const std::string command =
        absl::StrCat("NODE_PATH='", kOracles, "' node '", INFMEM_SOURCE_DIR, "/tests/http/", script,
                     "' http://127.0.0.1:", server.http_port(), "/v1 ", first, " ", count, " ",
                     previous, " 2>&1");
    FILE* pipe = popen(command.c_str(), "r");
    std::vector<nlohmann::json> turns;
    char buffer[65536];
    while (pipe != nullptr && fgets(buffer, sizeof(buffer), pipe) != nullptr) {
      nlohmann::json line = nlohmann::json::parse(buffer, nullptr, false);
      if (line.is_object()) {
        turns.push_back(line);
      } else {
        std::printf("%s", buffer);
      }
    }
    if (pipe == nullptr || pclose(pipe) != 0) return {};
    return turns;
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
  EXPECT_EQ(
      RunClient(*server, "alice-token-0123456789 alice-token-0123456780 bob-token-0123456789x"), 0);
}

TEST_F(OpenAiHttpTest, AResponseChainContinuesAfterKillNineAsIfNothingHappened) {
  // Uninterrupted: ten greedy turns on one server.
  auto reference_server = StartServer({"--http_port=0"}, dir_ + "/reference");
  ASSERT_NE(reference_server, nullptr);
  const std::vector<nlohmann::json> reference = Chain(*reference_server, 0, 10);
  ASSERT_EQ(reference.size(), 10u);
  reference_server->Stop();

  // Interrupted: five turns, kill -9, a restart on the same directory, five more.
  auto server = StartServer({"--http_port=0"});
  ASSERT_NE(server, nullptr);
  std::vector<nlohmann::json> turns = Chain(*server, 0, 5);
  ASSERT_EQ(turns.size(), 5u);
  server->Kill();
  server = StartServer({"--http_port=0"});
  ASSERT_NE(server, nullptr);
  const std::vector<nlohmann::json> rest = Chain(*server, 5, 5, turns.back()["id"]);
  ASSERT_EQ(rest.size(), 5u);
  turns.insert(turns.end(), rest.begin(), rest.end());
  for (int t = 0; t < 10; ++t) {
    EXPECT_EQ(turns[t]["text"], reference[t]["text"]) << "turn " << t;
    EXPECT_EQ(turns[t]["input_tokens"], reference[t]["input_tokens"]) << "turn " << t;
    // Each turn computed only its new input: everything before it was cached, also in the
    // first turn after the crash (the previous response's state was snapshotted before it was
    // acknowledged).
    if (t > 0) {
      EXPECT_EQ(turns[t]["cached_tokens"].get<int64_t>(),
                turns[t - 1]["input_tokens"].get<int64_t>() +
                    turns[t - 1]["output_tokens"].get<int64_t>() - 1)
          << "turn " << t;
    }
  }
  // The response acknowledged before the kill is still there.
  EXPECT_EQ(RunClient(*server, ""), 0);
}

TEST_F(OpenAiHttpTest, StatelessChatReusesTheConversationItComputedAlsoAfterKillNine) {
  // The same 20-turn conversation (the whole history resent each turn) against a server that
  // reuses what it computed and one that does not.
  auto fresh = StartServer({"--http_port=0", "--http_prefix_cache=0"}, dir_ + "/fresh");
  ASSERT_NE(fresh, nullptr);
  const std::vector<nlohmann::json> reference = Chain(*fresh, 0, 20, "", "chat_reuse.js");
  ASSERT_EQ(reference.size(), 20u);
  fresh->Stop();

  const std::string history = dir_ + "/history.json";
  auto server = StartServer({"--http_port=0"});
  ASSERT_NE(server, nullptr);
  std::vector<nlohmann::json> turns = Chain(*server, 0, 10, history, "chat_reuse.js");
  ASSERT_EQ(turns.size(), 10u);
  server->Kill();  // the cached states are sessions: they survive
  server = StartServer({"--http_port=0"});
  ASSERT_NE(server, nullptr);
  const std::vector<nlohmann::json> rest = Chain(*server, 10, 10, history, "chat_reuse.js");
  ASSERT_EQ(rest.size(), 10u);
  turns.insert(turns.end(), rest.begin(), rest.end());

  const auto computed = [](const nlohmann::json& turn) {
    return turn["prompt_tokens"].get<int64_t>() - turn["cached_tokens"].get<int64_t>();
  };
  EXPECT_EQ(turns[0]["cached_tokens"], 0);
  for (int t = 0; t < 20; ++t) {
    EXPECT_EQ(turns[t]["reply"], reference[t]["reply"]) << "turn " << t;
    EXPECT_EQ(turns[t]["prompt_tokens"], reference[t]["prompt_tokens"]) << "turn " << t;
    EXPECT_EQ(reference[t]["cached_tokens"], 0) << "turn " << t;
    if (t == 0) continue;
    // Everything the previous call sent and got back is reused; only this turn's message is
    // computed (the same few tokens each turn, whatever the length of the history).
    EXPECT_GE(turns[t]["cached_tokens"].get<int64_t>(),
              turns[t - 1]["prompt_tokens"].get<int64_t>())
        << "turn " << t;
    EXPECT_LE(computed(turns[t]), computed(turns[0]) + 2) << "turn " << t;
  }
  EXPECT_GT(ScrapeMetric(server->metrics_port(), "infmem_cached_prompt_tokens_total"), 0);
}

}  // namespace
}  // namespace infmem::testing
