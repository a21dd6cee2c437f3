// infmem-train: trains ∞-former models with the serving code's own forward pass, evaluates
// them, and exports them for shipping.
//   infmem-train train --task=sorting --out=DIR [--memory=infinite|window] [--steps=N] ...
//   infmem-train train --task=text --data=data/brown --out=DIR [--tokenizer=FILE] ...
//   infmem-train train --task=... --out=DIR --resume   (continues from DIR's checkpoint)
//   infmem-train train --task=sorting-paper --length=4096 --length_spread=1024 --sticky=false ...
//   infmem-train eval --task=sorting --model_dir=DIR --lengths=2048,4096,8192 [--split=test]
//   infmem-train eval --task=text --model_dir=DIR [--split=test]
//   infmem-train finetune --model_dir=DIR --out=OUT --task=... [--freeze=backbone] [--resume]
//   infmem-train export --model_dir=DIR --out=SHIPPED [--weights=bf16]
//   infmem-train tokenizer --data=data/brown --out=DIR   (the text task's tokenizer alone)
// Tasks: "sorting" (MODEL.md §8, the first reproduction's generator), "sorting-paper" (the
// generator of the paper's released code: train/sorting_task.h) and "text" (the Brown corpus,
// scripts/fetch-brown.sh).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/common/flags_help.h"
#include "server/common/status_macros.h"
#include "server/model/model.h"
#include "server/model/trainer.h"
#include "server/tokenizer/sentencepiece_trainer.h"
#include "server/tokenizer/tokenizer.h"
#include "train/batch_sources.h"
#include "train/brown_corpus.h"
#include "train/sorting_eval.h"
#include "train/sorting_task.h"
#include "train/text_task.h"

ABSL_FLAG(std::string, task, "sorting", "Task: sorting, sorting-paper or text.");
ABSL_FLAG(std::string, out, "",
          "train: output directory (checkpoints, final model); export: "
          "the shipped model directory.");
ABSL_FLAG(bool, resume, false, "train, finetune: continue from the checkpoint in --out.");
ABSL_FLAG(std::string, freeze, "none",
          "finetune: none (train every weight) or backbone (only the long-term memory's).");
ABSL_FLAG(std::string, model_dir, "", "eval, export, finetune: model directory.");
ABSL_FLAG(std::string, data, "data/brown", "text: Brown corpus directory.");
ABSL_FLAG(std::string, split, "test", "eval: valid or test.");
ABSL_FLAG(int, vocab_size, 4096, "text: SentencePiece vocabulary size.");
ABSL_FLAG(std::string, tokenizer, "",
          "text: an existing SentencePiece model to use instead of training one (so that a "
          "baseline shares the tokenizer of the model it is compared with).");
ABSL_FLAG(std::string, weights, "bf16", "export: weight storage, f32, bf16 or f16.");
ABSL_FLAG(std::string, device, "auto", "cpu, cuda, cuda:N or auto.");
ABSL_FLAG(int, threads, 0, "CPU threads (0 = all cores).");
ABSL_FLAG(std::string, eval_weights, "float32",
          "eval: float32, bfloat16 or int8 (the server's --weights: reduced-precision "
          "linear layers, to measure their effect on perplexity).");
ABSL_FLAG(std::string, eval_kv_cache, "float32",
          "eval: float32 or float16 (the server's --kv_cache, to measure its effect on "
          "perplexity).");
ABSL_FLAG(int64_t, steps, 2000, "Optimizer steps.");
ABSL_FLAG(int, batch, 8, "Sequences per step.");
ABSL_FLAG(int64_t, length, 1024,
          "Tokens per training sequence (sorting: content symbols before the separator).");
