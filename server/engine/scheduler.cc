#include "server/engine/scheduler.h"

#include <glog/logging.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace infmem::engine {

struct Scheduler::Running {
  Job job;
  std::vector<int32_t> input;  // the session's pending tokens, then the prompt
  size_t fed = 0;              // input tokens the state has consumed
  size_t feed_end = 0;         // all of input when generating; all but the last otherwise
  std::unique_ptr<model::Sampler> sampler;
  std::vector<int32_t> history;  // this call's tokens, for the repetition penalty
  JobResult result;
  bool decoding = false;
  int32_t next = -1;  // the newest generated token, not yet fed
  bool done = false;
};

Scheduler::Scheduler(const model::Model& model, metrics::ServerMetrics& metrics,
                     SchedulerOptions options)
    : model_(model), metrics_(metrics), options_(options) {
  loop_ = std::thread([this] { Loop(); });
}

Scheduler::~Scheduler() { Stop(); }

void Scheduler::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (loop_.joinable()) loop_.join();
}

absl::Status Scheduler::Submit(Job job) {
  // The last line of defence for every surface (gRPC, HTTP, chat rendering): a session must
  // never take a token its model cannot embed, or every later call on it would fail.
  const int vocab = model_.config().vocab_size;
  for (size_t i = 0; i < job.prompt.size(); ++i) {
    if (job.prompt[i] < 0 || job.prompt[i] >= vocab) {
      return absl::InvalidArgumentError(absl::StrCat("token ", i, " is id ", job.prompt[i],
                                                     ", outside the model's vocabulary [0, ", vocab,
                                                     ")"));
    }
  }
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("the server is shutting down");
  if (static_cast<int>(queue_.size()) >= options_.max_queued) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the scheduler's queue is full (", options_.max_queued, " calls waiting); retry later"));
  }
  queue_.emplace_back(std::move(job), absl::Now());
  return absl::OkStatus();
}

void Scheduler::Finish(Running& r, absl::Status status) {
  session::Session& s = *r.job.session;
  if (r.decoding) {
    s.pending = {r.next};
  } else {
    s.pending.assign(r.input.begin() + static_cast<std::ptrdiff_t>(r.fed), r.input.end());
  }
  if (!r.result.added.empty()) {
    s.unjournaled_calls.push_back({static_cast<int64_t>(r.result.added.size()),
                                   {static_cast<int32_t>(r.result.generated_tokens),
                                    static_cast<int32_t>(options_.prefill_chunk)}});
  }
  r.result.status = std::move(status);
  if (r.result.status.code() == absl::StatusCode::kCancelled) {
    r.result.reason = FinishReason::kCancelled;
  }
  metrics_.AddGeneratedTokens(r.result.generated_tokens);
  r.done = true;
  r.job.sink->OnFinish(std::move(r.result));
}

bool Scheduler::EmitNext(Running& r, absl::Span<const float> logits) {
  const int32_t id = r.sampler->Sample(logits, r.history);
  r.result.added.push_back(id);
  r.history.push_back(id);
  ++r.result.generated_tokens;
  r.next = id;
  r.decoding = true;
  if (!r.job.sink->OnToken(id)) {
    r.result.reason = FinishReason::kStop;
    return false;
  }
  if (std::find(options_.stop_ids.begin(), options_.stop_ids.end(), id) !=
      options_.stop_ids.end()) {
    r.result.reason = FinishReason::kEndOfText;
    return false;
  }
  if (r.result.generated_tokens >= r.job.max_tokens) {
    r.result.reason = FinishReason::kLength;
    return false;
  }
  return true;
}

// Returns why `r` must stop now, or OK.
static absl::Status Interrupted(const Job& job) {
  if (job.cancelled && job.cancelled()) return absl::CancelledError("cancelled by the client");
  if (absl::Now() > job.deadline) return absl::DeadlineExceededError("deadline exceeded");
  return absl::OkStatus();
}

void Scheduler::PrefillStep(std::vector<std::unique_ptr<Running>>& running) {
  for (auto& rp : running) {
    Running& r = *rp;
    if (r.done || r.decoding || r.fed >= r.feed_end) continue;
    if (absl::Status stop = Interrupted(r.job); !stop.ok()) {
      Finish(r, stop);
      return;
    }
    const size_t n = std::min<size_t>(options_.prefill_chunk, r.feed_end - r.fed);
    absl::StatusOr<std::vector<float>> logits =
        model_.Prefill(*r.job.session->state, absl::MakeConstSpan(r.input).subspan(r.fed, n));
    if (!logits.ok()) {
      Finish(r, logits.status());
      return;
    }
    r.fed += n;
    if (r.fed < r.feed_end) return;
    if (!r.job.generate) {
      Finish(r, absl::OkStatus());
    } else if (!EmitNext(r, *logits)) {
      Finish(r, absl::OkStatus());
    }
    return;  // one chunk per iteration, so decode steps keep flowing
  }
}

