#include "server/service/prefill_call.h"

#include <memory>
#include <utility>

namespace infmem::service {

void PrefillCall::Run(const ServiceContext& context, session::SessionLease lease,
                      std::vector<int32_t> tokens, absl::Time deadline,
                      std::function<bool()> cancelled, Done done, uint64_t client_seq) {
  auto call =
      std::unique_ptr<PrefillCall>(new PrefillCall(context, std::move(lease), done, client_seq));
  engine::Job job;
  job.session = &call->lease_.session();
  job.prompt = std::move(tokens);
  job.deadline = deadline;
  job.cancelled = std::move(cancelled);
  job.sink = call.get();
  absl::Status submitted = context.scheduler.Submit(std::move(job));
  if (!submitted.ok()) {
    const std::string id = call->lease_.session().record.id;
    const int64_t tokens = call->lease_.session().journaled_tokens;
    call.reset();  // releases the lease
    done(submitted, id, tokens);
    return;
  }
  call.release();  // OnFinish takes it from here
}

void PrefillCall::OnFinish(engine::JobResult result) {
  context_.work.Schedule([this, result = std::move(result)] { Complete(result); });
}

void PrefillCall::Complete(const engine::JobResult& result) {
  absl::Status status = result.status;
  // An Append is all or nothing: one that stopped early (cancel, deadline, a model failure)
  // is dropped from memory (the store still holds the session as it was), so it leaves no
  // trace and does not consume its client_seq: its retry appends the whole text once.
  if (status.ok()) {
    status = context_.sessions.Commit(lease_, result.added, client_seq_);
  } else {
    context_.sessions.Discard(lease_);
  }
  const std::string id = lease_.session().record.id;
  const int64_t tokens = lease_.session().journaled_tokens;
  lease_.Reset();
  Done done = std::move(done_);
  delete this;
  done(status, id, tokens);
}

}  // namespace infmem::service
