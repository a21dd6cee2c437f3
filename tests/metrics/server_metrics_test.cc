#include "server/metrics/server_metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace infmem::metrics {
namespace {

using ::testing::HasSubstr;

ServerMetrics& Recorded() {
  static ServerMetrics* m = [] {
    auto* m = new ServerMetrics();
    m->ObserveTimeToFirstToken(0.12);
    m->ObserveInterTokenLatency(0.004);
    m->ObserveQueueTime(0.0007);
    m->ObserveRequest("Generate", "OK", 1.5);
    m->ObserveRequest("Generate", "OK", 0.5);
    m->ObserveRequest("Append", "INVALID_ARGUMENT", 0.001);
    m->AddPromptTokens(16);
    m->AddGeneratedTokens(40);
    m->ObserveDecodeBatchSize(8);
    m->SetSessionsResident(3);
    m->SetSessionsStored(10);
    m->SetSessionStateBytes(3 * 1771008);
    m->ObserveSessionLoad(0.02);
    m->ObserveSessionSave(0.03);
    m->ObserveJournalSync(0.0009);
    m->AddSessionEvictions(2);
    m->AddLtmUpdates(5);
    return m;
  }();
  return *m;
}

TEST(ServerMetricsTest, EveryFamilyOfTheArchitectureIsExposedWithItsType) {
  const std::string text = Recorded().Serialize();
  const std::pair<const char*, const char*> families[] = {
      {"infmem_time_to_first_token_seconds", "histogram"},
      {"infmem_inter_token_latency_seconds", "histogram"},
      {"infmem_queue_time_seconds", "histogram"},
      {"infmem_request_duration_seconds", "histogram"},
      {"infmem_prompt_tokens_total", "counter"},
      {"infmem_generated_tokens_total", "counter"},
      {"infmem_decode_batch_size", "histogram"},
      {"infmem_sessions_resident", "gauge"},
      {"infmem_sessions_stored", "gauge"},
      {"infmem_session_state_bytes", "gauge"},
      {"infmem_session_load_seconds", "histogram"},
      {"infmem_session_save_seconds", "histogram"},
      {"infmem_session_evictions_total", "counter"},
      {"infmem_ltm_updates_total", "counter"},
      {"infmem_replayed_tokens_total", "counter"},
      {"infmem_journal_sync_seconds", "histogram"},
  };
  for (const auto& [name, type] : families) {
    EXPECT_THAT(text, HasSubstr(std::string("# TYPE ") + name + " " + type)) << name;
  }
}

TEST(ServerMetricsTest, RequestSeriesTheAlertRulesUseExistAtZeroBeforeAnyCall) {
  const std::string text = ServerMetrics().Serialize();
  for (const char* method : {"Append", "Generate", "CreateSession", "ImportSession"}) {
    for (const char* code : {"OK", "DATA_LOSS", "FAILED_PRECONDITION", "INTERNAL"}) {
      EXPECT_THAT(text, HasSubstr(std::string("infmem_request_duration_seconds_count{code=\"") +
                                  code + "\",method=\"" + method + "\"} 0"))
          << method << " " << code;
    }
  }
}

TEST(ServerMetricsTest, RecordedValuesAppear) {
  const std::string text = Recorded().Serialize();
  EXPECT_THAT(
      text, HasSubstr("infmem_request_duration_seconds_count{code=\"OK\",method=\"Generate\"} 2"));
  EXPECT_THAT(text, HasSubstr("infmem_request_duration_seconds_count{code=\"INVALID_ARGUMENT\","
                              "method=\"Append\"} 1"));
  EXPECT_THAT(text, HasSubstr("infmem_generated_tokens_total 40"));
  EXPECT_THAT(text, HasSubstr("infmem_sessions_resident 3"));
  EXPECT_THAT(text, HasSubstr("infmem_decode_batch_size_bucket{le=\"8\"} 1"));
  // Every other observation of Recorded(), each in its own series.
  for (const char* line : {
           "infmem_time_to_first_token_seconds_sum 0.12",
           "infmem_time_to_first_token_seconds_count 1",
           "infmem_inter_token_latency_seconds_sum 0.004",
           "infmem_queue_time_seconds_sum 0.0007",
           "infmem_request_duration_seconds_sum{code=\"OK\",method=\"Generate\"} 2",
           "infmem_prompt_tokens_total 16",
           "infmem_sessions_stored 10",
           "infmem_session_state_bytes 5313024",
           "infmem_session_load_seconds_sum 0.02",
           "infmem_session_save_seconds_sum 0.03",
           "infmem_journal_sync_seconds_sum 0.0009",
           "infmem_session_evictions_total 2",
           "infmem_ltm_updates_total 5",
           "infmem_decode_batch_size_sum 8",
       }) {
    EXPECT_THAT(text, HasSubstr(line)) << line;
  }
  // The decode batch of 8 is in the buckets from 8 up, not below.
  EXPECT_THAT(text, HasSubstr("infmem_decode_batch_size_bucket{le=\"4\"} 0"));
}

// Runs `promtool check metrics` on `exposition`; returns its exit status and output.
std::pair<int, std::string> Promtool(const std::string& exposition) {
  const std::string path = ::testing::TempDir() + "/metrics.txt";
  std::ofstream(path) << exposition;
  const std::string command = "promtool check metrics < " + path + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed"};
  std::string output;
  char buf[512];
  while (size_t n = fread(buf, 1, sizeof(buf), pipe)) output.append(buf, n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

TEST(ServerMetricsTest, PromtoolAcceptsTheExposition) {
  const auto [status, output] = Promtool(Recorded().Serialize());
  ASSERT_NE(status, 127) << "promtool is missing (Debian package prometheus)";
  EXPECT_EQ(status, 0) << output;
  // The check can fail: a malformed exposition is refused.
  EXPECT_NE(Promtool("# TYPE x counter\nx{le=\"1\" 3\n").first, 0);
}

}  // namespace
}  // namespace infmem::metrics
