// model-bench: what the ∞-former's constant-size memory buys, measured. Prints a table of
// decode steps batched over 1, 8 and 32 sessions of the shipped model (step time, aggregate
// tokens/s), decode-step latency (median) against context length for `infinite` mode (flat)
// and `full` mode (an unbounded KV cache: grows), prefill throughput against the machine's
// GEMM rate, and the state bytes per session. Not a test: figures go into reports, never
// assertions.
//   model-bench [--device=cpu] [--threads=2] [--contexts=1024,16384,262144,1048576]
//               [--batch_model_dir=models/brown-lm] [--batches=1,8,32]
// An empty --contexts= prints the batched table only.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "server/common/flags_help.h"
#include "server/model/model.h"

ABSL_FLAG(std::string, device, "cpu", "cpu, cuda, cuda:N or auto.");
ABSL_FLAG(int, threads, 0, "CPU threads (0 = all cores).");
ABSL_FLAG(std::string, contexts, "1024,16384,262144,1048576",
          "Context lengths for infinite mode (ascending).");
ABSL_FLAG(std::string, full_contexts, "1024,4096,16384,32768",
          "Context lengths for full mode (ascending).");
ABSL_FLAG(int, decode_steps, 200, "Decode steps timed at each context.");
ABSL_FLAG(int, dim, 256, "Model width of the benchmark model.");
ABSL_FLAG(int, layers, 2, "Layers of the benchmark model.");
ABSL_FLAG(int, segment_length, 256, "Segment length L.");
ABSL_FLAG(int, num_basis, 256, "LTM basis functions N (= samples M).");
ABSL_FLAG(std::string, batch_model_dir, "models/brown-lm",
          "Model of the batched-decode table (empty: skip the table).");
ABSL_FLAG(std::string, batches, "1,8,32", "Sessions per decode step in the batched table.");
ABSL_FLAG(int, batch_steps, 512, "Decode steps timed at each batch size.");
ABSL_FLAG(std::string, model_dirs, "",
          "Comma-separated model directories (an imported checkpoint in each memory mode, say) to "
          "time instead of the random benchmark models: prefill tokens/s, decode step median at "
          "each of --contexts, state bytes. Skips the other tables.");

namespace {

using infmem::model::MemoryMode;
using infmem::model::Model;
using infmem::model::ModelConfig;
using infmem::model::SessionState;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

std::vector<int64_t> ParseList(const std::string& text) {
  std::vector<int64_t> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    int64_t v;
    if (!absl::SimpleAtoi(part, &v) || v <= 0) {
      std::fprintf(stderr, "model-bench: bad context '%s'\n", std::string(part).c_str());
      std::exit(2);
    }
    out.push_back(v);
  }
  std::sort(out.begin(), out.end());
  return out;
}

ModelConfig BenchConfig(MemoryMode mode) {
  ModelConfig c;
  c.name = "bench";
  c.vocab_size = 4096;
  c.dim = absl::GetFlag(FLAGS_dim);
  c.n_layers = absl::GetFlag(FLAGS_layers);
  c.n_heads = c.dim / 64 > 0 ? c.dim / 64 : 1;
  c.ffn_dim = (c.dim * 8 / 3 + 63) / 64 * 64;
  c.segment_length = absl::GetFlag(FLAGS_segment_length);
  c.memory = mode;
  c.ltm.num_basis = c.ltm.num_samples = absl::GetFlag(FLAGS_num_basis);
  c.tokenizer.kind = "symbol";
  c.tokenizer.file = "";
  return c;
}

struct Row {
  std::string mode;
  int64_t context;
  double decode_ms;
  int64_t state_bytes;
};

void Check(const absl::Status& s) {
  if (!s.ok()) {
    std::fprintf(stderr, "model-bench: %s\n", s.ToString().c_str());
    std::exit(1);
  }
}

// Grows one session to each context by prefill, keeps a copy of it there, then times decode
// steps round-robin across the copies, so that machine noise and drift fall on every context
// alike.
struct PrefillFigures {
  double tokens_per_s = 0;
  double flops_per_token = 0;
};