ABSL_FLAG(int64_t, length_spread, 0,
          "train (sorting): each step's content length is --length plus a random 0.."
          "length_spread, so the separator falls at every phase of a segment.");
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
ABSL_FLAG(bool, tie_embeddings, false, "Share the input embedding and the output head.");
ABSL_FLAG(std::string, lengths, "", "eval (sorting): content lengths (default: --length).");
ABSL_FLAG(int64_t, eval_count, 100, "eval (sorting): examples per length.");
ABSL_FLAG(int64_t, swap_prefix, 0,
          "eval (text): when > 0, a memory test instead of perplexity: the loss on positions "
          "past prefix + 2L of the test documents, after their own first `swap_prefix` tokens "
          "and after another document's (SwapPrefixes in train/text_task.h).");
ABSL_FLAG(bool, oracles, false,
          "eval (sorting): also print two model-free references on the same examples (the "
          "order of the last 2L symbols' counts, and of the true mean distribution).");

namespace {

using infmem::model::Model;
using infmem::model::ModelConfig;
using infmem::train::TokenizedDocument;
using Clock = std::chrono::steady_clock;

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "infmem-train: %s\n", status.ToString().c_str());
  return 1;
}

infmem::model::ModelOptions Options() {
  return {absl::GetFlag(FLAGS_device), "float32", absl::GetFlag(FLAGS_threads)};
}

// Eval's model options: Options() with --eval_weights and --eval_kv_cache.
infmem::model::ModelOptions EvalOptions() {
  infmem::model::ModelOptions options = Options();
  options.weights = absl::GetFlag(FLAGS_eval_weights);
  options.kv_cache = absl::GetFlag(FLAGS_eval_kv_cache);
  return options;
}

absl::StatusOr<infmem::train::Split> SplitFlag() {
  const std::string split = absl::GetFlag(FLAGS_split);
  if (split == "valid") return infmem::train::Split::kValid;
  if (split == "test") return infmem::train::Split::kTest;
  return absl::InvalidArgumentError(absl::StrCat("--split: '", split, "' (valid or test)"));
}

// Returns the sorting generator of --task, or nothing for a task that is not sorting.
std::optional<infmem::train::SortingData> SortingDataOf(const std::string& task) {
  if (task == "sorting") return infmem::train::SortingData::kDirichlet;
  if (task == "sorting-paper") return infmem::train::SortingData::kPaper;
  return std::nullopt;
}

absl::Status UnknownTask(const std::string& task) {
  return absl::InvalidArgumentError(
      absl::StrCat("--task: '", task, "' (sorting, sorting-paper or text)"));
}

// The architecture flags shared by both tasks; the caller sets vocabulary and tokenizer.
absl::StatusOr<ModelConfig> ConfigFromFlags(const std::string& task) {
  ModelConfig c;
  c.name = absl::StrCat(task, "-", absl::GetFlag(FLAGS_memory));
  c.dim = absl::GetFlag(FLAGS_dim);
  c.n_layers = absl::GetFlag(FLAGS_layers);
  c.n_heads = absl::GetFlag(FLAGS_heads);
  c.ffn_dim = 4 * c.dim;
  c.segment_length = absl::GetFlag(FLAGS_segment_length);
  c.tie_embeddings = absl::GetFlag(FLAGS_tie_embeddings);
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
  return c;
}

// Round-trips a config through the parser so every value is validated like a shipped one.
absl::StatusOr<ModelConfig> Validated(const ModelConfig& c) {
  return infmem::model::ParseModelConfig(infmem::model::ModelConfigToJson(c));
}

// Returns the text model's config for the tokenizer in `out`/tokenizer.model.
absl::StatusOr<ModelConfig> TextConfig(const std::string& out) {
  ASSIGN_OR_RETURN(auto tok,
                   infmem::tokenizer::MakeTokenizer("sentencepiece", out, "tokenizer.model", 0));
  ASSIGN_OR_RETURN(ModelConfig c, ConfigFromFlags("brown"));
  c.vocab_size = tok->vocab_size();
  c.tokenizer = {"sentencepiece", "tokenizer.model"};
  c.bos_id = tok->bos_id();
  c.eos_id = tok->eos_id();
  return Validated(c);
}

