// The forward pass of MODEL.md §3-§5 and the public Model entry points.
#include "server/model/model.h"

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "server/common/hash.h"
#include "server/common/status_macros.h"
#include "server/model/kernels/decode_attention.h"
#include "server/model/kernels/decode_ops.h"
#include "server/model/model_impl.h"

namespace infmem::model {
namespace {

using torch::indexing::Slice;

// cos and sin of the RoPE angles `pos` · inv_freq [R, T, 1, d/2], computed in float64 so
// absolute positions in the hundreds of millions keep full precision, then cast to `dtype`.
RopeTables MakeRopeTables(const torch::Tensor& pos, const torch::Tensor& inv_freq,
                          torch::ScalarType dtype) {
  torch::Tensor angle = pos.to(torch::kFloat64).unsqueeze(-1) * inv_freq;  // [R, T, d/2]
  return {torch::cos(angle).to(dtype).unsqueeze(2), torch::sin(angle).to(dtype).unsqueeze(2)};
}

// Softmax attention of `q` [T, h, d] over `k`, `v` [S + T, kv, d] whose last T entries are
// the queries' own tokens (causal among themselves). Each key/value head serves h/kv
// consecutive query heads (grouped-query attention). Returns [T, h, d].
torch::Tensor StmAttention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
  const int64_t t = q.size(0), h = q.size(1), d = q.size(2), kv = k.size(1);
  const int64_t s = k.size(0) - t;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  // [kv, g, T, S+T] flattened to [h, T, S+T]; with kv = h this is the plain product. The
  // scale goes on the queries and the causal mask on the last T columns only, in place: the
  // scores are the one large tensor here (a prefill chunk of 1,024 tokens at 4,096 is 128 MiB
  // per layer), each pass over them costs.
  torch::Tensor scores = torch::einsum("tkgd,skd->kgts", {(q * scale).view({t, kv, h / kv, d}), k})
                             .reshape({h, t, s + t});
  if (t > 1) {
    auto bool_opts = torch::TensorOptions().dtype(torch::kBool).device(q.device());
    torch::Tensor later = torch::ones({t, t}, bool_opts).triu(1);  // each query's later tokens
    scores.narrow(2, s, t).masked_fill_(later, -std::numeric_limits<double>::infinity());
  }
  torch::Tensor p = torch::softmax(scores, -1).view({kv, h / kv, t, s + t});
  return torch::einsum("kgts,skd->tkgd", {p, v}).reshape({t, h, d});
}

// The RoPE frequencies [d/2] (float64): theta^(-2j/d), rescaled as Llama 3.1's `llama3`
// rope_scaling prescribes when the config asks for it (wavelengths longer than the original
// context / low_freq_factor are divided by `factor`, shorter than original / high_freq_factor
// kept, and the band between interpolated smoothly).
torch::Tensor RopeFrequencies(const ModelConfig& c) {
  const int64_t half = c.head_dim() / 2;
  std::vector<double> freq(static_cast<size_t>(half));
  for (int64_t j = 0; j < half; ++j) {
    freq[j] = std::pow(c.rope_theta, -2.0 * static_cast<double>(j) / c.head_dim());
  }
  if (c.rope_scaling.kind == "llama3") {
    const RopeScaling& r = c.rope_scaling;
    const double old_context = r.original_max_position_embeddings;
    const double low_freq_wavelen = old_context / r.low_freq_factor;
    const double high_freq_wavelen = old_context / r.high_freq_factor;
    for (double& f : freq) {
      const double wavelen = 2 * M_PI / f;
      if (wavelen > low_freq_wavelen) {
        f /= r.factor;
      } else if (wavelen >= high_freq_wavelen) {
        const double smooth =
            (old_context / wavelen - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
        f = (1 - smooth) * f / r.factor + smooth * f;
      }
    }
  }
  return torch::tensor(freq, torch::dtype(torch::kFloat64));
}

}  // namespace

torch::Tensor Linear(const torch::Tensor& x, const std::shared_ptr<Param>& p) {
  if (x.dim() >= 1 && x.size(-1) > 0 && FusedRows(x.numel() / x.size(-1)) &&
      !torch::GradMode::is_enabled()) {
    torch::Tensor y;
    if (p->reduced.defined()) {
      y = DecodeLinear(x, p->reduced);
    } else if (x.is_cpu() && x.scalar_type() == torch::kFloat32 && p->weight.is_contiguous()) {
      y = DecodeLinear(x, {DecodeFormat::kFloat32, p->weight, {}});
    }
    if (y.defined()) return p->bias.defined() ? y.add_(p->bias) : y;
  }
  return p->bias.defined() ? torch::linear(x, p->weight, p->bias) : torch::linear(x, p->weight);
}

void Model::Impl::ReduceWeights(const std::string& weights) {
  if (weights == "float32") return;
  const DecodeFormat format = weights == "int8" ? DecodeFormat::kInt8 : DecodeFormat::kBfloat16;
  std::vector<std::shared_ptr<Param>> params = {net->output ? net->output : net->tok_embeddings};
  for (const auto& layer : net->layers) {
    const Attention& a = *layer->attention;
    const FeedForward& f = *layer->feed_forward;
    params.insert(params.end(), {a.wq, a.wk, a.wv, a.wo, f.w1, f.w2, f.w3});
    if (layer->ltm) params.push_back(layer->ltm->wo);
  }
  for (const auto& p : params) p->reduced = PrepareDecodeWeight(p->weight, format);
}

void EnsureKvCapacity(LayerState& ls, int64_t used, int64_t needed) {
  if (needed <= ls.stm_k.size(0)) return;
  const int64_t capacity = std::max<int64_t>(2 * ls.stm_k.size(0), needed);
  for (torch::Tensor* buf : {&ls.stm_k, &ls.stm_v}) {
    std::vector<int64_t> shape = buf->sizes().vec();
    shape[0] = capacity;
    torch::Tensor grown = torch::empty(shape, buf->options());
    grown.narrow(0, 0, used).copy_(buf->narrow(0, 0, used));
    *buf = grown;
  }
}

ForwardOutput Model::Impl::Forward(absl::Span<SessionState::Impl* const> rows,
                                   const torch::Tensor& tokens, bool all_logits) const {
  const ModelConfig& c = config;
  const int64_t num_rows = tokens.size(0), t = tokens.size(1);
  const int64_t seg = c.segment_length, h = c.n_heads, kv = c.kv_heads(), d = c.head_dim();
  const int64_t hd = c.q_dim();
  const bool infinite = c.memory == MemoryMode::kInfinite;
  const bool full = c.memory == MemoryMode::kFull;
  const bool grad = torch::GradMode::is_enabled();
  const int num_layers = c.n_layers;

  // Segment boundaries (MODEL.md §5) are applied lazily, when the first token of the next
  // segment arrives: the previous segment's inputs enter the LTM, the current segment becomes
  // the previous one. Done here so that in training the gate and the LTM projections join
  // the autograd graph of the segment that uses them.
  std::vector<std::vector<LiveLtm>> live(num_rows, std::vector<LiveLtm>(num_layers));
  std::vector<int64_t> offset(num_rows);
  std::vector<int64_t> positions;  // [R, T] row-major
  positions.reserve(static_cast<size_t>(num_rows * t));
  for (int64_t r = 0; r < num_rows; ++r) {
    SessionState::Impl& s = *rows[r];
    const int64_t n = s.tokens_seen;
    const bool boundary = !full && n > 0 && n % seg == 0;
    for (int l = 0; l < num_layers && infinite; ++l) {
      LayerState& ls = s.layers[l];
      const LtmWeights& w = *net->layers[l]->ltm;
      torch::Tensor coef;
      if (boundary && n >= 2 * seg) {
        // Copies, not views: the buffers are overwritten below, while autograd (training)
        // still needs these values for the backward pass.
        torch::Tensor x = ls.inputs.narrow(0, 0, seg).clone();  // [L, e], segment s-1
        torch::Tensor gate = torch::conv1d(x.t().unsqueeze(0), w.gate->weight, w.gate->bias,
                                           /*stride=*/1, /*padding=*/1);  // [1, e, L]
        x = x * torch::sigmoid(gate.squeeze(0).t());
        if (s.ltm_updates == 0) {
          coef = torch::matmul(ltm.g_first, x);
        } else {
          torch::Tensor psi = ltm.psi_uniform;
          if (c.ltm.sticky) {
            const uint64_t draw_seed =
                MixSeed(MixSeed(s.seed, static_cast<uint64_t>(l)), s.ltm_updates);
            torch::Tensor u = DrawStickyPositions(ls.hist, c.ltm.num_samples, draw_seed);
            psi = LtmMatrix(EvaluateBasis(ltm.basis64, u), options);
          }
          torch::Tensor old = torch::matmul(psi.t(), ls.coef.clone());  // [M, e]
          coef = torch::matmul(ltm.g_inf, torch::cat({old, x}));
        }
        ls.coef.copy_(coef.detach());
        ls.hist.zero_();
      } else if (s.ltm_updates > 0) {
        coef = ls.coef;
      }
      if (coef.defined() && (grad || (boundary && n >= 2 * seg))) {
        live[r][l].k = Linear(coef, w.wk).view({-1, h, d});
        live[r][l].v = Linear(coef, w.wv).view({-1, h, d});
        ls.k_ltm.copy_(live[r][l].k.detach());
        ls.v_ltm.copy_(live[r][l].v.detach());
      } else if (coef.defined()) {
        live[r][l] = {ls.k_ltm, ls.v_ltm};
      }
    }
    if (boundary) {
      if (infinite && n >= 2 * seg) ++s.ltm_updates;
      for (LayerState& ls : s.layers) {
        for (torch::Tensor* buf : {&ls.stm_k, &ls.stm_v, &ls.inputs}) {
          if (buf->defined()) buf->narrow(0, 0, seg).copy_(buf->narrow(0, seg, seg));
        }
      }
    }
    offset[r] = full ? n : n % seg;
    for (int64_t i = 0; i < t; ++i) positions.push_back(n + i);
  }
  const RopeTables rope = MakeRopeTables(
      torch::tensor(positions, torch::dtype(torch::kInt64)).view({num_rows, t}).to(device),
      inv_freq, options.dtype().toScalarType());

  // One token per row without autograd (decode): attention runs batched over the rows. Full
  // mode's unbounded KV cache only through the CPU kernel, which reads it in place (the tensor
  // path would copy the whole cache every step).
  const bool cpu_kernel =
      decode_kernel && device.is_cpu() && c.n_heads <= kMaxKernelHeads &&
      (options.dtype() == torch::kFloat32 || options.dtype() == torch::kFloat64);
  const bool decode = t == 1 && !grad && (!full || cpu_kernel);
  torch::Tensor x = torch::embedding(net->tok_embeddings->weight, tokens);  // [R, T, e]
  torch::Tensor kl_sum = torch::zeros({}, options);
  int64_t kl_count = 0;
  for (int l = 0; l < num_layers; ++l) {
    const Layer& layer = *net->layers[l];
    torch::Tensor xn = RmsNorm(x, layer.attention_norm->weight, c.norm_eps);
    const Attention& att = *layer.attention;
    torch::Tensor q = Linear(xn, att.wq).view({num_rows, t, h, d});
    torch::Tensor k = Linear(xn, att.wk).view({num_rows, t, kv, d});
    if (att.q_norm) {  // Qwen3: each head of q and k normalised before RoPE
      q = RmsNorm(q, att.q_norm->weight, c.norm_eps);
      k = RmsNorm(k, att.k_norm->weight, c.norm_eps);
    }
    k = Rope(k, rope, c.rope_layout);
    torch::Tensor v = Linear(xn, att.wv).view({num_rows, t, kv, d});
    torch::Tensor qr = Rope(q, rope, c.rope_layout);

    if (decode) {
      x = x + DecodeAttention({this, rows, l, &offset, q, qr, k, v, xn, &live}, decode_kernel);
      torch::Tensor xf = RmsNorm(x, layer.ffn_norm->weight, c.norm_eps);
      const FeedForward& ff = *layer.feed_forward;
      x = x + Linear(SiluMul(Linear(xf, ff.w1), Linear(xf, ff.w3)), ff.w2);
      continue;
    }
    // Write this chunk's keys, values and inputs into the rows' STM buffers first: without
    // autograd, attention then reads the buffer in place (no copy of the cache per chunk and
    // layer), and reads this chunk's keys as decode does, from the cache.
    for (int64_t r = 0; r < num_rows; ++r) {
      LayerState& ls = rows[r]->layers[l];
      const int64_t slot = full ? offset[r] : seg + offset[r];
      if (full) EnsureKvCapacity(ls, slot, slot + t);
      ls.stm_k.narrow(0, slot, t).copy_(k[r].detach());
      ls.stm_v.narrow(0, slot, t).copy_(v[r].detach());
      if (infinite) ls.inputs.narrow(0, slot, t).copy_(xn[r].detach());
    }

    std::vector<torch::Tensor> stm_out(num_rows), ltm_out(num_rows);
    bool any_ltm = false;
    for (int64_t r = 0; r < num_rows; ++r) {
      SessionState::Impl& s = *rows[r];
      LayerState& ls = s.layers[l];
      const int64_t o = offset[r];
      // STM keys: the previous segment (once there is one) and this segment so far.
      int64_t begin = 0, len = o;
      if (!full) {
        const bool has_prev = s.tokens_seen >= seg;
        begin = has_prev ? 0 : seg;
        len = has_prev ? seg + o : o;
      }
      // With autograd this chunk's keys must stay in the graph: the cached ones and then
      // these. (A float16 KV cache is widened; training never uses one.)
      torch::Tensor keys, values;
      if (grad) {
        keys = torch::cat({ls.stm_k.narrow(0, begin, len), k[r]});
        values = torch::cat({ls.stm_v.narrow(0, begin, len), v[r]});
      } else {
        keys = ls.stm_k.narrow(0, begin, len + t).to(k.scalar_type());
        values = ls.stm_v.narrow(0, begin, len + t).to(v.scalar_type());
      }
      stm_out[r] = StmAttention(qr[r], keys, values);
      if (live[r][l].k.defined()) {
        const LtmWeights& w = *layer.ltm;
        ContinuousAttentionOut a = ContinuousAttention(q[r], live[r][l].k, live[r][l].v, w.w_mu,
                                                       w.w_sigma, ltm.centres, ltm.widths_sq);
        ltm_out[r] = a.z;
        any_ltm = true;
        if (c.ltm.sticky) ls.hist.add_(StickyMass(a.mu, a.var, c.ltm.sticky_bins));
        if (grad) {
          kl_sum = kl_sum + KlToPrior(a.var, c.ltm.sigma0);
          kl_count += a.var.numel();
        }
      }
    }

    torch::Tensor attn = torch::stack(stm_out).view({num_rows, t, hd});
    x = x + Linear(attn, layer.attention->wo);
    if (any_ltm) {
      for (int64_t r = 0; r < num_rows; ++r) {
        if (!ltm_out[r].defined()) ltm_out[r] = torch::zeros({t, h, d}, options);
      }
      x = x + Linear(torch::stack(ltm_out).view({num_rows, t, hd}), layer.ltm->wo);
    }
    torch::Tensor xf = RmsNorm(x, layer.ffn_norm->weight, c.norm_eps);
    const FeedForward& ff = *layer.feed_forward;
    x = x + Linear(SiluMul(Linear(xf, ff.w1), Linear(xf, ff.w3)), ff.w2);
  }
  for (int64_t r = 0; r < num_rows; ++r) rows[r]->tokens_seen += t;

  if (!all_logits) x = x.narrow(1, t - 1, 1);
  torch::Tensor logits = net->Logits(RmsNorm(x, net->norm->weight, c.norm_eps));
  if (kl_count > 0) kl_sum = kl_sum / static_cast<double>(kl_count);
  return {logits, kl_sum};
}

absl::StatusOr<std::unique_ptr<Model::Impl>> Model::Impl::Create(const ModelConfig& config,
                                                                 const ModelOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  std::string dev = options.device;
  if (dev == "auto") dev = torch::cuda::is_available() ? "cuda" : "cpu";
  if (dev != "cpu" && dev.rfind("cuda", 0) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got '", dev, "'"));
  }
  if (dev.rfind("cuda", 0) == 0 && !torch::cuda::is_available()) {
    return absl::FailedPreconditionError(
        absl::StrCat("device '", dev, "' requested but this LibTorch sees no CUDA device"));
  }
  torch::ScalarType dtype;
  if (options.dtype == "float32") {
    dtype = torch::kFloat32;
  } else if (options.dtype == "float64") {
    dtype = torch::kFloat64;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("dtype must be 'float32' or 'float64', got '", options.dtype, "'"));
  }
  try {
    impl->device = torch::Device(dev);
    if (impl->device.is_cuda() &&
        static_cast<size_t>(impl->device.index()) >= torch::cuda::device_count()) {
      return absl::InvalidArgumentError(absl::StrCat("device '", dev, "' does not exist"));
    }
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad device '", dev, "': ", e.what_without_backtrace()));
  }
  const int threads =
      options.threads > 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());
  torch::set_num_threads(threads);
  static std::once_flag malloc_tuned;
  std::call_once(malloc_tuned, [] {
    // glibc serves every allocation over 128 KiB with a fresh mmap, so each activation tensor
    // of a forward costs page faults and zeroing (a fifth of prefill time, measured). Keep
    // large blocks in the heap instead: prefill throughput doubled on the benchmark model.
    mallopt(M_MMAP_THRESHOLD, 512 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    mallopt(M_TOP_PAD, 256 << 20);
  });
  // BLIS (our BLAS) sizes its own pool from BLIS_NUM_THREADS when first used and ignores
  // torch's setting: without this every GEMM runs on one core (measured: half the rate on two
  // cores). Only the first setting before the first BLAS call takes effect.
  setenv("BLIS_NUM_THREADS", std::to_string(threads).c_str(), /*overwrite=*/0);
#if defined(__x86_64__) && defined(__GNUC__)
  // BLIS picks its AVX-512 kernels only when it can count the CPU's FMA units; under a
  // hypervisor it often cannot and falls back to its AVX2 ('haswell') kernels. Where the CPU
  // has AVX-512 name them: prefill's GEMMs ran 1.35x faster (median of three runs of a
  // layer's products at 512 tokens on two cores: 166 against 131 GFLOP/s). BLIS 0.9 reads
  // the variable as a number and "skx" as 0, its id for skx; later versions parse the name.
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) {
    setenv("BLIS_ARCH_TYPE", "skx", /*overwrite=*/0);
  }