PrefillFigures RunMode(const Model& m, const std::vector<int64_t>& contexts,
                       std::vector<Row>& rows) {
  const MemoryMode mode = m.config().memory;
  auto state = m.NewSession(1);
  std::mt19937 rng(1);
  std::uniform_int_distribution<int32_t> token(0, m.config().vocab_size - 1);
  double prefill_secs = 0;
  int64_t prefilled = 0;
  std::vector<std::unique_ptr<SessionState>> at_context;
  for (int64_t context : contexts) {
    while (state->tokens_seen() < context) {  // in blocks of 64k tokens
      const int64_t n = std::min<int64_t>(context - state->tokens_seen(), 65536);
      std::vector<int32_t> block(n);
      for (auto& t : block) t = token(rng);
      const auto start = Clock::now();
      Check(m.Prefill(*state, block).status());
      prefill_secs += Seconds(start);
      prefilled += n;
    }
    at_context.push_back(m.Clone(*state));
    std::fprintf(stderr, "  %s: %lld tokens prefilled in %.1f s\n",
                 std::string(infmem::model::MemoryModeName(mode)).c_str(),
                 static_cast<long long>(context), prefill_secs);
  }
  const int steps = absl::GetFlag(FLAGS_decode_steps);
  std::vector<std::vector<double>> ms(contexts.size());
  std::vector<int32_t> next(contexts.size(), 1);
  for (int i = 0; i < steps; ++i) {
    for (size_t c = 0; c < contexts.size(); ++c) {
      SessionState* batch[] = {at_context[c].get()};
      const auto start = Clock::now();
      auto logits = m.DecodeStep(batch, {next[c]});
      ms[c].push_back(Seconds(start) * 1e3);
      Check(logits.status());
      next[c] =
          static_cast<int32_t>(std::max_element(logits->begin(), logits->end()) - logits->begin());
    }
  }
  for (size_t c = 0; c < contexts.size(); ++c) {
    std::sort(ms[c].begin(), ms[c].end());
    rows.push_back({std::string(infmem::model::MemoryModeName(mode)), contexts[c],
                    ms[c][ms[c].size() / 2], at_context[c]->ByteSize()});
  }
  return {prefilled / prefill_secs, m.PrefillFlopsPerToken()};
}

// One row of the batched-decode table.
struct BatchRow {
  int64_t batch;
  double step_ms_median;
  double tokens_per_s;
  double gemm_ms;  // the step's weight matrix products alone (median)
};

// Decodes `batch` sessions of the shipped model together for `steps` greedy steps (crossing
// segment boundaries as serving does) after a prefill of 300 to 427 tokens each, then times
// the step's matrix products alone.
BatchRow RunBatch(const Model& m, int64_t batch, int steps) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> token(3, m.config().vocab_size - 1);
  std::vector<std::unique_ptr<SessionState>> sessions;
  std::vector<SessionState*> ptrs;
  std::vector<int32_t> next;
  for (int64_t i = 0; i < batch; ++i) {
    sessions.push_back(m.NewSession(static_cast<uint64_t>(i)));
    std::vector<int32_t> prompt(300 + 37 * i % 128);  // sessions at different offsets
    for (auto& t : prompt) t = token(rng);
    Check(m.Prefill(*sessions.back(), prompt).status());
    ptrs.push_back(sessions.back().get());
    next.push_back(token(rng));
  }
  const int64_t vocab = m.config().vocab_size;
  std::vector<double> ms;
  const auto start = Clock::now();
  for (int i = 0; i < steps; ++i) {
    const auto step_start = Clock::now();
    auto logits = m.DecodeStep(ptrs, next);
    ms.push_back(Seconds(step_start) * 1e3);
    Check(logits.status());
    for (int64_t r = 0; r < batch; ++r) {
      auto row = logits->begin() + r * vocab;
      next[r] = static_cast<int32_t>(std::max_element(row, row + vocab) - row);
    }
  }
  const double secs = Seconds(start);
  std::sort(ms.begin(), ms.end());
  auto gemm = m.DecodeStepGemmSeconds(static_cast<int>(batch), 200);
  Check(gemm.status());
  return {batch, ms[ms.size() / 2], static_cast<double>(batch) * steps / secs, *gemm * 1e3};
}

void BatchTable(const infmem::model::ModelOptions& options) {
  const std::string dir = absl::GetFlag(FLAGS_batch_model_dir);
  if (dir.empty()) return;
  auto model = Model::Load(dir, options);
  Check(model.status());
  std::printf("\nbatched decode, %s (%lld state bytes per session), %d steps per row:\n",
              dir.c_str(), static_cast<long long>((*model)->StateBytes()),
              absl::GetFlag(FLAGS_batch_steps));
  std::printf(
      "| sessions per step | step median (ms) | tokens/s | tokens/s ratio to first | "
      "GEMMs alone (ms) | GEMM-bound tokens/s ratio to first's tokens/s |\n");
  std::printf("|---:|---:|---:|---:|---:|---:|\n");
  double first = 0;
  for (int64_t batch : ParseList(absl::GetFlag(FLAGS_batches))) {
    const BatchRow r = RunBatch(**model, batch, absl::GetFlag(FLAGS_batch_steps));
    if (first == 0) first = r.tokens_per_s;
    // The most this batch could reach were everything but its GEMMs free.
    const double gemm_bound = static_cast<double>(r.batch) / (r.gemm_ms / 1e3);
    std::printf("| %lld | %.3f | %.0f | %.2f | %.3f | %.2f |\n", static_cast<long long>(r.batch),
                r.step_ms_median, r.tokens_per_s, r.tokens_per_s / first, r.gemm_ms,
                gemm_bound / first);
  }
}

}  // namespace

