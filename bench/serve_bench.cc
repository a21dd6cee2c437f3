// infmem-bench: end-to-end figures of infmem-server, measured through its gRPC API. Starts its
// own server (127.0.0.1, port 0, a temporary session directory) and prints a table:
//   1. N concurrent sessions streaming greedy continuations: TTFT and inter-token latency
//      p50/p99, aggregate tokens/s;
//   2. the same for a session with a long history (default 1M tokens) against a fresh one;
//   3. resuming that session cold from disk against re-prefilling its tokens;
//   4. bytes the server writes per Append of 16 tokens (from /proc/<pid>/io), against the
//      session's state size.
// Figures for reports, never assertions; machines are noisy, so read medians and ratios.
// With --cluster, the cluster-mode table instead (cluster_bench.cc).
//   infmem-bench [--server_binary=build/release/server/infmem-server]
//                [--model_dir=models/brown-lm] [--history_tokens=1048576] [--threads=2]
//                [--device=cpu] [--sessions=1,8,32] [--new_tokens=64]
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bench/cluster_bench.h"
#include "server/common/flags_help.h"
#include "tests/testing/server_process.h"

ABSL_FLAG(std::string, server_binary, "build/release/server/infmem-server", "The server.");
ABSL_FLAG(std::string, model_dir, "models/brown-lm", "Model the server loads.");
ABSL_FLAG(int, threads, 2, "Model CPU threads of the server.");
ABSL_FLAG(std::string, device, "cpu", "The server's --device: cpu, cuda, cuda:N or auto.");
ABSL_FLAG(std::string, sessions, "1,8,32", "Concurrent session counts to measure.");
ABSL_FLAG(int, new_tokens, 64, "Tokens each stream generates.");
ABSL_FLAG(bool, fresh_sessions, false,
          "Each stream creates its session with its prompt inside the timed call (the work of a "
          "stateless HTTP completion) instead of generating from one created beforehand.");
ABSL_FLAG(int64_t, history_tokens, 1 << 20, "History of the long session.");
ABSL_FLAG(int, appends, 200, "Appends of 16 tokens timed for the bytes-written figure.");
ABSL_FLAG(bool, cluster, false,
          "Measure cluster mode instead (PostgreSQL, --replicas replicas and HAProxy on "
          "127.0.0.1): Append latency against the local store, time to serve again after a "
          "kill and a drain, tokens/s of N replicas against one.");
ABSL_FLAG(int, replicas, 3, "--cluster: replicas.");
ABSL_FLAG(double, lease_seconds, 5, "--cluster: the replicas' lease.");
ABSL_FLAG(int, clients, 16, "--cluster: concurrent sessions in the Append and tokens/s rows.");
ABSL_FLAG(int, cluster_appends, 50, "--cluster: appends per client.");
ABSL_FLAG(std::string, source_dir, ".", "--cluster: the repository (for deploy/haproxy).");

namespace {

using Clock = std::chrono::steady_clock;
using infmem::v1::Infmem;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

struct StreamTimes {
  double ttft = 0;
  std::vector<double> itl;  // per token: the gap before its message, split over its tokens
  int64_t tokens = 0;
  bool ok = false;
};

bool Create(Infmem::Stub& stub, const std::string& id, const std::string& text);

// Streams `n` greedy tokens of session `id`; with `create_text`, creates the session with that
// text first, inside the timed window.
StreamTimes Stream(Infmem::Stub& stub, const std::string& id, int n,
                   const std::string* create_text = nullptr) {
  grpc::ClientContext context;
  infmem::v1::GenerateRequest request;
  request.set_session_id(id);
  request.set_max_tokens(n);
  StreamTimes t;
  const Clock::time_point start = Clock::now();
  if (create_text != nullptr && !Create(stub, id, *create_text)) return t;
  Clock::time_point last = start;
  auto reader = stub.Generate(&context, request);
  infmem::v1::GenerateResponse message;
  while (reader->Read(&message)) {
    const Clock::time_point now = Clock::now();
    const int k = message.token_ids_size();
    if (k == 0) continue;
    if (t.tokens == 0) {
      t.ttft = Seconds(now - start);
      for (int i = 1; i < k; ++i) t.itl.push_back(0);
    } else {
      for (int i = 0; i < k; ++i) t.itl.push_back(Seconds(now - last) / k);
    }
    t.tokens += k;
    last = now;
  }
  t.ok = reader->Finish().ok();
  return t;
}

bool Check(const grpc::Status& status, const char* what) {
  if (!status.ok()) std::fprintf(stderr, "%s: %s\n", what, status.error_message().c_str());
  return status.ok();
}

bool Create(Infmem::Stub& stub, const std::string& id, const std::string& text) {
  grpc::ClientContext context;
  infmem::v1::CreateSessionRequest request;
  request.set_session_id(id);
  request.set_text(text);
  infmem::v1::Session session;
  return Check(stub.CreateSession(&context, request, &session), "create");
}

bool AppendIds(Infmem::Stub& stub, const std::string& id, const std::vector<int32_t>& ids) {
  grpc::ClientContext context;
  infmem::v1::AppendRequest request;
  request.set_session_id(id);
  request.mutable_token_ids()->mutable_ids()->Add(ids.begin(), ids.end());
  infmem::v1::AppendResponse response;
  return Check(stub.Append(&context, request, &response), "append");
}

// Returns the counter `key` of /proc/<pid>/io: "wchar:" (bytes passed to write calls, sockets
// included) or "write_bytes:" (bytes sent to storage, in whole pages).
int64_t IoCounter(pid_t pid, const std::string& key) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/io"));
  std::string name;
  int64_t value = 0;
  while (in >> name >> value) {
    if (name == key) return value;
  }
  return -1;
}