#endif
  impl->options = torch::TensorOptions().dtype(dtype).device(impl->device);
  impl->decode_kernel = options.decode_kernel;
  if (options.weights != "float32" && options.weights != "bfloat16" && options.weights != "int8") {
    return absl::InvalidArgumentError(absl::StrCat(
        "weights must be 'float32', 'bfloat16' or 'int8', got '", options.weights, "'"));
  }
  if (options.weights != "float32" && (!impl->device.is_cpu() || dtype != torch::kFloat32)) {
    return absl::InvalidArgumentError(absl::StrCat(
        options.weights, " weights run on the CPU with float32 compute only (use --device=cpu)"));
  }
  if (options.kv_cache != "float32" && options.kv_cache != "float16") {
    return absl::InvalidArgumentError(
        absl::StrCat("kv_cache must be 'float32' or 'float16', got '", options.kv_cache, "'"));
  }
  if (options.kv_cache == "float16") {
    if (!impl->device.is_cpu() || dtype != torch::kFloat32) {
      return absl::InvalidArgumentError(
          "a float16 KV cache runs on the CPU with float32 compute only (use --device=cpu)");
    }
    impl->kv_dtype = torch::kHalf;
  } else {
    impl->kv_dtype = dtype;
  }
  impl->net = std::make_shared<Net>(config);
  impl->net->to(impl->device, dtype);
  if (config.memory == MemoryMode::kInfinite) {
    impl->ltm = MakeLtmConstants(config.ltm, config.segment_length, impl->options);
  }
  impl->inv_freq = RopeFrequencies(config).to(impl->device);
  return impl;
}

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
  impl_->state_bytes = SessionState(impl_->NewState(0)).ByteSize();
}
Model::~Model() = default;

