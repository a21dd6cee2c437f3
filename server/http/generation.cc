#include "server/http/generation.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "server/common/status_macros.h"

namespace infmem::http {

// Receives one job's tokens and end; turns tokens into text events (stop sequences cut).
class Generation::Sink : public engine::TokenSink {
 public:
  Sink(Generation* owner, int choice, bool prefill_only)
      : owner_(owner), choice_(choice), prefill_only_(prefill_only), text_(owner->request_.stop) {}

  bool OnToken(int32_t id) override {
    std::string bytes = owner_->context_.tokenizer.TokenText(id).value_or("");
    const bool stopped = text_.Add(bytes);
    Event event;
    event.choice = choice_;
    event.text = text_.Take();
    absl::MutexLock lock(&owner_->mu_);
    if (owner_->first_token_) {
      owner_->first_token_ = false;
      owner_->context_.metrics.ObserveTimeToFirstToken(
          absl::ToDoubleSeconds(absl::Now() - owner_->start_));
    }
    if (!event.text.empty()) owner_->events_.push_back(std::move(event));
    return !stopped;
  }

  void OnFinish(engine::JobResult result) override {
    absl::MutexLock lock(&owner_->mu_);
    --owner_->running_;
    if (prefill_only_) {
      prefill_status_ = result.status;
      prefill_done_ = true;
      return;
    }
    Event event;
    event.choice = choice_;
    event.text = text_.TakeRest();
    event.finished = true;
    event.reason = result.reason;
    event.status = result.status;
    event.generated = result.generated_tokens;
    event.prompt_tokens = result.prompt_tokens;
    event.added = std::move(result.added);
    owner_->events_.push_back(std::move(event));
  }

  bool prefill_done_ = false;  // guarded by the owner's mu_
  absl::Status prefill_status_;

 private:
  Generation* owner_;
  int choice_;
  bool prefill_only_;
  service::TextStream text_;
};

Generation::Generation(const service::ServiceContext& context, const CompletionRequest& request,
                       std::vector<int32_t> prompt, absl::Time deadline, session::Session* session)
    : context_(context),
      request_(request),
      prompt_(std::move(prompt)),
      deadline_(deadline),
      external_session_(session),
      start_(absl::Now()) {}

Generation::~Generation() {
  cancelled_ = true;
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](int* running) { return *running == 0; }, &running_));
}

std::unique_ptr<session::Session> Generation::NewSession(uint64_t seed) const {
  auto session = std::make_unique<session::Session>(
      store::SessionRecord{"http", seed, absl::ToUnixMillis(absl::Now())},
      context_.model.NewSession(seed));
  if (context_.tokenizer.bos_id() >= 0) session->pending.push_back(context_.tokenizer.bos_id());
  return session;
}

absl::Status Generation::Start() {
  const auto make_job = [&](session::Session* session, Sink* sink, bool generate, uint64_t seed) {
    engine::Job job;
    job.session = session;
    job.generate = generate;
    job.max_tokens = request_.max_tokens;
    job.sampling = request_.sampling;
    job.sampling.seed = seed;
    job.deadline = deadline_;
    job.cancelled = [this] { return cancelled_.load(); };
    job.sink = sink;
    return job;
  };
  const auto submit = [&](engine::Job job) -> absl::Status {
    {
      absl::MutexLock lock(&mu_);
      ++running_;
    }
    absl::Status status = context_.scheduler.Submit(std::move(job));
    if (!status.ok()) {
      absl::MutexLock lock(&mu_);
      --running_;
    }
    return status;
  };
  context_.metrics.AddPromptTokens(static_cast<int64_t>(prompt_.size()));
  if (external_session_ != nullptr) {
    if (request_.n != 1) return absl::InternalError("a leased session runs one choice");
    sinks_.push_back(std::make_unique<Sink>(this, 0, false));
    engine::Job job = make_job(external_session_, sinks_[0].get(), true, request_.sampling.seed);
    job.prompt = prompt_;
    return submit(std::move(job));
  }
  // Torch work runs on the work queue, off the HTTP worker's small stack.
  sessions_.push_back(context_.work.RunAndWait([&] { return NewSession(request_.sampling.seed); }));
  if (request_.n == 1) {
    sinks_.push_back(std::make_unique<Sink>(this, 0, false));
    engine::Job job = make_job(sessions_[0].get(), sinks_[0].get(), true, request_.sampling.seed);
    job.prompt = prompt_;
    return submit(std::move(job));
  }
  // n choices: feed the prompt once, then continue n copies of that state.
  sinks_.push_back(std::make_unique<Sink>(this, -1, true));
  engine::Job prefill =
      make_job(sessions_[0].get(), sinks_[0].get(), false, request_.sampling.seed);
  prefill.prompt = prompt_;
  RETURN_IF_ERROR(submit(std::move(prefill)));
  Sink* prefill_sink = sinks_[0].get();
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](Sink* sink) { return sink->prefill_done_; }, prefill_sink));
    RETURN_IF_ERROR(prefill_sink->prefill_status_);
  }
  const session::Session& base = *sessions_[0];
  for (int i = 0; i < request_.n; ++i) {
    const uint64_t seed = request_.sampling.seed + static_cast<uint64_t>(i);
    auto copy = context_.work.RunAndWait([&] {
      return std::make_unique<session::Session>(base.record, context_.model.Clone(*base.state));
    });
    copy->pending = base.pending;
    sessions_.push_back(std::move(copy));
    sinks_.push_back(std::make_unique<Sink>(this, i, false));
    RETURN_IF_ERROR(submit(make_job(sessions_.back().get(), sinks_.back().get(), true, seed)));
  }
  return absl::OkStatus();
}

bool Generation::Next(Event* event) {
  absl::MutexLock lock(&mu_);
  const auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !events_.empty() || running_ == 0;
  };
  mu_.Await(absl::Condition(&ready));
  if (events_.empty()) return false;
  *event = std::move(events_.front());
  events_.pop_front();
  return true;
}

namespace {

class PrefillSink : public engine::TokenSink {
 public:
  bool OnToken(int32_t) override { return true; }
  void OnFinish(engine::JobResult result) override {
    status_ = result.status;
    done_.Notify();
  }
  absl::Status Wait() {
    done_.WaitForNotification();
    return status_;
  }

 private:
  absl::Notification done_;
  absl::Status status_;
};

}  // namespace

absl::Status RunPrefill(const service::ServiceContext& context, session::Session* session,
                        std::vector<int32_t> tokens) {
  if (tokens.empty()) return absl::OkStatus();
  PrefillSink sink;
  engine::Job job;
  job.session = session;
  job.prompt = std::move(tokens);
  job.sink = &sink;
  RETURN_IF_ERROR(context.scheduler.Submit(std::move(job)));
  return sink.Wait();
}

}  // namespace infmem::http
