#include "server/engine/scheduler.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "tests/testing/tiny_model.h"

namespace infmem::engine {
namespace {

// Records what the scheduler reports for one job; can cancel it after `cancel_after` tokens.
class RecordingSink : public TokenSink {
 public:
  explicit RecordingSink(int cancel_after = -1) : cancel_after_(cancel_after) {}
  bool OnToken(int32_t id) override {
    absl::MutexLock lock(&mu_);
    tokens_.push_back(id);
    if (static_cast<int>(tokens_.size()) == cancel_after_) cancel_ = true;
    return true;
  }
  void OnFinish(JobResult result) override {
    result_ = std::move(result);
    done_.Notify();
  }
  int tokens() {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(tokens_.size());
  }
  void WaitForTokens(int n) {
    absl::MutexLock lock(&mu_);
    want_ = n;
    mu_.Await(absl::Condition(this, &RecordingSink::HasWanted));
  }
  std::atomic<bool> cancel_{false};
  absl::Notification done_;
  JobResult result_;

 private:
  const int cancel_after_;
  absl::Mutex mu_;
  bool HasWanted() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return static_cast<int>(tokens_.size()) >= want_;
  }

  std::vector<int32_t> tokens_ ABSL_GUARDED_BY(mu_);
  int want_ ABSL_GUARDED_BY(mu_) = 0;
};

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = model::Model::CreateRandom(testing::TinyConfig(), 7, {"cpu", "float32", 1}).value();
  }
  std::unique_ptr<session::Session> NewSession(std::vector<int32_t> pending) {
    auto s =
        std::make_unique<session::Session>(store::SessionRecord{"s", 1, 0}, model_->NewSession(1));
    s->pending = std::move(pending);
    return s;
  }
  static SchedulerOptions Options(int max_batch, int max_queued, int prefill_chunk) {
    SchedulerOptions o;
    o.max_batch = max_batch;
    o.max_queued = max_queued;
    o.prefill_chunk = prefill_chunk;
    return o;
  }
  Job GenerateJob(session::Session* s, RecordingSink* sink, int max_tokens) {
    Job job;
    job.session = s;
    job.generate = true;
    job.max_tokens = max_tokens;
    job.sampling.temperature = 0;
    job.sink = sink;
    job.cancelled = [sink] { return sink->cancel_.load(); };
    return job;
  }

  std::unique_ptr<model::Model> model_;
  metrics::ServerMetrics metrics_;
};

TEST_F(SchedulerTest, ALongAppendIsFedInChunksWhileAStreamKeepsFlowing) {
  Scheduler scheduler(*model_, metrics_, Options(8, 8, 16));
  auto streaming = NewSession({1, 2, 3});
  RecordingSink stream_sink;
  ASSERT_TRUE(scheduler.Submit(GenerateJob(streaming.get(), &stream_sink, 1 << 30)).ok());
  stream_sink.WaitForTokens(1);

  auto appending = NewSession({});
  RecordingSink append_sink;
  Job append;
  append.session = appending.get();
  append.prompt.assign(3200, 5);  // 200 chunks of 16
  append.sink = &append_sink;
  const int before = stream_sink.tokens();
  ASSERT_TRUE(scheduler.Submit(std::move(append)).ok());
  append_sink.done_.WaitForNotification();
  const int during = stream_sink.tokens() - before;
  // One decode step runs between consecutive chunks, so the stream gained about one token per
  // chunk while the append was fed.
  EXPECT_GE(during, 150) << "the stream stalled during the append";
  EXPECT_TRUE(append_sink.result_.status.ok());
  EXPECT_EQ(appending->tokens(), 3200);
  EXPECT_EQ(appending->pending.size(), 1u);  // the newest token stays pending

  stream_sink.cancel_ = true;
  stream_sink.done_.WaitForNotification();
  EXPECT_EQ(stream_sink.result_.reason, FinishReason::kCancelled);
}

TEST_F(SchedulerTest, ACancelStopsGenerationBeforeTheNextStep) {
  Scheduler scheduler(*model_, metrics_, {});
  auto s = NewSession({1, 2, 3});
  RecordingSink sink(/*cancel_after=*/5);
  ASSERT_TRUE(scheduler.Submit(GenerateJob(s.get(), &sink, 1000)).ok());
  sink.done_.WaitForNotification();
  EXPECT_EQ(sink.result_.reason, FinishReason::kCancelled);
  EXPECT_EQ(sink.result_.status.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(sink.tokens(), 5);
  EXPECT_EQ(sink.result_.generated_tokens, 5);
  // The session holds the 3 tokens it had and exactly the 5 generated; the last is pending.
  EXPECT_EQ(s->tokens(), 8);
  EXPECT_EQ(s->state->tokens_seen(), 7);
  EXPECT_EQ(sink.result_.added.size(), 5u);
}

TEST_F(SchedulerTest, GenerationStopsAtMaxTokensAndJoinsTheSession) {
  Scheduler scheduler(*model_, metrics_, {});
  auto s = NewSession({1});
  RecordingSink sink;
  Job job = GenerateJob(s.get(), &sink, 12);
  job.prompt = {4, 5, 6};
  ASSERT_TRUE(scheduler.Submit(std::move(job)).ok());
  sink.done_.WaitForNotification();
  EXPECT_TRUE(sink.result_.status.ok());
  EXPECT_EQ(sink.result_.reason, FinishReason::kLength);
  EXPECT_EQ(sink.result_.prompt_tokens, 3);
  EXPECT_EQ(sink.result_.added.size(), 15u);  // the prompt, then the 12 generated
  EXPECT_EQ(s->tokens(), 1 + 3 + 12);
}

TEST_F(SchedulerTest, GeneratingFromNothingIsFailedPreconditionAndLeavesTheSessionAlone) {
  Scheduler scheduler(*model_, metrics_, {});
  auto s = NewSession({});
  RecordingSink sink;
  ASSERT_TRUE(scheduler.Submit(GenerateJob(s.get(), &sink, 4)).ok());
  sink.done_.WaitForNotification();
  EXPECT_EQ(sink.result_.status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s->tokens(), 0);
}

TEST_F(SchedulerTest, AFullQueueIsResourceExhaustedAndStopCancelsTheRest) {
  Scheduler scheduler(*model_, metrics_, Options(1, 1, 256));
  auto a = NewSession({1});
  auto b = NewSession({1});
  auto c = NewSession({1});
  RecordingSink sa, sb, sc;
  ASSERT_TRUE(scheduler.Submit(GenerateJob(a.get(), &sa, 1 << 30)).ok());
  sa.WaitForTokens(1);  // admitted: the only batch slot is taken
  ASSERT_TRUE(scheduler.Submit(GenerateJob(b.get(), &sb, 4)).ok());  // waits in the queue
  const absl::Status full = scheduler.Submit(GenerateJob(c.get(), &sc, 4));
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  scheduler.Stop();
  EXPECT_TRUE(sa.done_.HasBeenNotified());
  EXPECT_TRUE(sb.done_.HasBeenNotified());
  EXPECT_EQ(sa.result_.status.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(sb.result_.status.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(b->tokens(), 1);  // never admitted: untouched
  EXPECT_EQ(scheduler.Submit(GenerateJob(c.get(), &sc, 4)).code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace infmem::engine