// Trains the text task's SentencePiece tokenizer on `documents` (the train split) into
// `out`/tokenizer.model.
absl::Status TrainTokenizer(const std::string& out, const std::vector<std::string>& documents) {
  std::filesystem::create_directories(out);
  const std::string corpus = out + "/tokenizer-corpus.txt";
  {
    std::ofstream file(corpus);
    for (const std::string& doc : documents) file << doc << "\n";
    if (!file) return absl::InternalError(absl::StrCat("writing ", corpus));
  }
  const std::string error = infmem::tokenizer::TrainSentencePiece(
      absl::StrCat("--input=", corpus, " --model_prefix=", out,
                   "/tokenizer --vocab_size=", absl::GetFlag(FLAGS_vocab_size),
                   " --model_type=bpe --character_coverage=1.0 --minloglevel=1 --num_threads=1"));
  std::filesystem::remove(corpus);
  std::filesystem::remove(out + "/tokenizer.vocab");
  if (!error.empty()) return absl::InternalError(absl::StrCat("tokenizer training: ", error));
  return absl::OkStatus();
}

// Puts the text model's tokenizer into `out` (a copy of --tokenizer, or one trained on
// `documents`) and returns the model config that uses it.
absl::StatusOr<ModelConfig> PrepareTextModel(const std::string& out,
                                             const std::vector<std::string>& documents) {
  const std::string given = absl::GetFlag(FLAGS_tokenizer);
  if (given.empty()) {
    RETURN_IF_ERROR(TrainTokenizer(out, documents));
  } else {
    std::filesystem::create_directories(out);
    std::error_code ec;
    std::filesystem::copy_file(given, out + "/tokenizer.model",
                               std::filesystem::copy_options::overwrite_existing, ec);
    if (ec) return absl::NotFoundError(absl::StrCat("--tokenizer ", given, ": ", ec.message()));
  }
  return TextConfig(out);
}

