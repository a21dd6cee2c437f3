// Segment-wise training through Model::Impl::Forward (the serving forward, with autograd on).
#include "server/model/trainer.h"

#include <cmath>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "server/common/status_macros.h"
#include "server/model/model_impl.h"

namespace infmem::model {

struct Trainer::Impl {
  Impl(Model& m, const TrainOptions& o) : model(m), options(o) {
    // No weight decay on norms and other vectors: decaying a gain towards zero is harmful.
    // Frozen weights are left out of the optimizer and need no gradient.
    std::vector<torch::Tensor> matrices, vectors;
    for (auto& item : model.impl().net->named_parameters()) {
      torch::Tensor& p = item.value();
      const bool frozen =
          o.freeze == Freeze::kBackbone && item.key().find(".ltm.") == std::string::npos;
      p.set_requires_grad(!frozen);
      if (frozen) continue;
      trainable.push_back(p);
      (p.dim() >= 2 ? matrices : vectors).push_back(p);
    }
    if (trainable.empty()) return;  // Step reports it
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(matrices, std::make_unique<torch::optim::AdamWOptions>(
                                      torch::optim::AdamWOptions(o.learning_rate)
                                          .weight_decay(o.weight_decay)
                                          .betas({0.9, 0.95})));
    groups.emplace_back(
        vectors,
        std::make_unique<torch::optim::AdamWOptions>(
            torch::optim::AdamWOptions(o.learning_rate).weight_decay(0.0).betas({0.9, 0.95})));
    optimizer = std::make_unique<torch::optim::AdamW>(std::move(groups));
  }

  // Linear warm-up to the peak, then cosine decay to the minimum at total_steps.
  double LearningRate(int64_t s) const {
    if (s < options.warmup_steps) return options.learning_rate * (s + 1) / options.warmup_steps;
    const double span = std::max<int64_t>(1, options.total_steps - options.warmup_steps);
    const double progress = std::min(1.0, (s - options.warmup_steps) / span);
    return options.min_learning_rate + 0.5 * (options.learning_rate - options.min_learning_rate) *
                                           (1.0 + std::cos(M_PI * progress));
  }

  absl::Status Validate(const std::vector<Sequence>& batch) const {
    if (batch.empty()) return absl::InvalidArgumentError("empty batch");
    const size_t n = batch[0].tokens.size();
    if (n < 2) return absl::InvalidArgumentError("sequences need at least 2 tokens");
    const int vocab = model.config().vocab_size;
    for (size_t b = 0; b < batch.size(); ++b) {
      const Sequence& s = batch[b];
      if (s.tokens.size() != n) {
        return absl::InvalidArgumentError(
            absl::StrCat("sequence ", b, " has ", s.tokens.size(), " tokens, sequence 0 has ", n));
      }
      if (!s.loss_mask.empty() && s.loss_mask.size() != n) {
        return absl::InvalidArgumentError(
            absl::StrCat("sequence ", b, ": loss mask length ", s.loss_mask.size(), " != ", n));
      }
      for (int32_t t : s.tokens) {
        if (t < 0 || t >= vocab) {
          return absl::InvalidArgumentError(
              absl::StrCat("sequence ", b, ": token id ", t, " outside [0, ", vocab, ")"));
        }
      }
    }
    return absl::OkStatus();
  }