absl::StatusOr<std::unique_ptr<Model>> Model::Load(const std::string& model_dir,
                                                   const ModelOptions& options) {
  ASSIGN_OR_RETURN(ModelConfig config, ReadModelConfig(model_dir + "/config.json"));
  ASSIGN_OR_RETURN(auto impl, Impl::Create(config, options));
  RETURN_IF_ERROR(impl->LoadWeights(model_dir + "/model.safetensors"));
  // The fingerprint names the checkpoint: sessions move between its float32, bfloat16 and
  // int8 servers.
  impl->ComputeFingerprint();
  impl->ReduceWeights(options.weights);
  return std::unique_ptr<Model>(new Model(std::move(impl)));
}

absl::StatusOr<std::unique_ptr<Model>> Model::CreateRandom(const ModelConfig& config, uint64_t seed,
                                                           const ModelOptions& options) {
  ASSIGN_OR_RETURN(auto impl, Impl::Create(config, options));
  impl->InitRandom(seed);
  impl->ComputeFingerprint();
  impl->ReduceWeights(options.weights);
  return std::unique_ptr<Model>(new Model(std::move(impl)));
}

absl::Status Model::Save(const std::string& model_dir, WeightStorage storage) const {
  std::error_code ec;
  std::filesystem::create_directories(model_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", model_dir, ": ", ec.message()));
  RETURN_IF_ERROR(impl_->SaveWeights(model_dir + "/model.safetensors", storage));
  std::ofstream out(model_dir + "/config.json", std::ios::trunc);
  out << ModelConfigToJson(impl_->config);
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", model_dir, "/config.json"));
  return absl::OkStatus();
}

double Model::PrefillFlopsPerToken() const {
  const ModelConfig& c = impl_->config;
  const double e = c.dim, f = c.ffn_dim, seg = c.segment_length;
  const double kv = c.kv_dim(), q = c.q_dim();
  double per_layer = 2 * (2 * e * q + 2 * e * kv + 3 * e * f);  // q, k, v, o and SwiGLU
  // STM attention (scores and weighted sum) over 1.5 L keys on average, per query head.
  per_layer += 4 * q * (c.memory == MemoryMode::kFull ? 0 : 1.5 * seg);
  if (c.memory == MemoryMode::kInfinite) {
    const double n = c.ltm.num_basis, m = c.ltm.num_samples;
    per_layer += 2 * e * q + 4 * q * n;  // LTM output projection, scores and z
    // Per segment: gate conv, old-signal samples, the fit, K_ltm and V_ltm.
    per_layer +=
        (2 * 3 * e * e * seg + 2 * n * m * e + 2 * n * (m + seg) * e + 4 * n * e * q) / seg;
  }
  return per_layer * c.n_layers;
}

namespace {

// Returns the median seconds of `reps` calls of `run` on `device` (after one warm-up call),
// waiting for the device before and after each.
template <typename Fn>
double MedianSeconds(const torch::Device& device, int reps, Fn run) {
  std::vector<double> secs;
  for (int i = 0; i < reps + 1; ++i) {
    if (device.is_cuda()) torch::cuda::synchronize();
    const auto start = std::chrono::steady_clock::now();
    run();
    if (device.is_cuda()) torch::cuda::synchronize();
    if (i > 0) {
      secs.push_back(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
  }
  std::sort(secs.begin(), secs.end());
  return secs[secs.size() / 2];
}

}  // namespace

absl::StatusOr<double> MeasureGemmGflops(const ModelOptions& options, int n, int reps) {
  ModelConfig probe;
  probe.vocab_size = probe.dim = probe.n_heads = probe.ffn_dim = probe.segment_length = 2;
  probe.n_layers = 1;
  probe.memory = MemoryMode::kWindow;
  ASSIGN_OR_RETURN(auto impl, Model::Impl::Create(probe, options));  // device, dtype, threads
  try {
    torch::NoGradGuard no_grad;
    torch::Tensor a = torch::randn({n, n}, impl->options), b = torch::randn({n, n}, impl->options);
    const double secs = MedianSeconds(impl->device, reps, [&] { torch::matmul(a, b); });
    return 2.0 * n * n * n / secs / 1e9;
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("GEMM probe failed: ", e.what_without_backtrace()));
  }
}

absl::StatusOr<double> Model::DecodeStepGemmSeconds(int rows, int reps) const {
  if (rows < 1 || reps < 1) return absl::InvalidArgumentError("rows and reps must be >= 1");
  const ModelConfig& c = impl_->config;
  try {
    torch::NoGradGuard no_grad;
    torch::Tensor x = torch::randn({rows, c.dim}, impl_->options);
    torch::Tensor heads = torch::randn({rows, c.q_dim()}, impl_->options);
    torch::Tensor hidden = torch::randn({rows, c.ffn_dim}, impl_->options);
    return MedianSeconds(impl_->device, reps, [&] {
      for (const auto& layer : impl_->net->layers) {
        for (const auto& p : {layer->attention->wq, layer->attention->wk, layer->attention->wv,
                              layer->feed_forward->w1, layer->feed_forward->w3}) {
          Linear(x, p);
        }
        Linear(heads, layer->attention->wo);
        Linear(hidden, layer->feed_forward->w2);
        if (layer->ltm) Linear(heads, layer->ltm->wo);
      }
      impl_->net->Logits(x);
    });
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("GEMM timing failed: ", e.what_without_backtrace()));
  }
}

const ModelConfig& Model::config() const { return impl_->config; }
const std::string& Model::fingerprint() const { return impl_->fingerprint; }
std::string Model::device() const { return impl_->device.str(); }

int64_t Model::ParameterCount() const {
  int64_t n = 0;
  for (const auto& p : impl_->net->parameters()) n += p.numel();
  return n;
}

namespace {

absl::Status CheckTokens(absl::Span<const int32_t> tokens, int vocab) {
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= vocab) {
      return absl::InvalidArgumentError(absl::StrCat(
          "token id ", tokens[i], " at index ", i, " is outside the vocabulary [0, ", vocab, ")"));
    }
  }
  return absl::OkStatus();
}