// Times each model of --model_dirs: its shape, prefill rate, decode step by context, state.
void ModelDirTables(const infmem::model::ModelOptions& options) {
  for (absl::string_view dir :
       absl::StrSplit(absl::GetFlag(FLAGS_model_dirs), ',', absl::SkipEmpty())) {
    const auto start = Clock::now();
    auto model = Model::Load(std::string(dir), options);
    Check(model.status());
    const ModelConfig& c = (*model)->config();
    std::printf(
        "\n%s: %s, dim %d, %d layers, %d heads (%d key/value), FFN %d, vocab %d, L=%d, %lld "
        "parameters, loaded in %.1f s\n",
        std::string(dir).c_str(), std::string(infmem::model::MemoryModeName(c.memory)).c_str(),
        c.dim, c.n_layers, c.n_heads, c.kv_heads(), c.ffn_dim, c.vocab_size, c.segment_length,
        static_cast<long long>((*model)->ParameterCount()), Seconds(start));
    std::vector<Row> rows;
    const PrefillFigures prefill = RunMode(**model, ParseList(absl::GetFlag(FLAGS_contexts)), rows);
    std::printf("prefill: %.1f tokens/s\n", prefill.tokens_per_s);
    std::printf("| context (tokens) | decode step median (ms) | state bytes |\n|---:|---:|---:|\n");
    for (const Row& r : rows) {
      std::printf("| %lld | %.1f | %lld |\n", static_cast<long long>(r.context), r.decode_ms,
                  static_cast<long long>(r.state_bytes));
    }
    std::fflush(stdout);
  }
}

int main(int argc, char** argv) {
  infmem::InitFlagsHelp("model-bench: times the model core (prefill, decode, batched decode).",
                        argc, argv);
  absl::ParseCommandLine(argc, argv);
  const infmem::model::ModelOptions options{absl::GetFlag(FLAGS_device), "float32",
                                            absl::GetFlag(FLAGS_threads)};
  auto gemm = infmem::model::MeasureGemmGflops(options, 1024, 9);
  Check(gemm.status());
  if (!absl::GetFlag(FLAGS_model_dirs).empty()) {
    std::printf("GEMM 1024x1024x1024 float32: %.1f GFLOP/s (median of 9)\n", *gemm);
    ModelDirTables(options);
    return 0;
  }
  const ModelConfig shape = BenchConfig(MemoryMode::kInfinite);
  std::printf("model-bench: dim %d, %d layers, %d heads, L=%d, N=M=%d, vocab %d, device %s\n",
              shape.dim, shape.n_layers, shape.n_heads, shape.segment_length, shape.ltm.num_basis,
              shape.vocab_size, options.device.c_str());
  std::printf("GEMM 1024x1024x1024 float32: %.1f GFLOP/s (median of 9)\n\n", *gemm);

  BatchTable(options);
  if (absl::GetFlag(FLAGS_contexts).empty()) return 0;  // the batched table only
  std::vector<Row> rows;
  auto infinite = Model::CreateRandom(BenchConfig(MemoryMode::kInfinite), 1, options);
  Check(infinite.status());
  const PrefillFigures prefill =
      RunMode(**infinite, ParseList(absl::GetFlag(FLAGS_contexts)), rows);
  infinite->reset();
  auto full = Model::CreateRandom(BenchConfig(MemoryMode::kFull), 1, options);
  Check(full.status());
  RunMode(**full, ParseList(absl::GetFlag(FLAGS_full_contexts)), rows);

  std::printf(
      "| mode | context (tokens) | decode step median (ms) | ratio to first | state bytes |\n");
  std::printf("|---|---:|---:|---:|---:|\n");
  double first = 0;
  std::string mode;
  for (const Row& r : rows) {
    if (r.mode != mode) {
      mode = r.mode;
      first = r.decode_ms;
    }
    std::printf("| %s | %lld | %.3f | %.2f | %lld |\n", r.mode.c_str(),
                static_cast<long long>(r.context), r.decode_ms, r.decode_ms / first,
                static_cast<long long>(r.state_bytes));
  }
  const double inf_gflops = prefill.tokens_per_s * prefill.flops_per_token / 1e9;
  std::printf(
      "\nprefill (infinite): %.0f tokens/s x %.2f MFLOP/token = %.1f GFLOP/s = %.0f%% of GEMM\n",
      prefill.tokens_per_s, prefill.flops_per_token / 1e6, inf_gflops, 100.0 * inf_gflops / *gemm);
  return 0;
}