// Copies `model`'s tokenizer file (if it has one) from directory `from` to `to`.
absl::Status CopyTokenizerFile(const Model& model, const std::string& from, const std::string& to) {
  const std::string& file = model.config().tokenizer.file;
  if (file.empty()) return absl::OkStatus();
  std::error_code ec;
  std::filesystem::copy_file(from + "/" + file, to + "/" + file,
                             std::filesystem::copy_options::overwrite_existing, ec);
  if (ec) return absl::InternalError(absl::StrCat("copying ", file, ": ", ec.message()));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<infmem::tokenizer::Tokenizer>> TokenizerOf(const Model& model,
                                                                          const std::string& dir) {
  const ModelConfig& c = model.config();
  return infmem::tokenizer::MakeTokenizer(c.tokenizer.kind, dir, c.tokenizer.file, c.vocab_size);
}

absl::Status TrainLoop(Model& model, const infmem::train::BatchSource& source,
                       const std::string& out, infmem::model::Freeze freeze) {
  infmem::model::TrainOptions topts;
  topts.learning_rate = absl::GetFlag(FLAGS_lr);
  topts.min_learning_rate = topts.learning_rate / 10;
  topts.warmup_steps = absl::GetFlag(FLAGS_warmup);
  topts.total_steps = absl::GetFlag(FLAGS_steps);
  topts.clip_norm = absl::GetFlag(FLAGS_clip);
  topts.seed = absl::GetFlag(FLAGS_seed);
  topts.freeze = freeze;
  infmem::model::Trainer trainer(model, topts);
  if (absl::GetFlag(FLAGS_resume)) {
    RETURN_IF_ERROR(trainer.Resume(out));
    std::fprintf(stderr, "resumed %s at step %lld\n", out.c_str(),
                 static_cast<long long>(trainer.step()));
  }
  std::fprintf(stderr, "model: %lld parameters (%lld trained), memory %s, device %s, %d threads\n",
               static_cast<long long>(model.ParameterCount()),
               static_cast<long long>(trainer.TrainableParameterCount()),
               std::string(infmem::model::MemoryModeName(model.config().memory)).c_str(),
               model.device().c_str(), absl::GetFlag(FLAGS_threads));
  const int batch = absl::GetFlag(FLAGS_batch);
  const auto start = Clock::now();
  const int64_t first_step = trainer.step();
  int64_t tokens = 0;
  double loss = 0;
  while (trainer.step() < topts.total_steps) {
    ASSIGN_OR_RETURN(infmem::model::StepResult r,
                     trainer.Step(source.Batch(trainer.step(), batch)));
    tokens += r.tokens;
    loss = r.loss;
    if (r.step % absl::GetFlag(FLAGS_log_every) == 0 || r.step == topts.total_steps) {
      const double secs = std::chrono::duration<double>(Clock::now() - start).count();
      const double eta = secs / static_cast<double>(r.step - first_step) *
                         static_cast<double>(topts.total_steps - r.step);
      std::fprintf(stderr,
                   "step %lld/%lld  loss %.4f  kl %.3f  lr %.2e  |g| %.2f  %.0f tokens/s  "
                   "ETA %.0f s\n",
                   static_cast<long long>(r.step), static_cast<long long>(topts.total_steps),
                   r.loss, r.kl, r.learning_rate, r.grad_norm, tokens / secs, eta);
    }
    if (r.step % absl::GetFlag(FLAGS_checkpoint_every) == 0 || r.step == topts.total_steps) {
      RETURN_IF_ERROR(trainer.SaveCheckpoint(out));
    }
  }
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("trained %s: %lld steps, %lld tokens in %.0f s, final loss %.4f\n", out.c_str(),
              static_cast<long long>(trainer.step()), static_cast<long long>(tokens), secs, loss);
  return absl::OkStatus();
}

// Returns the batches of --task for `model`; a text model's tokenizer is read from `dir`.
absl::StatusOr<std::unique_ptr<infmem::train::BatchSource>> TrainBatches(const Model& model,
                                                                         const std::string& dir) {
  const std::string task = absl::GetFlag(FLAGS_task);
  const uint64_t seed = absl::GetFlag(FLAGS_seed);
  if (const auto data = SortingDataOf(task)) {
    const int64_t spread = absl::GetFlag(FLAGS_length_spread);
    if (spread < 0) return absl::InvalidArgumentError("--length_spread must be >= 0");
    return std::make_unique<infmem::train::SortingBatches>(absl::GetFlag(FLAGS_length), seed, *data,
                                                           spread);
  }
  if (task != "text") return UnknownTask(task);
  ASSIGN_OR_RETURN(
      std::vector<std::string> docs,
      infmem::train::ReadBrownSplit(absl::GetFlag(FLAGS_data), infmem::train::Split::kTrain));
  ASSIGN_OR_RETURN(auto tok, TokenizerOf(model, dir));
  ASSIGN_OR_RETURN(std::vector<TokenizedDocument> tokenized,
                   infmem::train::TokenizeDocuments(*tok, docs));
  auto batches = std::make_unique<infmem::train::TextBatches>(
      infmem::train::CutSequences(tokenized, absl::GetFlag(FLAGS_length)), seed);
  int64_t total = 0;
  for (const auto& d : tokenized) total += static_cast<int64_t>(d.size());
  std::fprintf(stderr, "text: %zu train documents, %lld tokens, %zu sequences of %lld\n",
               tokenized.size(), static_cast<long long>(total), batches->size(),
               static_cast<long long>(absl::GetFlag(FLAGS_length)));
  if (batches->size() == 0) {
    return absl::InvalidArgumentError("--length: no document is that long");
  }
  return batches;
}

absl::Status Train() {
  const std::string task = absl::GetFlag(FLAGS_task);
  const std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) return absl::InvalidArgumentError("--out is required");
  const uint64_t seed = absl::GetFlag(FLAGS_seed);
  std::unique_ptr<Model> model;
  if (absl::GetFlag(FLAGS_resume)) {
    ASSIGN_OR_RETURN(model, Model::Load(out, Options()));
  } else if (SortingDataOf(task)) {
    ASSIGN_OR_RETURN(ModelConfig c, ConfigFromFlags(task));
    c.vocab_size = infmem::train::kSortingVocab;
    c.tokenizer = {"symbol", ""};
    ASSIGN_OR_RETURN(c, Validated(c));
    ASSIGN_OR_RETURN(model, Model::CreateRandom(c, seed, Options()));
  } else if (task == "text") {
    ASSIGN_OR_RETURN(
        std::vector<std::string> docs,
        infmem::train::ReadBrownSplit(absl::GetFlag(FLAGS_data), infmem::train::Split::kTrain));
    ASSIGN_OR_RETURN(ModelConfig c, PrepareTextModel(out, docs));
    ASSIGN_OR_RETURN(model, Model::CreateRandom(c, seed, Options()));
  } else {
    return UnknownTask(task);
  }
  ASSIGN_OR_RETURN(auto batches, TrainBatches(*model, out));
  return TrainLoop(*model, *batches, out, infmem::model::Freeze::kNone);
}

