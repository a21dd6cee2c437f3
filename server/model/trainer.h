// Trainer: segment-wise training of a Model with the same forward pass that serves it
// (MODEL.md §5: truncated back-propagation over segments, detached memories, KL term),
// AdamW, linear warm-up then cosine decay, gradient clipping, checkpoints. Torch-free
// interface. Owns the optimizer; mutates the Model's weights. Not thread-safe: one trainer
// per model, and no serving from that model while it trains.
#ifndef INFMEM_SERVER_MODEL_TRAINER_H_
#define INFMEM_SERVER_MODEL_TRAINER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/model/model.h"

namespace infmem::model {

// Which weights a run trains.
enum class Freeze {
  kNone,      // every weight
  kBackbone,  // only the long-term memory's (layers.{i}.ltm.*): fine-tuning a memory added
              // to a pretrained model; the backbone stays bit-identical
};

struct TrainOptions {
  double learning_rate = 2e-4;  // peak
  double min_learning_rate = 2e-5;
  double weight_decay = 0.01;
  int64_t warmup_steps = 100;
  int64_t total_steps = 1000;  // the cosine reaches min_learning_rate here
  double clip_norm = 1.0;      // 0 = no clipping
  uint64_t seed = 1;           // sticky-memory seeds of the training sessions
  Freeze freeze = Freeze::kNone;
};

// One training sequence: tokens and, per token, whether predicting it counts in the loss
// (mask[i] refers to predicting tokens[i] from tokens[0..i-1]; mask[0] is ignored).
struct Sequence {
  std::vector<int32_t> tokens;
  std::vector<uint8_t> loss_mask;  // empty = every token counts
};

struct StepResult {
  int64_t step = 0;          // optimizer steps taken so far, this one included
  double loss = 0;           // mean cross-entropy over the counted tokens
  double kl = 0;             // mean KL term (before kl_weight)
  double learning_rate = 0;  // used for this step
  double grad_norm = 0;      // before clipping
  int64_t tokens = 0;        // tokens processed
};

class Trainer {
 public:
  // `model` must outlive the trainer. With Freeze::kBackbone and a model without a long-term
  // memory there is nothing to train: Step then fails with FailedPrecondition.
  Trainer(Model& model, const TrainOptions& options);
  ~Trainer();

  // Runs one optimizer step on a batch of equally long sequences, segment by segment.
  absl::StatusOr<StepResult> Step(const std::vector<Sequence>& batch);

  // Returns the mean cross-entropy over the counted tokens of `batch` without training.
  absl::StatusOr<double> Evaluate(const std::vector<Sequence>& batch);

  // Returns the cross-entropy (nats) of predicting each token of `sequence` after the first,
  // without training: element i scores tokens[i + 1].
  absl::StatusOr<std::vector<double>> TokenLosses(const Sequence& sequence);

  // Writes `dir`/config.json, model.safetensors (float32) and optimizer.pt (the optimizer
  // state and the step count), so that Resume continues exactly where this left off.
  absl::Status SaveCheckpoint(const std::string& dir) const;
  // Loads the optimizer state and step written by SaveCheckpoint (the weights are loaded
  // with Model::Load beforehand).
  absl::Status Resume(const std::string& dir);

  int64_t step() const;
  // Returns the number of weights this trainer updates.
  int64_t TrainableParameterCount() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace infmem::model

#endif  // INFMEM_SERVER_MODEL_TRAINER_H_
