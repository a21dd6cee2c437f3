#include "server/model/trainer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "server/formats/safetensors.h"
#include "tests/testing/tiny_model.h"
#include "train/sorting_eval.h"
#include "train/sorting_task.h"

namespace infmem::model {

using formats::SafetensorsFile;
using formats::TensorView;
namespace {

const ModelOptions kCpu{"cpu", "float32", 1};

// A fixed batch that crosses several segment boundaries (L = 16), so gradients flow through
// the LTM path too.
std::vector<Sequence> Batch() {
  std::vector<Sequence> batch;
  for (int b = 0; b < 4; ++b) {
    const auto ex = train::MakeSortingExample(train::Split::kTrain, b, 60);
    batch.push_back({ex.tokens, ex.loss_mask});
  }
  return batch;
}

ModelConfig SortingTiny() {
  ModelConfig c = testing::TinyConfig();
  c.vocab_size = train::kSortingVocab;
  return c;
}

TEST(TrainerTest, AFewStepsReduceTheLoss) {
  auto model = Model::CreateRandom(SortingTiny(), 1, kCpu).value();
  TrainOptions o;
  o.learning_rate = 3e-3;
  o.warmup_steps = 2;
  o.total_steps = 40;
  Trainer trainer(*model, o);
  const auto batch = Batch();
  const double before = trainer.Evaluate(batch).value();
  StepResult last;
  for (int i = 0; i < 40; ++i) last = trainer.Step(batch).value();
  const double after = trainer.Evaluate(batch).value();
  EXPECT_EQ(last.step, 40);
  EXPECT_GT(last.grad_norm, 0);
  EXPECT_LT(after, before * 0.8) << "before " << before << " after " << after;
}

TEST(TrainerTest, ResumeContinuesWithTheSameLoss) {
  TrainOptions o;
  o.learning_rate = 1e-3;
  o.warmup_steps = 2;
  o.total_steps = 10;
  const auto batch = Batch();
  const std::string dir = ::testing::TempDir() + "/trainer_resume";

  auto model = Model::CreateRandom(SortingTiny(), 2, kCpu).value();
  Trainer trainer(*model, o);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(trainer.Step(batch).ok());
  ASSERT_TRUE(trainer.SaveCheckpoint(dir).ok());
  const StepResult a4 = trainer.Step(batch).value();
  const StepResult a5 = trainer.Step(batch).value();

  auto loaded = Model::Load(dir, kCpu).value();
  Trainer resumed(*loaded, o);
  ASSERT_TRUE(resumed.Resume(dir).ok());
  EXPECT_EQ(resumed.step(), 3);
  const StepResult b4 = resumed.Step(batch).value();
  const StepResult b5 = resumed.Step(batch).value();
  EXPECT_EQ(b4.step, 4);
  EXPECT_NEAR(b4.loss, a4.loss, 1e-6);
  EXPECT_NEAR(b5.loss, a5.loss, 1e-6);
  EXPECT_DOUBLE_EQ(b5.learning_rate, a5.learning_rate);
}

TEST(TrainerTest, EvaluateLeavesWeightsAlone) {
  auto model = Model::CreateRandom(SortingTiny(), 3, kCpu).value();
  auto probe = [&] {
    auto s = model->NewSession(1);
    return model->Prefill(*s, {1, 2, 3, 4, 5}).value();
  };
  const std::vector<float> logits_before = probe();
  Trainer trainer(*model, TrainOptions{});
  const double a = trainer.Evaluate(Batch()).value();
  const double b = trainer.Evaluate(Batch()).value();
  EXPECT_EQ(a, b);
  EXPECT_GT(a, 0);
  EXPECT_EQ(probe(), logits_before);
}

TEST(TrainerTest, BadBatchesAreRejected) {
  auto model = Model::CreateRandom(SortingTiny(), 4, kCpu).value();
  Trainer trainer(*model, TrainOptions{});
  EXPECT_EQ(trainer.Step({}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(trainer.Step({{{1, 2, 3}, {}}, {{1, 2}, {}}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(trainer.Step({{{1, 99}, {}}}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(trainer.Step({{{1, 2}, {0, 0}}}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(trainer.Resume(::testing::TempDir() + "/no_such_checkpoint").code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(trainer.step(), 0);
}

TEST(TrainerTest, FreezingTheBackboneTrainsOnlyTheMemory) {
  auto window = Model::CreateRandom(testing::TinyConfig(MemoryMode::kWindow), 1, kCpu).value();
  TrainOptions o;
  o.freeze = Freeze::kBackbone;
  Trainer nothing(*window, o);
  EXPECT_EQ(nothing.TrainableParameterCount(), 0);
  const auto status = nothing.Step(Batch()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("nothing to train"), std::string::npos) << status;

  auto model = Model::CreateRandom(SortingTiny(), 1, kCpu).value();
  const std::string before = ::testing::TempDir() + "/freeze_before";
  const std::string after = ::testing::TempDir() + "/freeze_after";
  ASSERT_TRUE(model->Save(before, WeightStorage::kFloat32).ok());
  o.learning_rate = 1e-2;
  o.warmup_steps = 0;
  Trainer trainer(*model, o);
  EXPECT_LT(trainer.TrainableParameterCount(), model->ParameterCount());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(trainer.Step(Batch()).ok());
  ASSERT_TRUE(model->Save(after, WeightStorage::kFloat32).ok());
  const auto a = SafetensorsFile::Read(before + "/model.safetensors").value();
  const auto b = SafetensorsFile::Read(after + "/model.safetensors").value();
  int moved = 0;
  for (const std::string& name : a.Names()) {
    const TensorView x = a.Get(name).value(), y = b.Get(name).value();
    const bool same = std::memcmp(x.data, y.data, x.size_bytes) == 0;
    if (name.find(".ltm.") == std::string::npos) {
      EXPECT_TRUE(same) << name;
    } else {
      moved += !same;
    }
  }
  EXPECT_GT(moved, 0);
}

TEST(SortingEvalTest, RunsOnAModelAndCountsExamples) {
  auto model = Model::CreateRandom(SortingTiny(), 5, kCpu).value();
  const train::SortingEvalSet set{train::Split::kTest, 3, 40};
  auto acc = train::EvaluateSorting(*model, set);
  ASSERT_TRUE(acc.ok()) << acc.status();
  EXPECT_EQ(acc->examples, 3);
  // The free-running figures are the tallies of each example's greedy answer against its
  // truth, counted here on their own.
  int right = 0, exact = 0, positions = 0;
  for (int64_t i = 0; i < set.count; ++i) {
    const train::SortingExample ex = train::MakeSortingExample(set.split, static_cast<uint64_t>(i),
                                                               set.length, set.seed, set.data);
    const std::vector<int32_t> truth(ex.tokens.begin() + set.length + 1, ex.tokens.end());
    const std::vector<int32_t> answer =
        train::GreedySortingAnswer(*model, ex, static_cast<uint64_t>(i)).value();  // its seed
    ASSERT_EQ(answer.size(), truth.size());
    int hits = 0;
    for (size_t k = 0; k < truth.size(); ++k) hits += answer[k] == truth[k];
    right += hits;
    exact += hits == static_cast<int>(truth.size());
    positions += static_cast<int>(truth.size());
  }
  EXPECT_DOUBLE_EQ(acc->per_position, static_cast<double>(right) / positions);
  EXPECT_DOUBLE_EQ(acc->exact_match, static_cast<double>(exact) / set.count);
  EXPECT_GE(acc->per_position, 0.0);
  EXPECT_LE(acc->per_position, 1.0);
  EXPECT_LE(acc->exact_match, acc->per_position);
  EXPECT_GE(acc->teacher_forced, 0.0);
  EXPECT_LE(acc->teacher_forced, 1.0);
  auto small = Model::CreateRandom(testing::TinyConfig(), 5, kCpu).value();  // vocab 64: fine
  EXPECT_TRUE(train::EvaluateSorting(*small, {train::Split::kTest, 1, 10}).ok());
}

}  // namespace
}  // namespace infmem::model