void PrintStreams(const std::string& label, const std::vector<StreamTimes>& streams, double wall) {
  std::vector<double> ttft, itl;
  int64_t tokens = 0;
  int failed = 0;
  for (const StreamTimes& s : streams) {
    ttft.push_back(s.ttft * 1e3);
    for (double x : s.itl) itl.push_back(x * 1e3);
    tokens += s.tokens;
    failed += s.ok ? 0 : 1;
  }
  std::printf("| %-22s | %8.1f | %8.1f | %8.2f | %8.2f | %10.1f |%s\n", label.c_str(),
              Percentile(ttft, 0.5), Percentile(ttft, 0.99), Percentile(itl, 0.5),
              Percentile(itl, 0.99), static_cast<double>(tokens) / wall,
              failed ? absl::StrCat(" ", failed, " failed").c_str() : "");
}

// Streams the sessions `ids` at once; with `texts`, each creates its session in its call.
std::vector<StreamTimes> Concurrent(Infmem::Stub& stub, const std::vector<std::string>& ids, int n,
                                    double* wall, const std::vector<std::string>* texts = nullptr) {
  std::vector<StreamTimes> out(ids.size());
  std::vector<std::thread> threads;
  const Clock::time_point start = Clock::now();
  for (size_t i = 0; i < ids.size(); ++i) {
    threads.emplace_back(
        [&, i] { out[i] = Stream(stub, ids[i], n, texts ? &(*texts)[i] : nullptr); });
  }
  for (std::thread& t : threads) t.join();
  *wall = Seconds(Clock::now() - start);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  infmem::InitFlagsHelp("infmem-bench: load test of a running or self-started infmem-server.", argc,
                        argv);
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_cluster)) {
    return infmem::bench::RunClusterBench(
        {absl::GetFlag(FLAGS_source_dir), absl::GetFlag(FLAGS_server_binary),
         absl::GetFlag(FLAGS_model_dir), absl::GetFlag(FLAGS_threads),
         absl::GetFlag(FLAGS_replicas), absl::GetFlag(FLAGS_lease_seconds),
         absl::GetFlag(FLAGS_clients), absl::GetFlag(FLAGS_cluster_appends)});
  }
  const std::string dir =
      absl::StrCat(std::filesystem::temp_directory_path().string(), "/infmem-bench-", getpid());
  std::filesystem::remove_all(dir);
  const std::vector<std::string> server_args = {
      "--model_dir=" + absl::GetFlag(FLAGS_model_dir),
      "--session_dir=" + dir + "/sessions",
      absl::StrCat("--threads=", absl::GetFlag(FLAGS_threads)),
      "--device=" + absl::GetFlag(FLAGS_device),
      "--metrics_port=-1",
      "--max_new_tokens=100000"};
  auto server =
      infmem::testing::ServerProcess::Start(absl::GetFlag(FLAGS_server_binary), server_args);
  if (!server.ok()) {
    std::fprintf(stderr, "infmem-bench: %s\n", server.status().ToString().c_str());
    return 1;
  }
  auto stub = (*server)->NewStub();
  const int n = absl::GetFlag(FLAGS_new_tokens);
  std::printf("infmem-bench: %s on %s, %d model threads, %d tokens per stream\n\n",
              absl::GetFlag(FLAGS_model_dir).c_str(), absl::GetFlag(FLAGS_device).c_str(),
              absl::GetFlag(FLAGS_threads), n);
  std::printf("| %-22s | TTFT p50 | TTFT p99 | ITL p50  | ITL p99  | tokens/s   |\n", "streams");
  std::printf("|%s|----------|----------|----------|----------|------------|\n",
              std::string(24, '-').c_str());

  // 1. Concurrent sessions.
  double single_rate = 0, rate32 = 0;
  for (absl::string_view count : absl::StrSplit(absl::GetFlag(FLAGS_sessions), ',')) {
    int sessions = 0;
    if (!absl::SimpleAtoi(count, &sessions) || sessions < 1) return 2;
    std::vector<std::string> ids, texts;
    const bool fresh = absl::GetFlag(FLAGS_fresh_sessions);
    for (int i = 0; i < sessions; ++i) {
      ids.push_back(absl::StrCat(fresh ? "f" : "c", sessions, "_", i));
      texts.push_back(absl::StrCat("Session ", i, " begins: the jury said"));
      if (!fresh && !Create(*stub, ids.back(), texts.back())) return 1;
    }
    double wall = 0;
    const auto streams = Concurrent(*stub, ids, n, &wall, fresh ? &texts : nullptr);
    PrintStreams(absl::StrCat(sessions, fresh ? " created in the call" : " concurrent"), streams,
                 wall);
    double tokens = 0;
    for (const auto& s : streams) tokens += static_cast<double>(s.tokens);
    if (sessions == 1) single_rate = tokens / wall;
    if (sessions == 32) rate32 = tokens / wall;
  }

  // 2. A long history against a fresh session.
  const int64_t history = absl::GetFlag(FLAGS_history_tokens);
  if (!Create(*stub, "long", "") || !Create(*stub, "fresh", "The jury said")) return 1;
  std::mt19937 rng(1);
  std::uniform_int_distribution<int32_t> token(3, 4095);
  // Append random ids in 64k-token calls, streaming a continuation at a few history lengths
  // on the way (the streamed tokens join the history; their time is not prefill time).
  double prefill = 0;
  int64_t done = 0;
  PrintStreams("fresh session", {Stream(*stub, "fresh", n)}, 1);
  for (int64_t mark : {int64_t{4096}, int64_t{65536}, history}) {
    if (mark > history) continue;
    const Clock::time_point prefill_start = Clock::now();
    while (done < mark) {
      const int64_t k = std::min<int64_t>(1 << 16, mark - done);
      std::vector<int32_t> ids(static_cast<size_t>(k));
      for (int32_t& id : ids) id = token(rng);
      if (!AppendIds(*stub, "long", ids)) return 1;
      done += k;
    }
    prefill += Seconds(Clock::now() - prefill_start);
    PrintStreams(absl::StrCat(mark, "-token history"), {Stream(*stub, "long", n)}, 1);
    if (mark == history) break;
  }
  std::printf("(the last rows are one stream each: tokens/s is that stream's rate)\n");

  // 3. Cold resume: restart the server (a clean stop snapshots), then time the first call.
  if ((*server)->Stop() != 0) std::fprintf(stderr, "server did not stop cleanly\n");
  server = infmem::testing::ServerProcess::Start(absl::GetFlag(FLAGS_server_binary), server_args);
  if (!server.ok()) return 1;
  stub = (*server)->NewStub();
  const Clock::time_point resume_start = Clock::now();
  const StreamTimes first = Stream(*stub, "long", 1);
  const double resume = Seconds(Clock::now() - resume_start);

  // 4. Bytes written per Append of 16 tokens.
  const int appends = absl::GetFlag(FLAGS_appends);
  std::vector<int32_t> sixteen(16);
  for (int32_t& id : sixteen) id = token(rng);
  const int64_t before = IoCounter((*server)->pid(), "wchar:");
  const int64_t disk_before = IoCounter((*server)->pid(), "write_bytes:");
  const Clock::time_point append_start = Clock::now();
  for (int i = 0; i < appends; ++i) {
    if (!AppendIds(*stub, "long", sixteen)) return 1;
  }
  const double append_wall = Seconds(Clock::now() - append_start);
  const int64_t after = IoCounter((*server)->pid(), "wchar:");
  const int64_t disk_after = IoCounter((*server)->pid(), "write_bytes:");
  infmem::v1::Model model;
  grpc::ClientContext context;
  stub->GetModel(&context, infmem::v1::GetModelRequest(), &model);

  std::printf("\n| figure | value |\n|---|---|\n");
  std::printf("| aggregate decode tokens/s, 32 sessions / 1 session | %.1fx |\n",
              single_rate > 0 ? rate32 / single_rate : 0);
  std::printf(
      "| prefill of %ld history tokens (Append, 64k tokens per call) | %.1f s (%.0f "
      "tokens/s) |\n",
      static_cast<long>(done), prefill, static_cast<double>(done) / prefill);
  std::printf("| cold resume of that session from disk (first 1-token Generate) | %.3f s%s |\n",
              resume, first.ok ? "" : " (failed)");
  std::printf("| re-prefill / resume | %.0fx |\n", prefill / resume);
  std::printf("| bytes written per Append of 16 tokens (wchar: all write calls) | %.1f |\n",
              static_cast<double>(after - before) / appends);
  std::printf("| bytes sent to storage per Append of 16 tokens (write_bytes: pages) | %.1f |\n",
              static_cast<double>(disk_after - disk_before) / appends);
  std::printf("| state bytes per session | %ld |\n",
              static_cast<long>(model.state_bytes_per_session()));
  std::printf("| Append of 16 tokens, mean latency (journal fsync included) | %.2f ms |\n",
              1e3 * append_wall / appends);
  (*server)->Stop();
  std::filesystem::remove_all(dir);
  return 0;
}