std::vector<float> ToVector(const torch::Tensor& t) {
  torch::Tensor cpu = t.to(torch::kCPU, torch::kFloat32).contiguous();
  return std::vector<float>(cpu.data_ptr<float>(), cpu.data_ptr<float>() + cpu.numel());
}

}  // namespace

absl::StatusOr<std::vector<float>> Model::Prefill(SessionState& state,
                                                  absl::Span<const int32_t> tokens) const {
  if (tokens.empty()) return absl::InvalidArgumentError("no tokens to prefill");
  RETURN_IF_ERROR(CheckTokens(tokens, impl_->config.vocab_size));
  try {
    torch::NoGradGuard no_grad;
    const int64_t seg = impl_->config.segment_length;
    SessionState::Impl* row = &state.impl();
    torch::Tensor all = torch::tensor(std::vector<int64_t>(tokens.begin(), tokens.end()),
                                      torch::dtype(torch::kInt64))
                            .to(impl_->device);
    torch::Tensor logits;
    for (int64_t i = 0, n = all.size(0); i < n;) {
      // A chunk never crosses a segment boundary (full mode: bounded to L for memory).
      const int64_t room =
          impl_->config.memory == MemoryMode::kFull ? seg : seg - row->tokens_seen % seg;
      const int64_t len = std::min(room, n - i);
      logits = impl_->Forward({&row, 1}, all.narrow(0, i, len).unsqueeze(0), false).logits;
      i += len;
    }
    return ToVector(logits);
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("prefill failed: ", e.what_without_backtrace()));
  }
}

