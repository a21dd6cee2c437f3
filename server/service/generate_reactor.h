// GenerateReactor: one Generate call. Tokenizes the request's text and leases the session on
// the WorkQueue, submits a job to the Scheduler, and streams the tokens the scheduler reports
// (TokenSink) with one write in flight, coalescing the tokens that arrive meanwhile into the
// next message. When the job ends it journals the call's tokens (unless dry_run) before the
// final message, which carries finish_reason and usage. Cancellation sets a flag the scheduler
// polls. Deletes itself in OnDone.
//
// Thread-safety: gRPC callbacks, scheduler callbacks and WorkQueue tasks meet under mu_.
#ifndef INFMEM_SERVER_SERVICE_GENERATE_REACTOR_H_
#define INFMEM_SERVER_SERVICE_GENERATE_REACTOR_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/service/service_context.h"
#include "server/service/text_stream.h"

namespace infmem::service {

class GenerateReactor final : public grpc::ServerWriteReactor<v1::GenerateResponse>,
                              public engine::TokenSink {
 public:
  // Starts the call; `request` lives until OnDone.
  GenerateReactor(const ServiceContext& context, Caller caller, grpc::CallbackServerContext* call,
                  const v1::GenerateRequest* request, uint64_t default_seed);

  // grpc::ServerWriteReactor
  void OnWriteDone(bool ok) override;
  void OnCancel() override { cancelled_ = true; }
  // Takes mu_ once first: the thread whose Finish led here may still be releasing it.
  void OnDone() override {
    { absl::MutexLock lock(&mu_); }
    delete this;
  }

  // engine::TokenSink
  bool OnToken(int32_t id) override;
  void OnFinish(engine::JobResult result) override;

 private:
  // Validates, loads and submits (on the WorkQueue). A dry run on a session with a journal
  // tail to replay (after a restart) first feeds that tail into the session itself, so that
  // only the first call pays the replay, not every dry run's throw-away copy.
  void Start(uint64_t default_seed);
  // Submits the generation job on the leased session, or on a copy of it for a dry run.
  absl::Status SubmitGeneration();
  // Continues a dry run once the catch-up job has ended with `status` (on the WorkQueue).
  void AfterCatchUp(const absl::Status& status);
  // Journals the call's tokens and queues the final message (on the WorkQueue).
  void Complete();
  // Ends the call with `status` and no final message.
  // Ends a retried call whose client_seq the session already applied: nothing generated,
  // FINISH_REASON_DUPLICATE; a retry of the session's last call gets that call's tokens again.
  void FinishDuplicate();
  // The text of a generated token as the stream sends it (none for BOS and EOS).
  std::string TextOf(int32_t id) const;
  void Fail(const absl::Status& status);
  // Starts the next write if none is in flight and there is something to send.
  void MaybeWrite() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ServiceContext& context_;
  const Caller caller_;
  const v1::GenerateRequest& request_;
  const absl::Time start_;
  const absl::Time deadline_;
  std::atomic<bool> cancelled_{false};

  // Touched by one thread at a time, in turn: Start, then the scheduler, then Complete.
  session::SessionLease lease_;
  std::unique_ptr<session::Session> scratch_;  // dry_run's throw-away copy
  GenerateOptions options_;
  std::vector<int32_t> prompt_;  // the request's text, tokenized
  bool catching_up_ = false;     // the job in the scheduler is a dry run's catch-up
  engine::JobResult result_;
  absl::Time last_token_time_;
  int64_t streamed_ = 0;  // tokens reported so far (scheduler thread)

  absl::Mutex mu_;
  TextStream text_ ABSL_GUARDED_BY(mu_){{}};
  std::vector<int32_t> unsent_ids_ ABSL_GUARDED_BY(mu_);
  std::optional<v1::GenerateResponse> final_ ABSL_GUARDED_BY(mu_);  // set when complete
  absl::Status final_status_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  v1::GenerateResponse out_ ABSL_GUARDED_BY(mu_);  // the message being written
};

}  // namespace infmem::service

#endif  // INFMEM_SERVER_SERVICE_GENERATE_REACTOR_H_
