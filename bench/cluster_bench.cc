// infmem-bench --cluster: cluster mode measured end to end (docs/operations.md "Cluster
// mode"). Starts a PostgreSQL (initdb/pg_ctl), replicas and HAProxy on 127.0.0.1
// (tests/testing/local_cluster.h) and prints:
//   1. Append latency p50/p99 and aggregate appends/s, `clients` sessions appending 16 tokens
//      at a time: one replica on the local store, one on PostgreSQL, N behind HAProxy;
//   2. the latency of a call that moves its session from a live owner (handover), and how
//      long a replica's sessions are unavailable after kill -9 and after a drain (SIGTERM),
//      from the signal until each serves again through HAProxy;
//   3. generation tokens/s of N replicas against one.
// Figures for reports, never assertions.
#include "bench/cluster_bench.h"

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "tests/testing/local_cluster.h"
#include "tests/testing/postgres_instance.h"

namespace infmem::bench {
namespace {

using testing::LocalCluster;
using v1::Infmem;

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

std::unique_ptr<grpc::ClientContext> Routed(const std::string& id) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  context->AddMetadata("x-infmem-session", id);
  return context;
}

grpc::Status Create(Infmem::Stub& stub, const std::string& id) {
  v1::CreateSessionRequest request;
  request.set_session_id(id);
  request.set_text("The jury said that the city");
  v1::Session session;
  return stub.CreateSession(Routed(id).get(), request, &session);
}

grpc::Status Append(Infmem::Stub& stub, const std::string& id) {
  v1::AppendRequest request;
  request.set_session_id(id);
  for (int i = 0; i < 16; ++i) request.mutable_token_ids()->add_ids(10 + i);
  v1::AppendResponse response;
  return stub.Append(Routed(id).get(), request, &response);
}

// `clients` sessions, each appending `appends` times in its own thread: one row of table 1.
void AppendRow(const std::string& label, const std::function<std::unique_ptr<Infmem::Stub>()>& stub,
               int clients, int appends, const std::string& prefix) {
  std::vector<std::vector<double>> latencies(static_cast<size_t>(clients));
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  const absl::Time start = absl::Now();
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      auto s = stub();
      const std::string id = absl::StrCat(prefix, c);
      if (!Create(*s, id).ok()) ++failed;
      for (int i = 0; i < appends; ++i) {
        const absl::Time t = absl::Now();
        if (!Append(*s, id).ok()) ++failed;
        latencies[static_cast<size_t>(c)].push_back(absl::ToDoubleMilliseconds(absl::Now() - t));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const double wall = absl::ToDoubleSeconds(absl::Now() - start);
  std::vector<double> all;
  for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::printf("| %-34s | %9.2f | %9.2f | %10.0f |%s\n", label.c_str(), Percentile(all, 0.5),
              Percentile(all, 0.99), static_cast<double>(all.size()) / wall,
              failed ? absl::StrCat(" ", failed.load(), " failed").c_str() : "");
}

// `sessions` sessions generating `tokens` each at once: aggregate tokens/s.
double TokensPerSecond(const std::function<std::unique_ptr<Infmem::Stub>()>& stub, int sessions,
                       int tokens, const std::string& prefix) {
  std::vector<std::thread> threads;
  std::atomic<int64_t> total{0};
  for (int c = 0; c < sessions; ++c) {
    auto s = stub();
    Create(*s, absl::StrCat(prefix, c));
  }
  const absl::Time start = absl::Now();
  for (int c = 0; c < sessions; ++c) {
    threads.emplace_back([&, c] {
      auto s = stub();
      const std::string id = absl::StrCat(prefix, c);
      v1::GenerateRequest request;
      request.set_session_id(id);
      request.set_max_tokens(tokens);
      auto context = Routed(id);
      auto reader = s->Generate(context.get(), request);
      v1::GenerateResponse message;
      while (reader->Read(&message)) total += message.token_ids_size();
      reader->Finish();
    });
  }
  for (std::thread& t : threads) t.join();
  return static_cast<double>(total) / absl::ToDoubleSeconds(absl::Now() - start);
}

// Sends `signal` to the replica owning the most of `ids`, then times, per session it owned,
// how long until an Append through HAProxy succeeds. Prints the median and the worst.
void Unavailability(const std::string& label, LocalCluster& cluster, testing::PostgresInstance& pg,
                    const std::vector<std::string>& ids, int signal) {
  // The sessions of `ids` are named m<N>.
  auto owners = pg.Query(
      "SELECT owner FROM infmem_sessions WHERE owner IS NOT NULL AND id LIKE 'm%' "
      "GROUP BY owner ORDER BY count(*) DESC LIMIT 1");
  if (!owners.ok() || owners->empty()) return;
  const std::string owner(absl::StripTrailingAsciiWhitespace(*owners));
  const int slot = std::atoi(owner.c_str() + 1);
  if (!cluster.running(slot)) return;
  std::vector<std::string> held;
  for (const std::string& id : ids) {
    auto o = pg.Query("SELECT owner FROM infmem_sessions WHERE id = '" + id + "'");
    if (o.ok() && absl::StripTrailingAsciiWhitespace(*o) == owner) held.push_back(id);
  }
  const pid_t pid = cluster.replica(slot).pid();
  const absl::Time start = absl::Now();
  kill(pid, signal);
  std::vector<double> seconds(held.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < held.size(); ++i) {
    threads.emplace_back([&, i] {
      auto stub = cluster.NewStub();
      while (!Append(*stub, held[i]).ok() && absl::Now() - start < absl::Seconds(60)) {
        absl::SleepFor(absl::Milliseconds(20));
      }
      seconds[i] = absl::ToDoubleSeconds(absl::Now() - start);
    });
  }
  for (std::thread& t : threads) t.join();
  if (signal == SIGKILL) {
    cluster.replica(slot).Kill();
  } else {
    const int code = cluster.replica(slot).Stop();
    std::printf("(drained replica r%d exited with code %d)\n", slot, code);
  }
  cluster.Drop(slot);
  std::printf("| %-34s | %9zu | %9.2f | %9.2f |\n", label.c_str(), held.size(),
              Percentile(seconds, 0.5), Percentile(seconds, 1.0));
}

}  // namespace

int RunClusterBench(const ClusterBenchOptions& o) {
  setvbuf(stdout, nullptr, _IOLBF, 0);  // rows appear as they are measured
  auto pg = testing::PostgresInstance::Start();
  if (!pg.ok()) {
    std::fprintf(stderr, "infmem-bench: %s\n", pg.status().ToString().c_str());
    return 1;
  }
  const std::string dir = absl::StrCat(std::filesystem::temp_directory_path().string(),
                                       "/infmem-cluster-bench-", getpid());
  std::filesystem::create_directories(dir);
  const std::vector<std::string> common = {
      "--model_dir=" + o.model_dir, absl::StrCat("--threads=", o.threads),
      absl::StrCat("--lease_seconds=", o.lease_seconds), "--metrics_port=-1", "--drain_seconds=5"};
  std::printf(
      "infmem-bench --cluster: %s, %d model threads per replica, %d replicas, lease %g s, "
      "%d clients x %d appends of 16 tokens\n\n",
      o.model_dir.c_str(), o.threads, o.replicas, o.lease_seconds, o.clients, o.appends);

  // 1. Append latency.
  std::printf("| %-34s | p50 ms    | p99 ms    | appends/s  |\n", "Append (16 tokens)");
  std::printf("|%s|-----------|-----------|------------|\n", std::string(36, '-').c_str());
  double one_rate = 0, many_rate = 0;
  {
    std::vector<std::string> args = common;
    args.push_back("--session_dir=" + dir + "/local");
    auto local = testing::ServerProcess::Start(o.server_binary, args);
    if (!local.ok()) return 1;
    AppendRow(
        "1 replica, local store (fsync)", [&] { return (*local)->NewStub(); }, o.clients, o.appends,
        "l");
  }
  LocalCluster cluster({o.source_dir, o.server_binary, (*pg)->uri(), dir, o.replicas, common});
  if (!cluster.StartReplica(0).ok()) return 1;
  AppendRow(
      "1 replica, PostgreSQL store", [&] { return cluster.replica(0).NewStub(); }, o.clients,
      o.appends, "p");
  one_rate = TokensPerSecond([&] { return cluster.replica(0).NewStub(); }, o.clients, 32, "g1_");
  for (int i = 1; i < o.replicas; ++i) {
    if (!cluster.StartReplica(i).ok()) return 1;
  }
  if (!cluster.StartHaproxy().ok()) return 1;
  AppendRow(
      absl::StrCat(o.replicas, " replicas + HAProxy, PostgreSQL"),
      [&] { return cluster.NewStub(); }, o.clients, o.appends, "h");
  many_rate = TokensPerSecond([&] { return cluster.NewStub(); }, o.clients, 32, "g3_");

  // 2. Moves.
  std::vector<std::string> ids;
  auto stub = cluster.NewStub();
  for (int i = 0; i < 24; ++i) {
    ids.push_back(absl::StrCat("m", i));
    Create(*stub, ids.back());
  }
  // A call that reaches a replica other than its session's owner moves the session there.
  {
    std::vector<double> ms;
    for (const std::string& id : ids) {
      auto owner = (*pg)->Query("SELECT owner FROM infmem_sessions WHERE id = '" + id + "'");
      if (!owner.ok() || owner->size() < 2) continue;
      const int other = (std::atoi(owner->c_str() + 1) + 1) % o.replicas;
      auto direct = cluster.replica(other).NewStub();
      const absl::Time t = absl::Now();
      if (Append(*direct, id).ok()) ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t));
    }
    std::printf("\n| %-34s | sessions  | p50 ms    | p99 ms    |\n",
                "Append that moves its session");
    std::printf("|%s|-----------|-----------|-----------|\n", std::string(36, '-').c_str());
    std::printf("| %-34s | %9zu | %9.1f | %9.1f |\n", "handover from a live owner", ms.size(),
                Percentile(ms, 0.5), Percentile(ms, 0.99));
  }
  std::printf("\n| %-34s | sessions  | p50 s     | max s     |\n", "serving again after");
  std::printf("|%s|-----------|-----------|-----------|\n", std::string(36, '-').c_str());
  Unavailability("kill -9 of the busiest replica", cluster, **pg, ids, SIGKILL);
  for (const std::string& id : ids) Append(*stub, id);  // all settled on the survivors
  Unavailability("SIGTERM (drain) of the busiest", cluster, **pg, ids, SIGTERM);

  // 3. Throughput.
  std::printf("\n| %-34s | tokens/s  | per replica |\n", "generation, 32 tokens per session");
  std::printf("|%s|-----------|-------------|\n", std::string(36, '-').c_str());
  std::printf("| %-34s | %9.1f | %11.1f |\n",
              absl::StrCat(o.clients, " sessions, 1 replica").c_str(), one_rate, one_rate);
  std::printf("| %-34s | %9.1f | %11.1f |\n",
              absl::StrCat(o.clients, " sessions, ", o.replicas, " replicas").c_str(), many_rate,
              many_rate / o.replicas);
  std::printf("\nmachine: %u hardware threads (replicas share them)\n",
              std::thread::hardware_concurrency());
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace infmem::bench