absl::StatusOr<std::vector<float>> Model::DecodeStep(absl::Span<SessionState* const> states,
                                                     absl::Span<const int32_t> tokens) const {
  if (states.size() != tokens.size()) {
    return absl::InvalidArgumentError(absl::StrCat("decode step got ", states.size(),
                                                   " sessions but ", tokens.size(), " tokens"));
  }
  if (states.empty()) return std::vector<float>();
  RETURN_IF_ERROR(CheckTokens(tokens, impl_->config.vocab_size));
  std::vector<SessionState::Impl*> rows;
  for (SessionState* s : states) {
    for (SessionState::Impl* seen : rows) {
      if (seen == &s->impl())
        return absl::InvalidArgumentError("a session appears twice in a decode step");
    }
    rows.push_back(&s->impl());
  }
  try {
    torch::NoGradGuard no_grad;
    torch::Tensor ids = torch::tensor(std::vector<int64_t>(tokens.begin(), tokens.end()),
                                      torch::dtype(torch::kInt64))
                            .to(impl_->device)
                            .unsqueeze(1);
    DecodeStepScope every_row_alone(static_cast<int64_t>(rows.size()));
    return ToVector(impl_->Forward(rows, ids, false).logits);
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("decode step failed: ", e.what_without_backtrace()));
  }
}

}  // namespace infmem::model