void Scheduler::DecodeStep(std::vector<std::unique_ptr<Running>>& running) {
  std::vector<Running*> batch;
  std::vector<model::SessionState*> states;
  std::vector<int32_t> tokens;
  for (auto& rp : running) {
    Running& r = *rp;
    if (r.done || !r.decoding) continue;
    if (absl::Status stop = Interrupted(r.job); !stop.ok()) {
      Finish(r, stop);
      continue;
    }
    if (ending_generations_) {
      r.result.reason = FinishReason::kCancelled;
      Finish(r, absl::OkStatus());
      continue;
    }
    batch.push_back(&r);
    states.push_back(r.job.session->state.get());
    tokens.push_back(r.next);
  }
  if (batch.empty()) return;
  metrics_.ObserveDecodeBatchSize(static_cast<int>(batch.size()));
  std::vector<int64_t> updates_before;
  for (model::SessionState* s : states) updates_before.push_back(s->ltm_updates());
  absl::StatusOr<std::vector<float>> logits = model_.DecodeStep(states, tokens);
  if (!logits.ok()) {
    LOG(ERROR) << "decode step of " << batch.size() << " sessions failed: " << logits.status();
    for (Running* r : batch) Finish(*r, logits.status());
    return;
  }
  int64_t updates = 0;
  for (size_t i = 0; i < states.size(); ++i)
    updates += states[i]->ltm_updates() - updates_before[i];
  metrics_.AddLtmUpdates(updates);
  const size_t vocab = logits->size() / batch.size();
  for (size_t i = 0; i < batch.size(); ++i) {
    Running& r = *batch[i];
    // The token fed above is in the state now; the one sampled next becomes pending.
    if (!EmitNext(r, absl::MakeConstSpan(*logits).subspan(i * vocab, vocab))) {
      Finish(r, absl::OkStatus());
    }
  }
}

void Scheduler::Loop() {
  std::vector<std::unique_ptr<Running>> running;
  for (;;) {
    std::vector<std::pair<Job, absl::Time>> admitted;
    bool stopping = false;
    {
      absl::MutexLock lock(&mu_);
      if (running.empty()) {
        mu_.Await(absl::Condition(
            +[](Scheduler* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
              return s->stopping_ || !s->queue_.empty();
            },
            this));
      }
      stopping = stopping_;
      while (!queue_.empty() && (stopping || static_cast<int>(running.size() + admitted.size()) <
                                                 options_.max_batch)) {
        admitted.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    const absl::Time now = absl::Now();
    for (auto& [job, enqueued] : admitted) {
      if (stopping) {
        // Never admitted: the session is untouched.
        JobResult result;
        result.status = absl::CancelledError("the server is shutting down");
        result.reason = FinishReason::kCancelled;
        job.sink->OnFinish(std::move(result));
        continue;
      }
      metrics_.ObserveQueueTime(absl::ToDoubleSeconds(now - enqueued));
      auto r = std::make_unique<Running>();
      r->job = std::move(job);
      session::Session& s = *r->job.session;
      // More than the one token a session keeps pending is a journal tail being replayed.
      if (s.pending.size() > 1)
        metrics_.AddReplayedTokens(static_cast<int64_t>(s.pending.size()) - 1);
      r->input = std::move(s.pending);
      s.pending.clear();
      r->input.insert(r->input.end(), r->job.prompt.begin(), r->job.prompt.end());
      r->result.added = r->job.prompt;
      r->result.prompt_tokens = static_cast<int64_t>(r->job.prompt.size());
      r->history = r->job.prompt;
      r->sampler = std::make_unique<model::Sampler>(r->job.sampling);
      metrics_.AddPromptTokens(r->result.prompt_tokens);
      if (r->job.generate) {
        r->feed_end = r->input.size();
        if (r->input.empty()) {
          Finish(*r, absl::FailedPreconditionError(absl::StrCat(
                         "session '", s.record.id,
                         "' is empty: there is nothing to continue; give text to start from")));
          continue;
        }
      } else {
        r->feed_end = r->input.empty() ? 0 : r->input.size() - 1;
        if (r->feed_end == 0) {
          Finish(*r, absl::OkStatus());
          continue;
        }
      }
      running.push_back(std::move(r));
    }
    if (stopping) {
      for (auto& r : running) {
        if (!r->done) Finish(*r, absl::CancelledError("the server is shutting down"));
      }
      return;
    }
    PrefillStep(running);
    DecodeStep(running);
    running.erase(std::remove_if(running.begin(), running.end(),
                                 [](const std::unique_ptr<Running>& r) { return r->done; }),
                  running.end());
  }
}

}  // namespace infmem::engine
