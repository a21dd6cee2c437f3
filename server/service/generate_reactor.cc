#include "server/service/generate_reactor.h"

#include <utility>

#include "absl/time/clock.h"
#include "server/common/status_macros.h"
#include "server/service/chat_turn.h"

namespace infmem::service {
namespace {

v1::FinishReason ToProto(engine::FinishReason reason) {
  switch (reason) {
    case engine::FinishReason::kLength:
      return v1::FINISH_REASON_LENGTH;
    case engine::FinishReason::kStop:
      return v1::FINISH_REASON_STOP;
    case engine::FinishReason::kEndOfText:
      return v1::FINISH_REASON_END_OF_TEXT;
    case engine::FinishReason::kCancelled:
      return v1::FINISH_REASON_CANCELLED;
    case engine::FinishReason::kAppended:
      break;
  }
  return v1::FINISH_REASON_UNSPECIFIED;
}

// Returns whether a job that ended with `status` left its session consistent, so that its
// tokens are to be journaled (otherwise the model failed and the session is discarded).
bool SessionIsSound(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kFailedPrecondition:
      return true;
    default:
      return false;
  }
}

}  // namespace

GenerateReactor::GenerateReactor(const ServiceContext& context, Caller caller,
                                 grpc::CallbackServerContext* call,
                                 const v1::GenerateRequest* request, uint64_t default_seed)
    : context_(context),
      caller_(std::move(caller)),
      request_(*request),
      start_(absl::Now()),
      deadline_(absl::FromChrono(call->deadline())) {
  context_.work.Schedule([this, default_seed] { Start(default_seed); });
}

void GenerateReactor::Start(uint64_t default_seed) {
  auto prepare = [&]() -> absl::Status {
    RETURN_IF_ERROR(ValidateIdField("session_id", request_.session_id()));
    RETURN_IF_ERROR(ValidateText("text", request_.text(), context_.limits));
    ASSIGN_OR_RETURN(options_, GenerateOptionsFromProto(request_, context_.limits, default_seed));
    if (!request_.text().empty()) {
      ASSIGN_OR_RETURN(prompt_, context_.tokenizer.Encode(request_.text()));
    }
    ASSIGN_OR_RETURN(lease_, context_.sessions.Acquire(caller_.Key(request_.session_id())));
    {
      absl::MutexLock lock(&mu_);
      text_ = TextStream(options_.stop);
    }
    const uint64_t seq = request_.client_seq();
    if (!options_.dry_run && seq != 0 && seq <= lease_.session().client_seq) {
      FinishDuplicate();
      return absl::OkStatus();
    }
    if (request_.has_chat()) {
      if (!request_.text().empty()) {
        return absl::InvalidArgumentError("give text or chat, not both");
      }
      ASSIGN_OR_RETURN(prompt_, ChatTurnTokens(context_, request_.chat(), true, lease_.session()));
    }
    // A session keeps one token pending; more is a journal tail not yet in its state.
    if (options_.dry_run && lease_.session().pending.size() > 1) {
      engine::Job catch_up;  // feeds the tail, appends nothing, leaves the last token pending
      catch_up.session = &lease_.session();
      catch_up.deadline = deadline_;
      catch_up.cancelled = [this] { return cancelled_.load(); };
      catch_up.sink = this;
      catching_up_ = true;
      return context_.scheduler.Submit(std::move(catch_up));
    }
    return SubmitGeneration();
  };
  if (absl::Status status = prepare(); !status.ok()) Fail(status);
}

absl::Status GenerateReactor::SubmitGeneration() {
  session::Session* target = &lease_.session();
  if (options_.dry_run) {
    scratch_ =
        std::make_unique<session::Session>(target->record, context_.model.Clone(*target->state));
    scratch_->pending = target->pending;
    target = scratch_.get();
  }
  engine::Job job;
  job.session = target;
  job.prompt = prompt_;
  job.generate = true;
  job.max_tokens = options_.max_tokens;
  job.sampling = options_.sampling;
  job.deadline = deadline_;
  job.cancelled = [this] { return cancelled_.load(); };
  job.sink = this;
  last_token_time_ = absl::Now();
  return context_.scheduler.Submit(std::move(job));
}

void GenerateReactor::AfterCatchUp(const absl::Status& status) {
  if (!status.ok()) {
    // The scheduler put back what it did not feed; a model failure leaves the state suspect.
    if (!SessionIsSound(status)) context_.sessions.Discard(lease_);
    Fail(status);
    return;
  }
  if (absl::Status submitted = SubmitGeneration(); !submitted.ok()) Fail(submitted);
}

std::string GenerateReactor::TextOf(int32_t id) const {
  if (id == context_.tokenizer.bos_id() || id == context_.tokenizer.eos_id()) return "";
  return context_.tokenizer.TokenText(id).value_or("");
}

