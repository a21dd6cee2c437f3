// ServerMetrics: the Prometheus families of ARCHITECTURE.md §5 (prefix infmem_), built once
// at start-up and injected into the components that record them; a /metrics endpoint exposes
// registry(). Thread-safe: prometheus-cpp metrics are, and the families never change after
// construction.
#ifndef INFMEM_SERVER_METRICS_SERVER_METRICS_H_
#define INFMEM_SERVER_METRICS_SERVER_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"

namespace infmem::metrics {

class ServerMetrics {
 public:
  ServerMetrics();
  ServerMetrics(const ServerMetrics&) = delete;
  ServerMetrics& operator=(const ServerMetrics&) = delete;

  // Returns the registry to expose (prometheus::Exposer::RegisterCollectable).
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }
  // Returns the text exposition format of every family.
  std::string Serialize() const;

  // Records, per generation: the wait before its first token, each wait between tokens, and
  // the time its work spent queued before the scheduler took it.
  void ObserveTimeToFirstToken(double seconds) { ttft_.Observe(seconds); }
  void ObserveInterTokenLatency(double seconds) { itl_.Observe(seconds); }
  void ObserveQueueTime(double seconds) { queue_time_.Observe(seconds); }
  // Records one finished RPC: its method ("Generate"), its status code name ("OK",
  // "INVALID_ARGUMENT") and its duration.
  void ObserveRequest(absl::string_view method, absl::string_view code, double seconds);
  void AddPromptTokens(int64_t n) { prompt_tokens_.Increment(static_cast<double>(n)); }
  // Records journal-tail tokens fed into a session's state (after a restart, a session's
  // state lags its journal; each such token should be fed once).
  void AddReplayedTokens(int64_t n) { replayed_tokens_.Increment(static_cast<double>(n)); }
  // Prompt tokens of stateless HTTP calls served from an earlier call's state, not computed.
  void AddCachedPromptTokens(int64_t n) { cached_prompt_tokens_.Increment(static_cast<double>(n)); }
  void AddGeneratedTokens(int64_t n) { generated_tokens_.Increment(static_cast<double>(n)); }
  // Records the number of sessions one decode step advanced together.
  void ObserveDecodeBatchSize(int sessions) { batch_size_.Observe(sessions); }
  void SetSessionsResident(int64_t n) { sessions_resident_.Set(static_cast<double>(n)); }
  void SetSessionsStored(int64_t n) { sessions_stored_.Set(static_cast<double>(n)); }
  // Sets the bytes of all resident sessions' states.
  void SetSessionStateBytes(int64_t bytes) { state_bytes_.Set(static_cast<double>(bytes)); }
  void ObserveSessionLoad(double seconds) { session_load_.Observe(seconds); }
  void ObserveSessionSave(double seconds) { session_save_.Observe(seconds); }
  void ObserveJournalSync(double seconds) { journal_sync_.Observe(seconds); }
  void AddSessionEvictions(int64_t n) { evictions_.Increment(static_cast<double>(n)); }
  void AddLtmUpdates(int64_t n) { ltm_updates_.Increment(static_cast<double>(n)); }
  // Cluster mode (store/pg_session_store.h): sessions taken from a replica whose lease had
  // expired; sessions handed over to this replica ("in") or by it ("out"); the time of one
  // store operation ("append", "snapshot", "load", "takeover"); whether this replica holds
  // a live lease.
  void AddTakeover() { takeovers_.Increment(); }
  void AddHandoff(bool in) { (in ? handoffs_in_ : handoffs_out_).Increment(); }
  void ObserveStore(absl::string_view op, double seconds);
  void SetLeaseHeld(bool held) { lease_held_.Set(held ? 1 : 0); }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Histogram& ttft_;
  prometheus::Histogram& itl_;
  prometheus::Histogram& queue_time_;
  prometheus::Family<prometheus::Histogram>& request_duration_;
  prometheus::Counter& prompt_tokens_;
  prometheus::Counter& generated_tokens_;
  prometheus::Histogram& batch_size_;
  prometheus::Gauge& sessions_resident_;
  prometheus::Gauge& sessions_stored_;
  prometheus::Gauge& state_bytes_;
  prometheus::Histogram& session_load_;
  prometheus::Histogram& session_save_;
  prometheus::Histogram& journal_sync_;
  prometheus::Counter& evictions_;
  prometheus::Counter& ltm_updates_;
  prometheus::Counter& replayed_tokens_;
  prometheus::Counter& cached_prompt_tokens_;
  prometheus::Counter& takeovers_;
  prometheus::Family<prometheus::Counter>& handoffs_;
  prometheus::Counter& handoffs_in_;
  prometheus::Counter& handoffs_out_;
  prometheus::Family<prometheus::Histogram>& store_seconds_;
  prometheus::Gauge& lease_held_;
};

}  // namespace infmem::metrics

#endif  // INFMEM_SERVER_METRICS_SERVER_METRICS_H_
