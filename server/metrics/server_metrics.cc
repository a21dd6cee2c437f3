#include "server/metrics/server_metrics.h"

#include <prometheus/text_serializer.h>

#include <sstream>
#include <vector>

namespace infmem::metrics {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Histogram;
using prometheus::Registry;

// Latency buckets in seconds, wide enough for a CPU decode step and a long prefill.
const Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* b = new Histogram::BucketBoundaries{
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
  return *b;
}

// Disk latency buckets in seconds (fsync, snapshot writes and loads).
const Histogram::BucketBoundaries& DiskBuckets() {
  static const auto* b = new Histogram::BucketBoundaries{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};
  return *b;
}

Histogram& SingleHistogram(Registry& r, const std::string& name, const std::string& help,
                           const Histogram::BucketBoundaries& buckets) {
  return BuildHistogram().Name(name).Help(help).Register(r).Add({}, buckets);
}

prometheus::Counter& SingleCounter(Registry& r, const std::string& name, const std::string& help) {
  return BuildCounter().Name(name).Help(help).Register(r).Add({});
}

prometheus::Gauge& SingleGauge(Registry& r, const std::string& name, const std::string& help) {
  return BuildGauge().Name(name).Help(help).Register(r).Add({});
}

// The RPCs of infmem.v1.Infmem (proto/infmem/v1/infmem.proto), as the service names them.
constexpr absl::string_view kRpcMethods[] = {"CreateSession", "GetSession",    "ListSessions",
                                             "DeleteSession", "ForkSession",   "Append",
                                             "Generate",      "Tokenize",      "Detokenize",
                                             "GetModel",      "ExportSession", "ImportSession"};
// The status codes whose series exist from the start: success, and the server-side failures
// the alert rules (deploy/prometheus/alerts.yml) watch.
constexpr absl::string_view kInitialCodes[] = {"OK", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
                                               "FAILED_PRECONDITION"};

}  // namespace

ServerMetrics::ServerMetrics()
    : registry_(std::make_shared<Registry>()),
      ttft_(SingleHistogram(*registry_, "infmem_time_to_first_token_seconds",
                            "Time from a Generate call's arrival to its first token.",
                            LatencyBuckets())),
      itl_(SingleHistogram(*registry_, "infmem_inter_token_latency_seconds",
                           "Time between consecutive tokens of one Generate stream.",
                           LatencyBuckets())),
      queue_time_(SingleHistogram(*registry_, "infmem_queue_time_seconds",
                                  "Time work waited in the scheduler's queue.", LatencyBuckets())),
      request_duration_(BuildHistogram()
                            .Name("infmem_request_duration_seconds")
                            .Help("Duration of finished RPCs, by method and status code.")
                            .Register(*registry_)),
      prompt_tokens_(SingleCounter(*registry_, "infmem_prompt_tokens_total",
                                   "Tokens appended to sessions (Append, Generate's text).")),
      generated_tokens_(
          SingleCounter(*registry_, "infmem_generated_tokens_total", "Tokens generated.")),
      batch_size_(SingleHistogram(*registry_, "infmem_decode_batch_size",
                                  "Sessions advanced together by one decode step.",
                                  {1, 2, 4, 8, 16, 32, 64, 128, 256})),
      sessions_resident_(SingleGauge(*registry_, "infmem_sessions_resident",
                                     "Sessions whose state is in memory.")),
      sessions_stored_(
          SingleGauge(*registry_, "infmem_sessions_stored", "Sessions in the session directory.")),
      state_bytes_(SingleGauge(*registry_, "infmem_session_state_bytes",
                               "Bytes of the states of all resident sessions.")),
      session_load_(SingleHistogram(*registry_, "infmem_session_load_seconds",
                                    "Time to bring a stored session into memory (snapshot and "
                                    "journal replay).",
                                    DiskBuckets())),
      session_save_(SingleHistogram(*registry_, "infmem_session_save_seconds",
                                    "Time to write a session snapshot.", DiskBuckets())),
      journal_sync_(SingleHistogram(*registry_, "infmem_journal_sync_seconds",
                                    "Time to make appended tokens durable (write and fsync).",
                                    DiskBuckets())),
      evictions_(SingleCounter(*registry_, "infmem_session_evictions_total",
                               "Sessions moved out of memory to make room.")),
      ltm_updates_(SingleCounter(*registry_, "infmem_ltm_updates_total",
                                 "Long-term memory updates (segment boundaries crossed).")),
      replayed_tokens_(SingleCounter(*registry_, "infmem_replayed_tokens_total",
                                     "Journal-tail tokens fed into a session's state after a "
                                     "restart or load (each once, ideally).")),
      cached_prompt_tokens_(SingleCounter(*registry_, "infmem_cached_prompt_tokens_total",
                                          "Prompt tokens of stateless HTTP calls that started "
                                          "from an earlier call's state instead of being "
                                          "computed (--http_prefix_cache).")),
      takeovers_(SingleCounter(*registry_, "infmem_session_takeovers_total",
                               "Sessions this replica took from a replica whose lease had "
                               "expired (cluster mode).")),
      handoffs_(BuildCounter()
                    .Name("infmem_session_handoffs_total")
                    .Help("Sessions handed over between live replicas, by direction: in (to "
                          "this replica) or out (cluster mode).")
                    .Register(*registry_)),
      handoffs_in_(handoffs_.Add({{"direction", "in"}})),
      handoffs_out_(handoffs_.Add({{"direction", "out"}})),
      store_seconds_(BuildHistogram()
                         .Name("infmem_store_seconds")
                         .Help("Time of one cluster-store operation, by op (append, snapshot, "
                               "load, takeover).")
                         .Register(*registry_)),
      lease_held_(SingleGauge(*registry_, "infmem_replica_lease_held",
                              "1 while this replica holds a live lease on the cluster store; "
                              "0 otherwise (and always 0 with the local store).")) {
  for (absl::string_view op : {"append", "snapshot", "load", "takeover"}) {
    store_seconds_.Add({{"op", std::string(op)}}, DiskBuckets());
  }
  // Series that appear only on their first call leave alert rules without data on an idle
  // server, and increase() blind to the first failure: start them at zero.
  for (absl::string_view method : kRpcMethods) {
    for (absl::string_view code : kInitialCodes) {
      request_duration_.Add({{"method", std::string(method)}, {"code", std::string(code)}},
                            LatencyBuckets());
    }
  }
}

void ServerMetrics::ObserveRequest(absl::string_view method, absl::string_view code,
                                   double seconds) {
  request_duration_
      .Add({{"method", std::string(method)}, {"code", std::string(code)}}, LatencyBuckets())
      .Observe(seconds);
}

void ServerMetrics::ObserveStore(absl::string_view op, double seconds) {
  store_seconds_.Add({{"op", std::string(op)}}, DiskBuckets()).Observe(seconds);
}

std::string ServerMetrics::Serialize() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

}  // namespace infmem::metrics
