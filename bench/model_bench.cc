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
#include <fstream>
#include <random>
#include <string>
#include <thread>
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
ABSL_FLAG(std::string, weights, "float32", "float32, bfloat16 or int8 (the server's --weights).");
ABSL_FLAG(std::string, kv_cache, "float32", "float32 or float16 (the server's --kv_cache).");
ABSL_FLAG(int, repeats, 3,
          "--model_dirs: times each table this many times and prints the median and spread "
          "(min-max) of the repeats' medians.");
ABSL_FLAG(int64_t, worst_step_tokens, 0,
          "--model_dirs: also decode this many tokens one step at a time from a fresh session and "
          "print the step time's p50, p99 and max (the segment-boundary LTM update shows there).");
ABSL_FLAG(std::string, logits_of, "",
          "With --model_dirs: a file of whitespace-separated token ids; feeds them one decode step "
          "at a time and prints each position's logits (one line of floats per position) "
          "instead of timing anything.");
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

namespace {

// Bytes per second this machine's cores read from memory: `threads` threads summing their
// share of a 512 MiB float array (more than any cache), best of 5 passes.
double MeasureReadBandwidth(int threads) {
  const size_t n = (512u << 20) / sizeof(float);
  std::vector<float> data(n, 1.0f);
  double best = 0;
  for (int pass = 0; pass < 5; ++pass) {
    std::vector<double> sums(static_cast<size_t>(threads));
    const auto start = Clock::now();
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        const size_t begin = n * t / threads, end = n * (t + 1) / threads;
        float acc[16] = {};
        for (size_t i = begin; i + 16 <= end; i += 16) {
          for (int j = 0; j < 16; ++j) acc[j] += data[i + j];
        }
        double s = 0;
        for (float a : acc) s += a;
        sums[t] = s;
      });
    }
    for (auto& w : workers) w.join();
    const double secs = Seconds(start);
    if (sums[0] < 0) std::printf("?");  // keeps the sums alive
    best = std::max(best, static_cast<double>(n * sizeof(float)) / secs);
  }
  return best;
}

// The bytes one decode step of one session must read at `context`: every per-token weight
// once (at `weight_bytes` each, plus int8's scales), and the attention state it attends to
// (`kv_bytes` per key or value element).
double DecodeStepBytes(const ModelConfig& c, int64_t context, double weight_bytes,
                       double kv_bytes) {
  const double e = c.dim, f = c.ffn_dim, kv = c.kv_dim(), layers = c.n_layers;
  double weights = layers * (2 * e * e + 2 * e * kv + 3 * e * f) + c.vocab_size * e;
  double rows = layers * (2 * e + 2 * kv + 3 * f) + c.vocab_size;  // output channels
  if (c.memory == MemoryMode::kInfinite) {
    weights += layers * e * e;
    rows += layers * e;
  }
  double state = 0;
  const double slot = 2 * kv * kv_bytes;  // one position's key and value
  switch (c.memory) {
    case MemoryMode::kFull:
      state = layers * static_cast<double>(context) * slot;
      break;
    case MemoryMode::kWindow:
      state = layers * std::min<double>(context, 1.5 * c.segment_length) * slot;
      break;
    case MemoryMode::kInfinite:
      state = layers * (std::min<double>(context, 1.5 * c.segment_length) * slot +
                        2.0 * c.ltm.num_basis * e * 4);
      break;
  }
  return weights * weight_bytes + (weight_bytes == 1 ? rows * 4 : 0) + state;  // int8 scales
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

double Quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))];
}

// --logits_of: each position's logits, one decode step at a time.
void PrintLogits(const Model& model, const std::string& path) {
  std::ifstream in(path);
  std::vector<int32_t> tokens;
  for (int64_t t; in >> t;) tokens.push_back(static_cast<int32_t>(t));
  if (tokens.empty()) Check(absl::InvalidArgumentError("--logits_of: no token ids in " + path));
  auto state = model.NewSession(1);
  for (int32_t t : tokens) {
    SessionState* batch[] = {state.get()};
    auto logits = model.DecodeStep(batch, {t});
    Check(logits.status());
    for (size_t i = 0; i < logits->size(); ++i) {
      std::printf(i == 0 ? "%.7g" : " %.7g", static_cast<double>((*logits)[i]));
    }
    std::printf("\n");
  }
}

}  // namespace

