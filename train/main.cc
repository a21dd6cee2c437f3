// infmem-train: trains ∞-former models with the serving code's own forward pass, and
// evaluates them.
//   infmem-train train --task=sorting --out=DIR [--memory=infinite|window] [--steps=N] ...
//   infmem-train train --out=DIR --resume          (continues from DIR's checkpoint)
//   infmem-train eval --task=sorting --model_dir=DIR --lengths=2048,4096,8192
// Tasks: "sorting" (MODEL.md §8). The text task arrives with the Brown corpus pipeline.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/model/model.h"
#include "server/model/trainer.h"
#include "train/sorting_eval.h"
#include "train/sorting_task.h"

ABSL_FLAG(std::string, task, "sorting", "Task: sorting.");
ABSL_FLAG(std::string, out, "", "train: output directory (checkpoints, final model).");
ABSL_FLAG(bool, resume, false, "train: continue from the checkpoint in --out.");
ABSL_FLAG(std::string, model_dir, "", "eval: model directory to evaluate.");
ABSL_FLAG(std::string, device, "auto", "cpu, cuda, cuda:N or auto.");
ABSL_FLAG(int, threads, 0, "CPU threads (0 = all cores).");
ABSL_FLAG(int64_t, steps, 2000, "Optimizer steps.");
ABSL_FLAG(int, batch, 8, "Sequences per step.");
ABSL_FLAG(int64_t, length, 1024, "Content symbols per training sequence (sorting).");
ABSL_FLAG(double, lr, 2e-4, "Peak learning rate.");
ABSL_FLAG(int64_t, warmup, 100, "Warm-up steps.");
ABSL_FLAG(double, clip, 1.0, "Gradient clipping norm (0 = off).");
ABSL_FLAG(int64_t, checkpoint_every, 200, "Steps between checkpoints.");
ABSL_FLAG(int64_t, log_every, 10, "Steps between progress lines.");
ABSL_FLAG(uint64_t, seed, 1, "Weight and data seed.");
ABSL_FLAG(std::string, memory, "infinite", "Model memory: infinite, window or full.");
ABSL_FLAG(int, dim, 128, "Model width.");
ABSL_FLAG(int, layers, 3, "Layers.");
ABSL_FLAG(int, heads, 4, "Heads.");
ABSL_FLAG(int, segment_length, 256, "Segment length L.");
ABSL_FLAG(int, num_basis, 256, "LTM basis functions N.");
ABSL_FLAG(int, num_samples, 256, "LTM samples M.");
ABSL_FLAG(double, tau, 0.75, "LTM τ (the paper's sorting run: 0.75).");
ABSL_FLAG(double, ridge_lambda, 1.0, "LTM ridge penalty λ (sorting: 1.0).");
ABSL_FLAG(bool, sticky, true, "Sticky memories.");
ABSL_FLAG(std::string, lengths, "", "eval: content lengths (default: --length).");
ABSL_FLAG(int64_t, eval_count, 100, "eval: examples per length.");

namespace {

using infmem::model::Model;
using infmem::model::ModelConfig;
using Clock = std::chrono::steady_clock;

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "infmem-train: %s\n", status.ToString().c_str());
  return 1;
}

absl::StatusOr<ModelConfig> SortingConfig() {
  ModelConfig c;
  c.name = absl::StrCat("sorting-", absl::GetFlag(FLAGS_memory));
  c.vocab_size = infmem::train::kSortingVocab;
  c.dim = absl::GetFlag(FLAGS_dim);
  c.n_layers = absl::GetFlag(FLAGS_layers);
  c.n_heads = absl::GetFlag(FLAGS_heads);
  c.ffn_dim = 4 * c.dim;
  c.segment_length = absl::GetFlag(FLAGS_segment_length);
  const std::string memory = absl::GetFlag(FLAGS_memory);
  if (memory == "infinite") {
    c.memory = infmem::model::MemoryMode::kInfinite;
  } else if (memory == "window") {
    c.memory = infmem::model::MemoryMode::kWindow;
  } else if (memory == "full") {
    c.memory = infmem::model::MemoryMode::kFull;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("--memory: unknown mode '", memory, "'"));
  }
  c.ltm.num_basis = absl::GetFlag(FLAGS_num_basis);
  c.ltm.num_samples = absl::GetFlag(FLAGS_num_samples);
  c.ltm.tau = absl::GetFlag(FLAGS_tau);
  c.ltm.ridge_lambda = absl::GetFlag(FLAGS_ridge_lambda);
  c.ltm.widths = {0.01, 0.05};
  c.ltm.sticky = absl::GetFlag(FLAGS_sticky);
  c.tokenizer = {"symbol", ""};
  // Round-trip through the parser so every value is validated like a shipped config.
  return infmem::model::ParseModelConfig(infmem::model::ModelConfigToJson(c));
}