bool GenerateReactor::OnToken(int32_t id) {
  const absl::Time now = absl::Now();
  const double wait = absl::ToDoubleSeconds(now - last_token_time_);
  if (streamed_++ == 0) {
    context_.metrics.ObserveTimeToFirstToken(absl::ToDoubleSeconds(now - start_));
  } else {
    context_.metrics.ObserveInterTokenLatency(wait);
  }
  last_token_time_ = now;
  const std::string bytes = TextOf(id);
  absl::MutexLock lock(&mu_);
  const bool stopped = text_.Add(bytes);
  unsent_ids_.push_back(id);
  MaybeWrite();
  return !stopped;
}

void GenerateReactor::OnFinish(engine::JobResult result) {
  if (catching_up_) {
    catching_up_ = false;
    context_.work.Schedule([this, status = result.status] { AfterCatchUp(status); });
    return;
  }
  result_ = std::move(result);
  context_.work.Schedule([this] { Complete(); });
}

void GenerateReactor::Complete() {
  absl::Status status = result_.status;
  if (!options_.dry_run) {
    if (!status.ok() && result_.generated_tokens == 0) {
      // Nothing reached the client (a deadline or cancel during the prompt, say): the call
      // leaves no trace and does not consume its client_seq, so its retry does it whole.
      context_.sessions.Discard(lease_);
    } else if (SessionIsSound(status)) {
      absl::Status journaled =
          context_.sessions.Commit(lease_, result_.added, request_.client_seq());
      if (status.ok()) status = journaled;
    } else {
      context_.sessions.Discard(lease_);
    }
  }
  v1::GenerateResponse last;
  last.set_finish_reason(ToProto(result_.reason));
  last.mutable_usage()->set_prompt_tokens(result_.prompt_tokens);
  last.mutable_usage()->set_generated_tokens(result_.generated_tokens);
  last.mutable_usage()->set_session_tokens(lease_.session().journaled_tokens);
  lease_.Reset();
  scratch_.reset();
  Completed(context_, "Generate", start_, status);  // records the call's metrics
  absl::MutexLock lock(&mu_);
  final_status_ = status;
  final_ = std::move(last);
  MaybeWrite();
}

void GenerateReactor::FinishDuplicate() {
  const session::Session& session = lease_.session();
  v1::GenerateResponse last;
  last.set_finish_reason(v1::FINISH_REASON_DUPLICATE);
  last.mutable_usage()->set_session_tokens(session.journaled_tokens);
  // A retry of the session's last call (its answer was lost: a deadline that passed on the
  // client's side only, a broken connection) gets the tokens that call generated again.
  std::vector<int32_t> ids;
  if (request_.client_seq() == session.last_call_seq) ids = session.last_call_generated;
  last.mutable_usage()->set_generated_tokens(static_cast<int64_t>(ids.size()));
  lease_.Reset();
  Completed(context_, "Generate", start_, absl::OkStatus());
  absl::MutexLock lock(&mu_);
  for (int32_t id : ids) {
    text_.Add(TextOf(id));
    unsent_ids_.push_back(id);
  }
  final_status_ = absl::OkStatus();
  final_ = std::move(last);
  MaybeWrite();
}

void GenerateReactor::Fail(const absl::Status& status) {
  lease_.Reset();
  scratch_.reset();
  const grpc::Status reply = Completed(context_, "Generate", start_, status);
  absl::MutexLock lock(&mu_);
  finished_ = true;
  Finish(reply);
}

void GenerateReactor::MaybeWrite() {
  if (writing_ || finished_) return;
  if (final_.has_value()) {
    finished_ = true;
    if (!final_status_.ok()) {
      Finish(grpc::Status(static_cast<grpc::StatusCode>(final_status_.code()),
                          std::string(final_status_.message())));
      return;
    }
    out_ = *std::move(final_);
    out_.set_text(text_.TakeRest());
    out_.mutable_token_ids()->Add(unsent_ids_.begin(), unsent_ids_.end());
    unsent_ids_.clear();
    StartWriteAndFinish(&out_, grpc::WriteOptions(), grpc::Status::OK);
    return;
  }
  if (unsent_ids_.empty()) return;
  out_.Clear();
  out_.set_text(text_.Take());
  out_.mutable_token_ids()->Add(unsent_ids_.begin(), unsent_ids_.end());
  unsent_ids_.clear();
  writing_ = true;
  StartWrite(&out_);
}

void GenerateReactor::OnWriteDone(bool ok) {
  // A failed write means the client is gone: stop generating for it.
  if (!ok) cancelled_ = true;
  absl::MutexLock lock(&mu_);
  writing_ = false;
  MaybeWrite();
}

}  // namespace infmem::service