  // Runs the batch segment by segment; back-propagates each segment when `train`. When
  // `token_losses` is given, fills it with every predicted token's cross-entropy, [rows, n-1]
  // row-major.
  absl::StatusOr<StepResult> Run(const std::vector<Sequence>& batch, bool train,
                                 std::vector<double>* token_losses = nullptr) {
    RETURN_IF_ERROR(Validate(batch));
    Model::Impl& m = model.impl();
    const int64_t rows = static_cast<int64_t>(batch.size());
    const int64_t n = static_cast<int64_t>(batch[0].tokens.size());
    std::vector<int64_t> ids;
    std::vector<float> weights;
    for (const Sequence& s : batch) {
      ids.insert(ids.end(), s.tokens.begin(), s.tokens.end());
      for (int64_t i = 0; i < n; ++i)
        weights.push_back(s.loss_mask.empty() ? 1.f : s.loss_mask[i] ? 1.f : 0.f);
    }
    try {
      torch::Tensor tokens = torch::tensor(ids, torch::kInt64).view({rows, n}).to(m.device);
      torch::Tensor w = torch::tensor(weights).view({rows, n}).to(m.options);
      torch::Tensor inputs = tokens.narrow(1, 0, n - 1);
      torch::Tensor targets = tokens.narrow(1, 1, n - 1);
      w = w.narrow(1, 1, n - 1);
      const double counted = w.sum().item<double>();
      if (counted <= 0)
        return absl::InvalidArgumentError("no token of the batch counts in the loss");

      std::vector<std::unique_ptr<SessionState::Impl>> states;
      std::vector<SessionState::Impl*> row_ptrs;
      for (int64_t b = 0; b < rows; ++b) {
        states.push_back(m.NewState(options.seed + static_cast<uint64_t>(b)));
        row_ptrs.push_back(states.back().get());
      }
      torch::AutoGradMode grad_mode(train);
      const int64_t seg = m.config.segment_length;
      const int64_t segments = (n - 1 + seg - 1) / seg;
      double ce_total = 0, kl_total = 0;
      std::vector<torch::Tensor> pieces;  // per-token losses, when asked for
      for (int64_t start = 0; start < n - 1; start += seg) {
        const int64_t len = std::min(seg, n - 1 - start);
        // A segment in which no token counts only builds memory for later segments (whose
        // memories are detached anyway): run it without autograd, which saves its backward pass
        // and its activations. Its KL term is then reported but not trained.
        const bool backprop = train && w.narrow(1, start, len).sum().item<double>() > 0;
        torch::AutoGradMode segment_grad(backprop);
        ForwardOutput out = m.Forward(row_ptrs, inputs.narrow(1, start, len), /*all_logits=*/true);
        torch::Tensor ce = torch::nn::functional::cross_entropy(
            out.logits.reshape({-1, m.config.vocab_size}),
            targets.narrow(1, start, len).reshape({-1}),
            torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
        torch::Tensor ce_sum = (ce * w.narrow(1, start, len).reshape({-1})).sum() / counted;
        torch::Tensor loss =
            ce_sum + m.config.ltm.kl_weight * out.kl / static_cast<double>(segments);
        if (backprop && loss.requires_grad()) loss.backward();
        ce_total += ce_sum.item<double>();
        if (token_losses != nullptr) {
          pieces.push_back(ce.detach().view({rows, len}).to(torch::kCPU, torch::kFloat64));
        }
        kl_total += out.kl.item<double>() / static_cast<double>(segments);
      }
      if (token_losses != nullptr) {
        torch::Tensor all = torch::cat(pieces, 1).contiguous();
        token_losses->assign(all.data_ptr<double>(), all.data_ptr<double>() + all.numel());
      }
      StepResult result;
      result.loss = ce_total;
      result.kl = kl_total;
      result.tokens = rows * n;
      if (train) {
        result.grad_norm = torch::nn::utils::clip_grad_norm_(
            trainable,
            options.clip_norm > 0 ? options.clip_norm : std::numeric_limits<double>::infinity());
        result.learning_rate = LearningRate(step);
        for (auto& group : optimizer->param_groups()) {
          static_cast<torch::optim::AdamWOptions&>(group.options()).lr(result.learning_rate);
        }
        optimizer->step();
        optimizer->zero_grad();
        ++step;
      }
      result.step = step;
      return result;
    } catch (const c10::Error& e) {
      return absl::InternalError(
          absl::StrCat("training step failed: ", e.what_without_backtrace()));
    }
  }

  Model& model;
  TrainOptions options;
  std::vector<torch::Tensor> trainable;
  std::unique_ptr<torch::optim::AdamW> optimizer;
  int64_t step = 0;
};

Trainer::Trainer(Model& model, const TrainOptions& options)
    : impl_(std::make_unique<Impl>(model, options)) {}
Trainer::~Trainer() = default;
int64_t Trainer::step() const { return impl_->step; }

int64_t Trainer::TrainableParameterCount() const {
  int64_t n = 0;
  for (const auto& p : impl_->trainable) n += p.numel();
  return n;
}

absl::StatusOr<StepResult> Trainer::Step(const std::vector<Sequence>& batch) {
  if (impl_->trainable.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "nothing to train: --freeze=backbone trains only the long-term memory, and this model's "
        "memory is '",
        MemoryModeName(impl_->model.config().memory), "' (it has none)"));
  }
  return impl_->Run(batch, /*train=*/true);
}

absl::StatusOr<double> Trainer::Evaluate(const std::vector<Sequence>& batch) {
  ASSIGN_OR_RETURN(StepResult r, impl_->Run(batch, /*train=*/false));
  return r.loss;
}

absl::StatusOr<std::vector<double>> Trainer::TokenLosses(const Sequence& sequence) {
  std::vector<double> losses;
  Sequence all{sequence.tokens, {}};  // every token counts
  RETURN_IF_ERROR(impl_->Run({all}, /*train=*/false, &losses).status());
  return losses;
}

absl::Status Trainer::SaveCheckpoint(const std::string& dir) const {
  if (!impl_->optimizer) return absl::FailedPreconditionError("no weight to train, no checkpoint");
  RETURN_IF_ERROR(impl_->model.Save(dir, WeightStorage::kFloat32));
  try {
    torch::serialize::OutputArchive archive;
    impl_->optimizer->save(archive);
    archive.write("infmem_step", torch::tensor(impl_->step));
    archive.save_to(dir + "/optimizer.pt");
  } catch (const c10::Error& e) {
    return absl::InternalError(
        absl::StrCat("writing ", dir, "/optimizer.pt: ", e.what_without_backtrace()));
  }
  return absl::OkStatus();
}

absl::Status Trainer::Resume(const std::string& dir) {
  if (!impl_->optimizer)
    return absl::FailedPreconditionError("no weight to train, nothing to resume");
  const std::string path = dir + "/optimizer.pt";
  if (!std::filesystem::exists(path))
    return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    impl_->optimizer->load(archive);
    torch::Tensor step;
    archive.read("infmem_step", step);
    impl_->step = step.item<int64_t>();
  } catch (const c10::Error& e) {
    return absl::DataLossError(absl::StrCat("reading ", path, ": ", e.what_without_backtrace()));
  }
  return absl::OkStatus();
}

}  // namespace infmem::model