int Train() {
  if (absl::GetFlag(FLAGS_task) != "sorting") {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("--task: '", absl::GetFlag(FLAGS_task), "' is not supported (sorting)")));
  }
  const std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) return Fail(absl::InvalidArgumentError("--out is required"));
  const infmem::model::ModelOptions options{absl::GetFlag(FLAGS_device), "float32",
                                            absl::GetFlag(FLAGS_threads)};
  absl::StatusOr<std::unique_ptr<Model>> model;
  if (absl::GetFlag(FLAGS_resume)) {
    model = Model::Load(out, options);
  } else {
    auto config = SortingConfig();
    if (!config.ok()) return Fail(config.status());
    model = Model::CreateRandom(*config, absl::GetFlag(FLAGS_seed), options);
  }
  if (!model.ok()) return Fail(model.status());
  infmem::model::TrainOptions topts;
  topts.learning_rate = absl::GetFlag(FLAGS_lr);
  topts.min_learning_rate = topts.learning_rate / 10;
  topts.warmup_steps = absl::GetFlag(FLAGS_warmup);
  topts.total_steps = absl::GetFlag(FLAGS_steps);
  topts.clip_norm = absl::GetFlag(FLAGS_clip);
  topts.seed = absl::GetFlag(FLAGS_seed);
  infmem::model::Trainer trainer(**model, topts);
  if (absl::GetFlag(FLAGS_resume)) {
    if (auto s = trainer.Resume(out); !s.ok()) return Fail(s);
    std::fprintf(stderr, "resumed %s at step %lld\n", out.c_str(),
                 static_cast<long long>(trainer.step()));
  }
  std::fprintf(stderr, "model: %lld parameters, memory %s, device %s\n",
               static_cast<long long>((*model)->ParameterCount()),
               std::string(infmem::model::MemoryModeName((*model)->config().memory)).c_str(),
               (*model)->device().c_str());
  const int batch = absl::GetFlag(FLAGS_batch);
  const int64_t length = absl::GetFlag(FLAGS_length);
  const auto start = Clock::now();
  const int64_t first_step = trainer.step();
  int64_t tokens = 0;
  double loss = 0;
  while (trainer.step() < topts.total_steps) {
    std::vector<infmem::model::Sequence> seqs;
    for (int b = 0; b < batch; ++b) {
      const uint64_t index = static_cast<uint64_t>(trainer.step()) * batch + b;
      auto ex = infmem::train::MakeSortingExample(infmem::train::Split::kTrain, index, length,
                                                  absl::GetFlag(FLAGS_seed));
      seqs.push_back({std::move(ex.tokens), std::move(ex.loss_mask)});
    }
    auto r = trainer.Step(seqs);
    if (!r.ok()) return Fail(r.status());
    tokens += r->tokens;
    loss = r->loss;
    const int64_t done = r->step - first_step;
    if (r->step % absl::GetFlag(FLAGS_log_every) == 0 || r->step == topts.total_steps) {
      const double secs = std::chrono::duration<double>(Clock::now() - start).count();
      const double eta = secs / done * (topts.total_steps - r->step);
      std::fprintf(stderr,
                   "step %lld/%lld  loss %.4f  kl %.3f  lr %.2e  |g| %.2f  %.0f tokens/s  "
                   "ETA %.0f s\n",
                   static_cast<long long>(r->step), static_cast<long long>(topts.total_steps),
                   r->loss, r->kl, r->learning_rate, r->grad_norm, tokens / secs, eta);
    }
    if (r->step % absl::GetFlag(FLAGS_checkpoint_every) == 0 || r->step == topts.total_steps) {
      if (auto s = trainer.SaveCheckpoint(out); !s.ok()) return Fail(s);
    }
  }
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("trained %s: %lld steps, %lld tokens in %.0f s, final loss %.4f\n", out.c_str(),
              static_cast<long long>(trainer.step()), static_cast<long long>(tokens), secs, loss);
  return 0;
}

int Eval() {
  const std::string dir = absl::GetFlag(FLAGS_model_dir);
  if (dir.empty()) return Fail(absl::InvalidArgumentError("--model_dir is required"));
  auto model =
      Model::Load(dir, {absl::GetFlag(FLAGS_device), "float32", absl::GetFlag(FLAGS_threads)});
  if (!model.ok()) return Fail(model.status());
  std::string lengths = absl::GetFlag(FLAGS_lengths);
  if (lengths.empty()) lengths = absl::StrCat(absl::GetFlag(FLAGS_length));
  std::printf(
      "| model | length | examples | exact match | per-position |\n|---|---:|---:|---:|---:|\n");
  for (absl::string_view part : absl::StrSplit(lengths, ',', absl::SkipEmpty())) {
    int64_t length;
    if (!absl::SimpleAtoi(part, &length) || length <= 0) {
      return Fail(absl::InvalidArgumentError(absl::StrCat("--lengths: bad length '", part, "'")));
    }
    auto acc = infmem::train::EvaluateSorting(**model, infmem::train::Split::kTest,
                                              absl::GetFlag(FLAGS_eval_count), length,
                                              absl::GetFlag(FLAGS_seed));
    if (!acc.ok()) return Fail(acc.status());
    std::printf("| %s | %lld | %lld | %.3f | %.3f |\n", dir.c_str(), static_cast<long long>(length),
                static_cast<long long>(acc->examples), acc->exact_match, acc->per_position);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() != 2 || (std::string(args[1]) != "train" && std::string(args[1]) != "eval")) {
    std::fprintf(stderr, "usage: infmem-train train|eval [--flags]   (--helpfull lists them)\n");
    return 2;
  }
  return std::string(args[1]) == "train" ? Train() : Eval();
}
