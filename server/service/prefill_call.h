// PrefillCall: feeds tokens into a leased session through the Scheduler (Append, and
// CreateSession with text), journals them, and then reports the outcome. Owns the lease for
// the call's length and deletes itself when done. Thread-safety: the scheduler calls it once
// (OnFinish), and everything after runs on the WorkQueue.
#ifndef INFMEM_SERVER_SERVICE_PREFILL_CALL_H_
#define INFMEM_SERVER_SERVICE_PREFILL_CALL_H_

#include <functional>
#include <vector>

#include "server/service/service_context.h"

namespace infmem::service {

class PrefillCall final : public engine::TokenSink {
 public:
  // Receives the outcome and the session's durable token count on the WorkQueue, after the
  // lease is released (so the client's next call finds the session free).
  using Done =
      std::function<void(const absl::Status&, const std::string& id, int64_t session_tokens)>;

  // Submits `tokens` for the session of `lease`, journaled with `client_seq` (0: none);
  // `done` runs exactly once.
  static void Run(const ServiceContext& context, session::SessionLease lease,
                  std::vector<int32_t> tokens, absl::Time deadline, std::function<bool()> cancelled,
                  Done done, uint64_t client_seq = 0);

  bool OnToken(int32_t) override { return true; }
  void OnFinish(engine::JobResult result) override;

 private:
  PrefillCall(const ServiceContext& context, session::SessionLease lease, Done done,
              uint64_t client_seq)
      : context_(context),
        lease_(std::move(lease)),
        done_(std::move(done)),
        client_seq_(client_seq) {}
  // Journals `result`'s tokens, reports, releases the lease, and deletes this.
  void Complete(const engine::JobResult& result);

  const ServiceContext& context_;
  session::SessionLease lease_;
  Done done_;
  const uint64_t client_seq_;
};

}  // namespace infmem::service

#endif  // INFMEM_SERVER_SERVICE_PREFILL_CALL_H_