// Times each model of --model_dirs: its shape, prefill rate, decode step by context against
// the step's memory-traffic floor, state, and (--worst_step_tokens) the step-time tail.
void ModelDirTables(const infmem::model::ModelOptions& options, double bandwidth) {
  const int repeats = std::max(1, absl::GetFlag(FLAGS_repeats));
  for (absl::string_view dir :
       absl::StrSplit(absl::GetFlag(FLAGS_model_dirs), ',', absl::SkipEmpty())) {
    const auto start = Clock::now();
    auto model = Model::Load(std::string(dir), options);
    Check(model.status());
    const ModelConfig& c = (*model)->config();
    if (!absl::GetFlag(FLAGS_logits_of).empty()) {
      PrintLogits(**model, absl::GetFlag(FLAGS_logits_of));
      continue;
    }
    std::printf(
        "\n%s: %s, dim %d, %d layers, %d heads (%d key/value), FFN %d, vocab %d, L=%d, N=%d, "
        "%lld parameters, %s weights, %s KV cache, loaded in %.1f s\n",
        std::string(dir).c_str(), std::string(infmem::model::MemoryModeName(c.memory)).c_str(),
        c.dim, c.n_layers, c.n_heads, c.kv_heads(), c.ffn_dim, c.vocab_size, c.segment_length,
        c.ltm.num_basis, static_cast<long long>((*model)->ParameterCount()),
        options.weights.c_str(), options.kv_cache.c_str(), Seconds(start));
    const std::vector<int64_t> contexts = ParseList(absl::GetFlag(FLAGS_contexts));
    std::vector<std::vector<double>> decode(contexts.size());
    std::vector<double> prefill;
    std::vector<int64_t> state_bytes(contexts.size());
    for (int rep = 0; rep < repeats; ++rep) {
      std::vector<Row> rows;
      prefill.push_back(RunMode(**model, contexts, rows).tokens_per_s);
      for (size_t i = 0; i < rows.size(); ++i) {
        decode[i].push_back(rows[i].decode_ms);
        state_bytes[i] = rows[i].state_bytes;
      }
    }
    std::printf("prefill: %.1f tokens/s (median of %d; %.1f-%.1f)\n", Median(prefill), repeats,
                *std::min_element(prefill.begin(), prefill.end()),
                *std::max_element(prefill.begin(), prefill.end()));
    const double weight_bytes = options.weights == "int8"       ? 1
                                : options.weights == "bfloat16" ? 2
                                                                : 4;
    std::printf(
        "| context (tokens) | decode step median (ms) | spread of %d repeats (ms) | tokens/s | "
        "traffic floor (ms) | ratio to floor | state bytes "
        "|\n|---:|---:|---:|---:|---:|---:|---:|\n",
        repeats);
    for (size_t i = 0; i < contexts.size(); ++i) {
      const double ms = Median(decode[i]);
      const double floor_ms =
          DecodeStepBytes(c, contexts[i], weight_bytes, options.kv_cache == "float16" ? 2 : 4) /
          bandwidth * 1e3;
      std::printf("| %lld | %.2f | %.2f-%.2f | %.1f | %.2f | %.2f | %lld |\n",
                  static_cast<long long>(contexts[i]), ms,
                  *std::min_element(decode[i].begin(), decode[i].end()),
                  *std::max_element(decode[i].begin(), decode[i].end()), 1e3 / ms, floor_ms,
                  ms / floor_ms, static_cast<long long>(state_bytes[i]));
    }
    const int64_t tail_tokens = absl::GetFlag(FLAGS_worst_step_tokens);
    if (tail_tokens > 0) {
      auto state = (*model)->NewSession(1);
      std::vector<double> ms;
      int32_t next = 1;
      for (int64_t i = 0; i < tail_tokens; ++i) {
        SessionState* batch[] = {state.get()};
        const auto step = Clock::now();
        auto logits = (*model)->DecodeStep(batch, {next});
        ms.push_back(Seconds(step) * 1e3);
        Check(logits.status());
        next = static_cast<int32_t>(std::max_element(logits->begin(), logits->end()) -
                                    logits->begin());
      }
      std::printf(
          "decode steps 1-%lld from a fresh session: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
          static_cast<long long>(tail_tokens), Quantile(ms, 0.5), Quantile(ms, 0.99),
          *std::max_element(ms.begin(), ms.end()));
    }
    std::fflush(stdout);
  }
}

int main(int argc, char** argv) {
  infmem::InitFlagsHelp("model-bench: times the model core (prefill, decode, batched decode).",
                        argc, argv);
  absl::ParseCommandLine(argc, argv);
  infmem::model::ModelOptions options{absl::GetFlag(FLAGS_device), "float32",
                                      absl::GetFlag(FLAGS_threads)};
  options.weights = absl::GetFlag(FLAGS_weights);
  options.kv_cache = absl::GetFlag(FLAGS_kv_cache);
  auto gemm = infmem::model::MeasureGemmGflops(options, 1024, 9);
  Check(gemm.status());
  if (!absl::GetFlag(FLAGS_model_dirs).empty()) {
    if (!absl::GetFlag(FLAGS_logits_of).empty()) {
      ModelDirTables(options, 0);
      return 0;
    }
    const int threads = absl::GetFlag(FLAGS_threads) > 0
                            ? absl::GetFlag(FLAGS_threads)
                            : static_cast<int>(std::thread::hardware_concurrency());
    const double bandwidth = MeasureReadBandwidth(threads);
    std::printf(
        "GEMM 1024x1024x1024 float32: %.1f GFLOP/s (median of 9); memory read: %.1f GB/s "
        "(%d threads, best of 5)\n",
        *gemm, bandwidth / 1e9, threads);
    ModelDirTables(options, bandwidth);
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