// Continues training the model of --model_dir (an imported checkpoint, or any model
// directory) into --out with a fresh optimizer, training what --freeze leaves; --resume
// continues from --out's own checkpoint instead.
absl::Status Finetune() {
  const std::string dir = absl::GetFlag(FLAGS_model_dir), out = absl::GetFlag(FLAGS_out);
  if (out.empty()) return absl::InvalidArgumentError("--out is required");
  const bool resume = absl::GetFlag(FLAGS_resume);
  if (dir.empty() && !resume) return absl::InvalidArgumentError("--model_dir is required");
  infmem::model::Freeze freeze;
  const std::string freeze_flag = absl::GetFlag(FLAGS_freeze);
  if (freeze_flag == "none") {
    freeze = infmem::model::Freeze::kNone;
  } else if (freeze_flag == "backbone") {
    freeze = infmem::model::Freeze::kBackbone;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--freeze: '", freeze_flag, "' (none or backbone)"));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Model> model, Model::Load(resume ? out : dir, Options()));
  if (!resume) {
    // The output is a complete model directory from the first checkpoint on.
    std::filesystem::create_directories(out);
    RETURN_IF_ERROR(CopyTokenizerFile(*model, dir, out));
  }
  ASSIGN_OR_RETURN(auto batches, TrainBatches(*model, out));
  return TrainLoop(*model, *batches, out, freeze);
}

// Prints the loss past `prefix` + `stm` of the documents longer than `prefix`, after their
// own prefix and after another document's.
absl::Status PrintMemoryTest(Model& model, const std::string& dir,
                             const std::vector<TokenizedDocument>& documents, int64_t prefix,
                             int64_t stm) {
  std::vector<TokenizedDocument> own;
  for (const TokenizedDocument& doc : documents) {
    if (static_cast<int64_t>(doc.size()) > prefix) own.push_back(doc);
  }
  const std::vector<TokenizedDocument> swapped = infmem::train::SwapPrefixes(own, prefix);
  if (swapped.empty()) {
    return absl::InvalidArgumentError("--swap_prefix: fewer than two documents are that long");
  }
  std::printf(
      "| model | first %lld tokens from | documents | positions | tokens | nats/token |\n"
      "|---|---|---:|---|---:|---:|\n",
      static_cast<long long>(prefix));
  for (const auto& [name, docs] :
       {std::pair<const char*, const std::vector<TokenizedDocument>&>("the document itself", own),
        {"another document", swapped}}) {
    ASSIGN_OR_RETURN(infmem::train::Perplexity p,
                     infmem::train::EvaluatePerplexity(model, docs, {prefix, prefix + stm}));
    const infmem::train::PositionBucket& past = p.by_position.back();
    std::printf("| %s | %s | %lld | %lld on | %lld | %.4f |\n", dir.c_str(), name,
                static_cast<long long>(p.documents), static_cast<long long>(past.begin),
                static_cast<long long>(past.tokens), past.mean_nll);
  }
  return absl::OkStatus();
}

absl::Status Eval() {
  const std::string dir = absl::GetFlag(FLAGS_model_dir);
  if (dir.empty()) return absl::InvalidArgumentError("--model_dir is required");
  ASSIGN_OR_RETURN(std::unique_ptr<Model> model, Model::Load(dir, EvalOptions()));
  const uint64_t seed = absl::GetFlag(FLAGS_seed);
  if (absl::GetFlag(FLAGS_task) == "text") {
    ASSIGN_OR_RETURN(infmem::train::Split split, SplitFlag());
    ASSIGN_OR_RETURN(std::vector<std::string> docs,
                     infmem::train::ReadBrownSplit(absl::GetFlag(FLAGS_data), split));
    ASSIGN_OR_RETURN(auto tok, TokenizerOf(*model, dir));
    ASSIGN_OR_RETURN(auto tokenized, infmem::train::TokenizeDocuments(*tok, docs));
    const int64_t stm = 2 * model->config().segment_length;
    if (const int64_t prefix = absl::GetFlag(FLAGS_swap_prefix); prefix > 0) {
      return PrintMemoryTest(*model, dir, tokenized, prefix, stm);
    }
    // Buckets: inside the short-term memory (< 2L), then beyond it, where only a long-term
    // memory can still see the document's beginning.
    ASSIGN_OR_RETURN(infmem::train::Perplexity p,
                     infmem::train::EvaluatePerplexity(*model, tokenized, {stm, 4 * stm}));
    std::printf(
        "| model | split | documents | tokens | nats/token | perplexity |\n"
        "|---|---|---:|---:|---:|---:|\n| %s | %s | %lld | %lld | %.4f | %.2f |\n\n",
        dir.c_str(), absl::GetFlag(FLAGS_split).c_str(), static_cast<long long>(p.documents),
        static_cast<long long>(p.tokens), p.mean_nll, p.perplexity);
    std::printf(
        "| model | token positions | tokens | nats/token | perplexity |\n"
        "|---|---|---:|---:|---:|\n");
    for (const infmem::train::PositionBucket& b : p.by_position) {
      const std::string range =
          b.end == INT64_MAX ? absl::StrCat(b.begin, " on") : absl::StrCat(b.begin, "-", b.end - 1);
      std::printf("| %s | %s | %lld | %.4f | %.2f |\n", dir.c_str(), range.c_str(),
                  static_cast<long long>(b.tokens), b.mean_nll, std::exp(b.mean_nll));
    }
    return absl::OkStatus();
  }
  const auto data = SortingDataOf(absl::GetFlag(FLAGS_task));
  if (!data) return UnknownTask(absl::GetFlag(FLAGS_task));
  std::string lengths = absl::GetFlag(FLAGS_lengths);
  if (lengths.empty()) lengths = absl::StrCat(absl::GetFlag(FLAGS_length));
  ASSIGN_OR_RETURN(infmem::train::Split split, SplitFlag());
  const std::string split_name = absl::GetFlag(FLAGS_split);
  std::printf(
      "| model | split | length | examples | teacher-forced | free-running per-position | "
      "exact match |\n|---|---|---:|---:|---:|---:|---:|\n");
  for (absl::string_view part : absl::StrSplit(lengths, ',', absl::SkipEmpty())) {
    int64_t length;
    if (!absl::SimpleAtoi(part, &length) || length <= 0) {
      return absl::InvalidArgumentError(absl::StrCat("--lengths: bad length '", part, "'"));
    }
    const infmem::train::SortingEvalSet set{split, absl::GetFlag(FLAGS_eval_count), length, seed,
                                            *data};
    ASSIGN_OR_RETURN(infmem::train::SortingAccuracy acc,
                     infmem::train::EvaluateSorting(*model, set));
    std::printf("| %s | %s | %lld | %lld | %.3f | %.3f | %.3f |\n", dir.c_str(), split_name.c_str(),
                static_cast<long long>(length), static_cast<long long>(acc.examples),
                acc.teacher_forced, acc.per_position, acc.exact_match);
    if (absl::GetFlag(FLAGS_oracles)) {
      const int64_t window = 2 * model->config().segment_length;
      const auto oracles = infmem::train::EvaluateSortingOracles(set, window);
      for (const auto& [name, acc] :
           {std::pair{absl::StrCat("counts of the last ", window), oracles.last_window},
            std::pair{std::string("true mean distribution"), oracles.true_distribution}}) {
        std::printf("| oracle: %s | %s | %lld | %lld | %.3f | %.3f | %.3f |\n", name.c_str(),
                    split_name.c_str(), static_cast<long long>(length),
                    static_cast<long long>(acc.examples), acc.teacher_forced, acc.per_position,
                    acc.exact_match);
      }
    }
    std::fflush(stdout);
  }
  return absl::OkStatus();
}

// Trains the text task's tokenizer alone into --out, for runs that must share one.
absl::Status Tokenizer() {
  const std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) return absl::InvalidArgumentError("--out is required");
  ASSIGN_OR_RETURN(
      std::vector<std::string> docs,
      infmem::train::ReadBrownSplit(absl::GetFlag(FLAGS_data), infmem::train::Split::kTrain));
  RETURN_IF_ERROR(TrainTokenizer(out, docs));
  std::printf("trained %s/tokenizer.model on %zu documents\n", out.c_str(), docs.size());
  return absl::OkStatus();
}

