#include "server/model/decode_attention.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace infmem::model {
namespace {

constexpr double kMinVar = 1e-4;  // as ContinuousAttention (ltm.cc)
const double kInvSqrt2Pi = 1.0 / std::sqrt(2.0 * M_PI);

// ---------------------------------------------------------------------------------------------
// The tensor-operation path (any device).

torch::Tensor OpsAttention(const DecodeAttentionInput& in) {
  const Model::Impl& impl = *in.impl;
  const ModelConfig& c = impl.config;
  const auto& rows = in.rows;
  const int l = in.layer;
  const int64_t num_rows = in.q.size(0), seg = c.segment_length, e = c.dim;
  const bool infinite = c.memory == MemoryMode::kInfinite;
  const Layer& layer = *impl.net->layers[l];
  // Write each row's token into its STM first: the keys it attends to are then one window of
  // its buffer, [begin, seg + offset], and all rows attend over their stacked buffers at once.
  // The writes are two multi-tensor operations for all rows (one launch each on CUDA), not
  // three copies per row.
  std::vector<torch::Tensor> keys, values, slots, news;
  const std::vector<torch::Tensor> k_rows = in.k.unbind(0), v_rows = in.v.unbind(0);
  const std::vector<torch::Tensor> x_rows =
      infinite ? in.xn.unbind(0) : std::vector<torch::Tensor>();
  std::vector<uint8_t> valid(static_cast<size_t>(num_rows * 2 * seg), 0);
  for (int64_t r = 0; r < num_rows; ++r) {
    LayerState& ls = rows[r]->layers[l];
    const int64_t slot = seg + (*in.offset)[r];
    slots.push_back(ls.stm_k.narrow(0, slot, 1));
    news.push_back(k_rows[r]);
    slots.push_back(ls.stm_v.narrow(0, slot, 1));
    news.push_back(v_rows[r]);
    if (infinite) {
      slots.push_back(ls.inputs.narrow(0, slot, 1));
      news.push_back(x_rows[r]);
    }
    const int64_t begin = rows[r]->tokens_seen >= seg ? 0 : seg;
    std::fill_n(valid.begin() + r * 2 * seg + begin, slot + 1 - begin, 1);
    keys.push_back(ls.stm_k);
    values.push_back(ls.stm_v);
  }
  torch::_foreach_zero_(slots);
  torch::_foreach_add_(slots, news);
  torch::Tensor mask = torch::from_blob(valid.data(), {num_rows, 2 * seg, 1}, torch::kUInt8)
                           .to(in.q.device(), torch::kBool);
  const double scale = 1.0 / std::sqrt(static_cast<double>(c.head_dim()));
  // Products and sums rather than einsum: a batched matrix product of many tiny matrices
  // loops over the batch one element at a time on the CPU. Grouped-query attention: the
  // query heads [h] are viewed as [kv, g], each group against its key/value head.
  const int64_t kv = c.kv_heads(), g = c.n_heads / kv, d = c.head_dim();
  torch::Tensor scores =
      (torch::stack(keys).unsqueeze(3) * in.qr.view({num_rows, 1, kv, g, d})).sum(-1) * scale;
  scores = scores.reshape({num_rows, 2 * seg, c.n_heads});  // [R, 2L, h]
  scores = scores.masked_fill(mask.logical_not(), -std::numeric_limits<double>::infinity());
  torch::Tensor p = torch::softmax(scores, 1).view({num_rows, 2 * seg, kv, g, 1});
  torch::Tensor out =
      Linear((p * torch::stack(values).unsqueeze(3)).sum(1).reshape({num_rows, 1, e}),
             layer.attention->wo);

  std::vector<int64_t> with_ltm;
  std::vector<torch::Tensor> ltm_k, ltm_v;
  for (int64_t r = 0; r < num_rows; ++r) {
    const LiveLtm& live = (*in.live)[r][l];
    if (!live.k.defined()) continue;
    with_ltm.push_back(r);
    ltm_k.push_back(live.k);
    ltm_v.push_back(live.v);
  }
  if (with_ltm.empty()) return out;
  torch::Tensor index = torch::tensor(with_ltm, torch::dtype(torch::kInt64)).to(in.q.device());
  const LtmWeights& w = *layer.ltm;
  ContinuousAttentionOut a = BatchedContinuousAttention(
      in.q.squeeze(1).index_select(0, index), torch::stack(ltm_k), torch::stack(ltm_v), w.w_mu,
      w.w_sigma, impl.ltm.centres, impl.ltm.widths_sq);
  if (c.ltm.sticky) {
    std::vector<torch::Tensor> hists;
    for (int64_t r : with_ltm) hists.push_back(rows[r]->layers[l].hist);
    torch::_foreach_add_(hists, BatchedStickyMass(a.mu, a.var, c.ltm.sticky_bins).unbind(0));
  }
  torch::Tensor z = torch::zeros({num_rows, c.n_heads, c.head_dim()}, in.q.options());
  z.index_copy_(0, index, a.z);
  return out + Linear(z.reshape({num_rows, 1, e}), layer.ltm->wo);
}

// ---------------------------------------------------------------------------------------------
// The fused CPU kernel.

// One (row, head) task's data. Pointers into contiguous tensors; strides in elements.
template <typename T>
struct RowData {
  const T* stm_k;  // [2L, kv, d]
  const T* stm_v;
  int64_t begin, end;  // valid key slots [begin, end)
  const T* ltm_k;      // [N, h, d], null without an LTM
  const T* ltm_v;
  const T* q;   // [h, d] before RoPE (LTM)
  const T* qr;  // [h, d] after RoPE (STM)
};

template <typename T>
struct KernelConstants {
  int64_t h = 0, d = 0, n = 0;   // heads, head size, LTM basis functions (0: no LTM)
  int64_t kv = 0, group = 1;     // key/value heads of the STM; query heads per kv head
  T scale = 0;                   // 1/√d
  const T* w_mu = nullptr;       // [N]
  const T* w_sigma = nullptr;    // [N]
  const T* centres = nullptr;    // [N]
  const T* widths_sq = nullptr;  // [N]
};

template <typename T>
inline T Dot(const T* a, const T* b, int64_t d) {
  T acc = 0;
  for (int64_t j = 0; j < d; ++j) acc += a[j] * b[j];
  return acc;
}

// Softmax attention of one head of one row over its valid STM slots: out [d].
template <typename T>
inline void StmHead(const RowData<T>& row, int64_t head, const KernelConstants<T>& k, T* scores,
                    T* out) {
  const int64_t stride = k.kv * k.d, d = k.d, kv_offset = head / k.group * d;
  const T* q = row.qr + head * d;
  T max_score = -std::numeric_limits<T>::infinity();
  for (int64_t s = row.begin; s < row.end; ++s) {
    const T score = Dot(q, row.stm_k + s * stride + kv_offset, d) * k.scale;
    scores[s - row.begin] = score;
    max_score = std::max(max_score, score);
  }
  T total = 0;
  for (int64_t s = 0; s < row.end - row.begin; ++s) {
    scores[s] = std::exp(scores[s] - max_score);
    total += scores[s];
  }
  std::fill_n(out, d, T(0));
  for (int64_t s = row.begin; s < row.end; ++s) {
    const T p = scores[s - row.begin] / total;
    const T* v = row.stm_v + s * stride + kv_offset;
    for (int64_t j = 0; j < d; ++j) out[j] += p * v[j];
  }
}

// Continuous attention (MODEL.md §4.5) of one head of one row: z [d], and the Gaussian's
// mean and variance.
template <typename T>
inline void LtmHead(const RowData<T>& row, int64_t head, const KernelConstants<T>& k, T* weights,
                    T* z, T* mu_out, T* var_out) {
  const int64_t stride = k.h * k.d, d = k.d;
  const T* q = row.q + head * d;
  T a = 0, b = 0;
  for (int64_t n = 0; n < k.n; ++n) {
    const T s = Dot(q, row.ltm_k + n * stride + head * d, d) * k.scale;
    a += s * k.w_mu[n];
    b += s * k.w_sigma[n];
  }
  const T mu = T(1) / (T(1) + std::exp(-a));
  const T softplus = b > T(20) ? b : std::log1p(std::exp(b));  // torch's threshold
  const T var = std::max(softplus, T(kMinVar));
  for (int64_t n = 0; n < k.n; ++n) {
    const T total = var + k.widths_sq[n];
    const T diff = mu - k.centres[n];
    weights[n] = std::exp(T(-0.5) * diff * diff / total) / std::sqrt(total) * T(kInvSqrt2Pi);
  }
  std::fill_n(z, d, T(0));
  for (int64_t n = 0; n < k.n; ++n) {
    const T* v = row.ltm_v + n * stride + head * d;
    for (int64_t j = 0; j < d; ++j) z[j] += weights[n] * v[j];
  }
  *mu_out = mu;
  *var_out = var;
}

// Runs tasks [begin, end) of (row, head) pairs. The body is compiled once per instruction
// set below and picked at load time, so the inner loops use AVX2 and FMA where the CPU has
// them while the binary still runs on any x86-64.
template <typename T>
inline __attribute__((always_inline)) void RunTasks(const RowData<T>* rows,
                                                    const KernelConstants<T>& k, int64_t begin,
                                                    int64_t end, T* stm_out, T* ltm_out, T* mu,
                                                    T* var, T* scratch) {
  for (int64_t task = begin; task < end; ++task) {
    const int64_t r = task / k.h, head = task % k.h;
    StmHead(rows[r], head, k, scratch, stm_out + task * k.d);
    if (rows[r].ltm_k != nullptr) {
      LtmHead(rows[r], head, k, scratch, ltm_out + task * k.d, mu + task, var + task);
    }
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
#define INFMEM_CPU_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define INFMEM_CPU_CLONES
#endif

INFMEM_CPU_CLONES void RunTasksF32(const RowData<float>* rows, const KernelConstants<float>& k,
                                   int64_t begin, int64_t end, float* stm_out, float* ltm_out,
                                   float* mu, float* var, float* scratch) {
  RunTasks(rows, k, begin, end, stm_out, ltm_out, mu, var, scratch);
}

void RunTasksOf(const RowData<float>* rows, const KernelConstants<float>& k, int64_t begin,
                int64_t end, float* stm_out, float* ltm_out, float* mu, float* var,
                float* scratch) {
  RunTasksF32(rows, k, begin, end, stm_out, ltm_out, mu, var, scratch);
}

void RunTasksOf(const RowData<double>* rows, const KernelConstants<double>& k, int64_t begin,
                int64_t end, double* stm_out, double* ltm_out, double* mu, double* var,
                double* scratch) {
  RunTasks(rows, k, begin, end, stm_out, ltm_out, mu, var, scratch);
}

// Adds the mass N(mu, var) puts in each of the histogram's equal bins over [0, 1], summed
// over heads, to `hist` [bins].
template <typename T>
void AddStickyMass(const T* mu, const T* var, int64_t heads, int64_t bins, T* hist) {
  const T inv_bins = T(1) / static_cast<T>(bins);
  for (int64_t head = 0; head < heads; ++head) {
    const T inv = T(1) / (std::sqrt(var[head]) * static_cast<T>(M_SQRT2));
    T prev = T(0.5) * (T(1) + std::erf((T(0) - mu[head]) * inv));
    for (int64_t i = 0; i < bins; ++i) {
      const T edge = i + 1 == bins ? T(1) : static_cast<T>(i + 1) * inv_bins;
      const T cdf = T(0.5) * (T(1) + std::erf((edge - mu[head]) * inv));
      hist[i] += cdf - prev;
      prev = cdf;
    }
  }
}

template <typename T>
torch::Tensor KernelAttention(const DecodeAttentionInput& in) {
  const Model::Impl& impl = *in.impl;
  const ModelConfig& c = impl.config;
  const int l = in.layer;
  const int64_t num_rows = in.q.size(0), seg = c.segment_length, e = c.dim;
  const int64_t h = c.n_heads, d = c.head_dim(), kv = c.kv_heads();
  const bool infinite = c.memory == MemoryMode::kInfinite;
  const bool full = c.memory == MemoryMode::kFull;
  const Layer& layer = *impl.net->layers[l];
  const torch::Tensor q = in.q.contiguous(), qr = in.qr.contiguous(), k = in.k.contiguous(),
                      v = in.v.contiguous(), xn = in.xn.contiguous();

  KernelConstants<T> kc;
  kc.h = h;
  kc.d = d;
  kc.kv = kv;
  kc.group = h / kv;
  kc.scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(d)));
  if (infinite) {
    const LtmWeights& w = *layer.ltm;
    kc.n = c.ltm.num_basis;
    kc.w_mu = w.w_mu.data_ptr<T>();
    kc.w_sigma = w.w_sigma.data_ptr<T>();
    kc.centres = impl.ltm.centres.data_ptr<T>();
    kc.widths_sq = impl.ltm.widths_sq.data_ptr<T>();
  }
  std::vector<RowData<T>> data(num_rows);
  bool any_ltm = false;
  int64_t longest = 2 * seg;  // the most key slots one row attends to
  for (int64_t r = 0; r < num_rows; ++r) {
    LayerState& ls = in.rows[r]->layers[l];
    // Full mode: the token's slot is its position, in a buffer that grows (doubling).
    const int64_t slot = full ? (*in.offset)[r] : seg + (*in.offset)[r];
    if (full) {
      EnsureKvCapacity(ls, slot, slot + 1);
      longest = std::max(longest, slot + 1);
    }
    std::memcpy(ls.stm_k.data_ptr<T>() + slot * kv * d, k.data_ptr<T>() + r * kv * d,
                sizeof(T) * kv * d);
    std::memcpy(ls.stm_v.data_ptr<T>() + slot * kv * d, v.data_ptr<T>() + r * kv * d,
                sizeof(T) * kv * d);
    if (infinite) {
      std::memcpy(ls.inputs.data_ptr<T>() + slot * e, xn.data_ptr<T>() + r * e, sizeof(T) * e);
    }
    RowData<T>& row = data[r];
    row.stm_k = ls.stm_k.data_ptr<T>();
    row.stm_v = ls.stm_v.data_ptr<T>();
    row.begin = full || in.rows[r]->tokens_seen >= seg ? 0 : seg;
    row.end = slot + 1;
    const LiveLtm& live = (*in.live)[r][l];
    row.ltm_k = live.k.defined() ? live.k.data_ptr<T>() : nullptr;
    row.ltm_v = live.v.defined() ? live.v.data_ptr<T>() : nullptr;
    row.q = q.data_ptr<T>() + r * h * d;
    row.qr = qr.data_ptr<T>() + r * h * d;
    any_ltm = any_ltm || row.ltm_k != nullptr;
  }

  auto opts = in.q.options();
  torch::Tensor stm_out = torch::empty({num_rows, 1, e}, opts);
  torch::Tensor ltm_out = torch::zeros({num_rows, 1, e}, opts);
  std::vector<T> mu(num_rows * h), var(num_rows * h);
  const int64_t scratch_len = std::max(longest, kc.n);
  at::parallel_for(0, num_rows * h, /*grain_size=*/4, [&](int64_t begin, int64_t end) {
    std::vector<T> scratch(scratch_len);
    RunTasksOf(data.data(), kc, begin, end, stm_out.data_ptr<T>(), ltm_out.data_ptr<T>(), mu.data(),
               var.data(), scratch.data());
  });
  if (infinite && c.ltm.sticky && any_ltm) {
    at::parallel_for(0, num_rows, /*grain_size=*/1, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        if (data[r].ltm_k == nullptr) continue;
        AddStickyMass(mu.data() + r * h, var.data() + r * h, h, c.ltm.sticky_bins,
                      in.rows[r]->layers[l].hist.template data_ptr<T>());
      }
    });
  }
  torch::Tensor out = Linear(stm_out, layer.attention->wo);
  if (any_ltm) out = out + Linear(ltm_out, layer.ltm->wo);
  return out;
}

