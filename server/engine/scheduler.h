// Scheduler: the one loop that runs the model (ARCHITECTURE.md §2). Calls submit Jobs; the
// loop admits them between steps (continuous batching), feeds each job's prompt in chunks
// interleaved with decode steps so a long append cannot stall other streams, advances all
// generating jobs together in one batched DecodeStep, samples, and reports tokens to each
// job's TokenSink. Cancellation and deadlines are checked between steps.
//
// A job's session keeps its newest token pending (session.h): the job feeds the pending
// tokens and its prompt, and leaves the last token it appended or generated pending, so a
// job that stops early (cancel, deadline, stop sequence) never owes the model a step.
//
// Owned by the Server. Thread-safe: Submit may be called from any thread; sinks are called
// on the loop's thread and must not block.
#ifndef INFMEM_SERVER_ENGINE_SCHEDULER_H_
#define INFMEM_SERVER_ENGINE_SCHEDULER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/metrics/server_metrics.h"
#include "server/model/model.h"
#include "server/model/sampler.h"
#include "server/session/session.h"

namespace infmem::engine {

enum class FinishReason { kAppended, kLength, kStop, kEndOfText, kCancelled };

struct JobResult {
  // OK, or why the job ended early: DeadlineExceeded, Cancelled (server stopping),
  // FailedPrecondition (nothing to continue from), an error of the model.
  absl::Status status;
  FinishReason reason = FinishReason::kAppended;
  // Every token the job added to the session, prompt first; they are all in the session
  // (state or pending) whatever the status, and are the ones to journal.
  std::vector<int32_t> added;
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
};

// Receives a job's output. Called on the scheduler's thread; must not block.
class TokenSink {
 public:
  virtual ~TokenSink() = default;
  // Receives the next generated token. Returns false to stop generating (a stop sequence).
  virtual bool OnToken(int32_t id) = 0;
  // Receives the end of the job; the scheduler no longer touches the session or the sink.
  virtual void OnFinish(JobResult result) = 0;
};

struct Job {
  session::Session* session = nullptr;  // leased by the submitter until OnFinish
  std::vector<int32_t> prompt;          // appended first
  bool generate = false;
  int32_t max_tokens = 0;
  model::SamplingParams sampling;
  absl::Time deadline = absl::InfiniteFuture();
  std::function<bool()> cancelled;  // polled between steps; may be empty
  TokenSink* sink = nullptr;
};

struct SchedulerOptions {
  int max_batch = 64;             // sessions advanced together in one decode step
  int max_queued = 256;           // jobs waiting for admission; more => ResourceExhausted
  int prefill_chunk = 256;        // prompt tokens fed per loop iteration
  std::vector<int32_t> stop_ids;  // generation ends after any of these (end of text or turn)
};

class Scheduler {
 public:
  Scheduler(const model::Model& model, metrics::ServerMetrics& metrics, SchedulerOptions options);
  // Stops the loop: every job still queued or running finishes with Cancelled.
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues `job`. ResourceExhausted when the queue is full, Unavailable once stopping; the
  // sink is not called then.
  absl::Status Submit(Job job);
  // Stops admitting jobs, cancels the running ones, and joins the loop.
  void Stop();
  // Ends every generation at its next step, normally: the job finishes OK with reason
  // kCancelled, so its call still sends its final message (a drain about to run out of
  // time). Jobs admitted later end the same way once they generate. Thread-safe.
  void EndGenerations() { ending_generations_ = true; }

 private:
  struct Running;
  void Loop();
  // Feeds one prompt chunk of the oldest job still in prefill.
  void PrefillStep(std::vector<std::unique_ptr<Running>>& running);
  // Advances every generating job by one token.
  void DecodeStep(std::vector<std::unique_ptr<Running>>& running);
  // Samples `job`'s next token from `logits` and reports it; false when the job is done.
  bool EmitNext(Running& job, absl::Span<const float> logits);
  void Finish(Running& job, absl::Status status);

  std::atomic<bool> ending_generations_{false};
  const model::Model& model_;
  metrics::ServerMetrics& metrics_;
  const SchedulerOptions options_;

  absl::Mutex mu_;
  std::deque<std::pair<Job, absl::Time>> queue_ ABSL_GUARDED_BY(mu_);  // job, enqueue time
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread loop_;
};

}  // namespace infmem::engine

#endif  // INFMEM_SERVER_ENGINE_SCHEDULER_H_