// Writes the model of --model_dir to --out as a shipped directory: config, weights in
// --weights storage, and the tokenizer file; no optimizer state.
absl::Status Export() {
  const std::string dir = absl::GetFlag(FLAGS_model_dir), out = absl::GetFlag(FLAGS_out);
  if (dir.empty() || out.empty()) {
    return absl::InvalidArgumentError("--model_dir and --out are required");
  }
  const std::string weights = absl::GetFlag(FLAGS_weights);
  infmem::model::WeightStorage storage;
  if (weights == "f32") {
    storage = infmem::model::WeightStorage::kFloat32;
  } else if (weights == "bf16") {
    storage = infmem::model::WeightStorage::kBFloat16;
  } else if (weights == "f16") {
    storage = infmem::model::WeightStorage::kFloat16;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("--weights: '", weights, "' (f32, bf16, f16)"));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Model> model, Model::Load(dir, {"cpu", "float32", 1}));
  RETURN_IF_ERROR(model->Save(out, storage));
  RETURN_IF_ERROR(CopyTokenizerFile(*model, dir, out));
  std::printf("exported %s to %s (%s weights)\n", dir.c_str(), out.c_str(), weights.c_str());
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  infmem::InitFlagsHelp(
      "infmem-train train|finetune|eval|export|tokenizer [--flags]: trains, fine-tunes, "
      "evaluates and exports models (see README.md).",
      argc, argv);
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  const std::string command = args.size() == 2 ? args[1] : "";
  absl::Status status;
  if (command == "train") {
    status = Train();
  } else if (command == "finetune") {
    status = Finetune();
  } else if (command == "eval") {
    status = Eval();
  } else if (command == "tokenizer") {
    status = Tokenizer();
  } else if (command == "export") {
    status = Export();
  } else {
    std::fprintf(stderr,
                 "usage: infmem-train train|finetune|eval|export|tokenizer [--flags]   "
                 "(--helpfull)\n");
    return 2;
  }
  return status.ok() ? 0 : Fail(status);
}