// The kernel reads the state through raw pointers: every tensor it touches must be dense.
bool StateIsContiguous(const DecodeAttentionInput& in) {
  for (size_t r = 0; r < in.rows.size(); ++r) {
    const LayerState& ls = in.rows[r]->layers[in.layer];
    const LiveLtm& live = (*in.live)[r][in.layer];
    for (const torch::Tensor* t : {&ls.stm_k, &ls.stm_v, &ls.inputs, &ls.hist, &live.k, &live.v}) {
      if (t->defined() && !t->is_contiguous()) return false;
    }
  }
  return true;
}

}  // namespace

torch::Tensor DecodeAttention(const DecodeAttentionInput& in, bool use_kernel) {
  if (in.impl->config.memory == MemoryMode::kFull) {
    // Only the kernel serves full mode (Forward checks it may): make the state dense for it.
    for (SessionState::Impl* row : in.rows) {
      LayerState& ls = row->layers[in.layer];
      if (!ls.stm_k.is_contiguous()) ls.stm_k = ls.stm_k.contiguous();
      if (!ls.stm_v.is_contiguous()) ls.stm_v = ls.stm_v.contiguous();
    }
    return in.q.scalar_type() == torch::kFloat64 ? KernelAttention<double>(in)
                                                 : KernelAttention<float>(in);
  }
  if (!use_kernel || !in.q.device().is_cpu() || !StateIsContiguous(in)) return OpsAttention(in);
  switch (in.q.scalar_type()) {
    case torch::kFloat32:
      return KernelAttention<float>(in);
    case torch::kFloat64:
      return KernelAttention<double>(in);
    default:
      return OpsAttention(in);
  }
}

}  // namespace infmem::model
