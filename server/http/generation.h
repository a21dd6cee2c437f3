// Generation: runs one OpenAI-style request's choices through the Scheduler on sessions held
// in memory only (a stateless call stores nothing), or its one choice on a session the caller
// has leased (a stored response): the prompt is fed once, each of the n
// choices continues a copy of that state with its own seed, and their text arrives as events
// that the HTTP handler's thread takes in turn. Owned by that handler; Next/Wait are called
// from its thread only, the sinks from the Scheduler's. The destructor waits until the
// Scheduler has let go of every session (cancelling them first when the client has gone).
#ifndef INFMEM_SERVER_HTTP_GENERATION_H_
#define INFMEM_SERVER_HTTP_GENERATION_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/engine/scheduler.h"
#include "server/http/openai_request.h"
#include "server/service/service_context.h"
#include "server/service/text_stream.h"
#include "server/session/session.h"

namespace infmem::http {

class Generation {
 public:
  struct Event {
    int choice = 0;
    std::string text;       // new text of the choice (may be empty on its last event)
    bool finished = false;  // the choice has ended: reason, status, generated are set
    engine::FinishReason reason = engine::FinishReason::kLength;
    absl::Status status;
    int64_t generated = 0;
    int64_t prompt_tokens = 0;   // tokens the job fed before generating (pending ones too)
    std::vector<int32_t> added;  // every token the job added to its session (to journal)
  };

  // With `session` (leased by the caller, who journals what the job added), the one choice
  // (request.n must be 1) runs on it; without, on sessions held in memory only.
  Generation(const service::ServiceContext& context, const CompletionRequest& request,
             std::vector<int32_t> prompt, absl::Time deadline, session::Session* session = nullptr);
  ~Generation();
  Generation(const Generation&) = delete;
  Generation& operator=(const Generation&) = delete;

  // Feeds the prompt and starts the choices. Errors: the scheduler's (queue full, shutting
  // down) or the model's.
  absl::Status Start();
  // Waits for the next event; false once every choice has ended and its events were taken.
  bool Next(Event* event);
  // Stops every choice (the client has gone).
  void Cancel() { cancelled_ = true; }

 private:
  class Sink;
  std::unique_ptr<session::Session> NewSession(uint64_t seed) const;

  const service::ServiceContext& context_;
  const CompletionRequest& request_;
  std::vector<int32_t> prompt_;
  absl::Time deadline_;
  session::Session* external_session_;
  absl::Time start_;
  std::atomic<bool> cancelled_{false};
  std::vector<std::unique_ptr<session::Session>> sessions_;
  std::vector<std::unique_ptr<Sink>> sinks_;
  absl::Mutex mu_;
  std::deque<Event> events_ ABSL_GUARDED_BY(mu_);
  int running_ ABSL_GUARDED_BY(mu_) = 0;  // jobs the Scheduler still holds
  bool first_token_ ABSL_GUARDED_BY(mu_) = true;
};

// Feeds `tokens` to `session` (not leased: a session in memory) through the Scheduler and
// waits; the session keeps its last token pending. Errors: the scheduler's or the model's.
absl::Status RunPrefill(const service::ServiceContext& context, session::Session* session,
                        std::vector<int32_t> tokens);

}  // namespace infmem::http

#endif  // INFMEM_SERVER_HTTP_GENERATION_H_
