#include "server/model/kernels/decode_attention.h"

#include <ATen/Parallel.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

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
  const int64_t num_rows = in.q.size(0), seg = c.segment_length;
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
    news.push_back(k_rows[r].to(ls.stm_k.scalar_type()));  // float16 KV cache: rounded
    slots.push_back(ls.stm_v.narrow(0, slot, 1));
    news.push_back(v_rows[r].to(ls.stm_v.scalar_type()));
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
  for (torch::Tensor& t : keys) t = t.to(in.q.scalar_type());  // a float16 KV cache, widened
  for (torch::Tensor& t : values) t = t.to(in.q.scalar_type());
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
      Linear((p * torch::stack(values).unsqueeze(3)).sum(1).reshape({num_rows, 1, c.q_dim()}),
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
  return out + Linear(z.reshape({num_rows, 1, c.q_dim()}), layer.ltm->wo);
}

// ---------------------------------------------------------------------------------------------
// The fused CPU kernel.

// One (row, head) task's data. Pointers into contiguous tensors; strides in elements.
template <typename T>
struct RowData {
  const T* stm_k;  // [2L, kv, d]; null when the cache is float16 (below)
  const T* stm_v;
  const at::Half* stm_k16 = nullptr;  // a float16 KV cache (float kernels only)
  const at::Half* stm_v16 = nullptr;
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

// exp for the softmax and the Gaussian weights: float uses a polynomial (Cephes' expf, a few
// ulp, arguments clamped at -87 where it underflows) that the compiler vectorises, where a
// libm call per score cost as much as reading the keys; double keeps std::exp.
inline __attribute__((always_inline)) float KernelExp(float x) {
  x = std::max(x, -87.0f);
  const float n = std::floor(x * 1.44269504088896341f + 0.5f);
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return y * scale;
}
inline double KernelExp(double x) { return std::exp(x); }

template <typename T>
inline __attribute__((always_inline)) T Dot(const T* a, const T* b, int64_t d) {
  T acc = 0;
  for (int64_t j = 0; j < d; ++j) acc += a[j] * b[j];
  return acc;
}

// Widens n float16 values (one key or value slot of a float16 KV cache) to float: F16C where
// the CPU has it. Not inlined: the kernel's clone without AVX2 calls it too.
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx,f16c"))) void WidenF16c(const at::Half* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
  }
  for (; i < n; ++i) dst[i] = static_cast<float>(src[i]);
}
#endif

void WidenHalf(const at::Half* src, float* dst, int64_t n) {
#if defined(__x86_64__) && defined(__GNUC__)
  // Every CPU with AVX2 has F16C (and clang 14's __builtin_cpu_supports has no "f16c").
  static const bool f16c = __builtin_cpu_supports("avx2");
  if (f16c) return WidenF16c(src, dst, n);
#endif
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(src[i]);
}

// Slot `s` of a key or value buffer as T: in place, or widened into `buf` from float16.
template <typename T>
inline __attribute__((always_inline)) const T* Slot(const T* full, const at::Half* half, int64_t s,
                                                    int64_t stride, T* buf) {
  if constexpr (std::is_same_v<T, float>) {
    if (half != nullptr) {
      WidenHalf(half + s * stride, buf, stride);
      return buf;
    }
  }
  return full + s * stride;
}

// Keys per chunk of a row's STM: a chunk is one task, and its partial softmax (max, sum,
// weighted values per head) is combined with the row's other chunks afterwards, so a long
// KV cache (full mode) is split across threads and read front to back exactly once.
constexpr int64_t kChunkKeys = 256;
constexpr int64_t kMaxHeads = kMaxKernelHeads;

// Softmax partials of every head of one row over key slots [begin, end): per head the max
// score m, the sum of exp(score - m), and Σ exp(score - m)·v [d]. Keys and values are read in
// slot order, all heads of a slot together. `scores` holds h × (end - begin) values, then
// kv × d for a slot widened from a float16 cache.
template <typename T>
inline __attribute__((always_inline)) void StmChunk(const RowData<T>& row, int64_t begin,
                                                    int64_t end, const KernelConstants<T>& k,
                                                    T* scores, T* max_out, T* sum_out, T* acc_out) {
  const int64_t stride = k.kv * k.d, d = k.d, n = end - begin;
  int64_t kv_offset[kMaxHeads];  // each query head's key/value head, as an offset in a slot
  for (int64_t head = 0; head < k.h; ++head) kv_offset[head] = head / k.group * d;
  // Rows ahead are requested early: the loops are bound by memory, not arithmetic.
  const bool half = row.stm_k16 != nullptr;
  const int64_t slot_bytes = stride * int64_t(half ? sizeof(at::Half) : sizeof(T));
  const int64_t ahead = 4, lines = std::max<int64_t>(1, slot_bytes / 64);
  const char* keys =
      half ? reinterpret_cast<const char*>(row.stm_k16) : reinterpret_cast<const char*>(row.stm_k);
  const char* values =
      half ? reinterpret_cast<const char*>(row.stm_v16) : reinterpret_cast<const char*>(row.stm_v);
  T* widened = scores + k.h * n;
  for (int64_t s = begin; s < end; ++s) {
    if (s + ahead < end) {
      const char* next = keys + (s + ahead) * slot_bytes;
      for (int64_t line = 0; line < lines; ++line) __builtin_prefetch(next + 64 * line);
    }
    const T* key = Slot(row.stm_k, row.stm_k16, s, stride, widened);
    for (int64_t head = 0; head < k.h; ++head) {
      scores[head * n + (s - begin)] = Dot(row.qr + head * d, key + kv_offset[head], d) * k.scale;
    }
  }
  for (int64_t head = 0; head < k.h; ++head) {
    T* sc = scores + head * n;
    T m = -std::numeric_limits<T>::infinity();
    for (int64_t i = 0; i < n; ++i) m = std::max(m, sc[i]);
    T total = 0;
    for (int64_t i = 0; i < n; ++i) sc[i] = KernelExp(sc[i] - m);
    for (int64_t i = 0; i < n; ++i) total += sc[i];
    max_out[head] = m;
    sum_out[head] = total;
  }
  std::fill_n(acc_out, k.h * d, T(0));
  for (int64_t s = begin; s < end; ++s) {
    if (s + ahead < end) {
      const char* next = values + (s + ahead) * slot_bytes;
      for (int64_t line = 0; line < lines; ++line) __builtin_prefetch(next + 64 * line);
    }
    const T* value = Slot(row.stm_v, row.stm_v16, s, stride, widened);
    for (int64_t head = 0; head < k.h; ++head) {
      const T p = scores[head * n + (s - begin)];
      const T* v = value + kv_offset[head];
      T* out = acc_out + head * d;
      for (int64_t j = 0; j < d; ++j) out[j] += p * v[j];
    }
  }
}

// Continuous attention (MODEL.md §4.5) of one head of one row: z [d], and the Gaussian's
// mean and variance.
template <typename T>
inline __attribute__((always_inline)) void LtmHead(const RowData<T>& row, int64_t head,
                                                   const KernelConstants<T>& k, T* weights, T* z,
                                                   T* mu_out, T* var_out) {
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

// The STM work of one step: chunk tasks [begin, end), each (row, chunk) of `chunks`.
template <typename T>
inline __attribute__((always_inline)) void RunChunks(
    const RowData<T>* rows, const KernelConstants<T>& k, const int64_t* chunk_row,
    const int64_t* chunk_begin, int64_t begin, int64_t end, T* max, T* sum, T* acc, T* scratch) {
  for (int64_t c = begin; c < end; ++c) {
    const RowData<T>& row = rows[chunk_row[c]];
    const int64_t first = chunk_begin[c], last = std::min(first + kChunkKeys, row.end);
    StmChunk(row, first, last, k, scratch, max + c * k.h, sum + c * k.h, acc + c * k.h * k.d);
  }
}

// Combines each (row, head)'s chunk partials into its STM output, and runs its LTM head.
template <typename T>
inline __attribute__((always_inline)) void RunHeads(const RowData<T>* rows,
                                                    const KernelConstants<T>& k,
                                                    const int64_t* first_chunk, int64_t begin,
                                                    int64_t end, const T* max, const T* sum,
                                                    const T* acc, T* stm_out, T* ltm_out, T* mu,
                                                    T* var, T* scratch) {
  const int64_t d = k.d;
  for (int64_t task = begin; task < end; ++task) {
    const int64_t r = task / k.h, head = task % k.h;
    T m = -std::numeric_limits<T>::infinity();
    for (int64_t c = first_chunk[r]; c < first_chunk[r + 1]; ++c)
      m = std::max(m, max[c * k.h + head]);
    T total = 0;
    T* out = stm_out + task * d;
    std::fill_n(out, d, T(0));
    for (int64_t c = first_chunk[r]; c < first_chunk[r + 1]; ++c) {
      const T w = std::exp(max[c * k.h + head] - m);
      total += w * sum[c * k.h + head];
      const T* a = acc + (c * k.h + head) * d;
      for (int64_t j = 0; j < d; ++j) out[j] += w * a[j];
    }
    const T inv = T(1) / total;
    for (int64_t j = 0; j < d; ++j) out[j] *= inv;
    if (rows[r].ltm_k != nullptr) {
      LtmHead(rows[r], head, k, scratch, ltm_out + task * d, mu + task, var + task);
    }
  }
}

// Compiled once per instruction set and picked at load time, so the inner loops use AVX2
// and FMA where the CPU has them while the binary still runs on any x86-64.
#if defined(__x86_64__) && defined(__GNUC__)
#define INFMEM_CPU_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define INFMEM_CPU_CLONES
#endif

INFMEM_CPU_CLONES void RunChunksF32(const RowData<float>* rows, const KernelConstants<float>& k,
                                    const int64_t* chunk_row, const int64_t* chunk_begin,
                                    int64_t begin, int64_t end, float* max, float* sum, float* acc,
                                    float* scratch) {
  RunChunks(rows, k, chunk_row, chunk_begin, begin, end, max, sum, acc, scratch);
}

INFMEM_CPU_CLONES void RunHeadsF32(const RowData<float>* rows, const KernelConstants<float>& k,
                                   const int64_t* first_chunk, int64_t begin, int64_t end,
                                   const float* max, const float* sum, const float* acc,
                                   float* stm_out, float* ltm_out, float* mu, float* var,
                                   float* scratch) {
  RunHeads(rows, k, first_chunk, begin, end, max, sum, acc, stm_out, ltm_out, mu, var, scratch);
}

void RunChunksOf(const RowData<float>* rows, const KernelConstants<float>& k,
                 const int64_t* chunk_row, const int64_t* chunk_begin, int64_t begin, int64_t end,
                 float* max, float* sum, float* acc, float* scratch) {
  RunChunksF32(rows, k, chunk_row, chunk_begin, begin, end, max, sum, acc, scratch);
}

void RunChunksOf(const RowData<double>* rows, const KernelConstants<double>& k,
                 const int64_t* chunk_row, const int64_t* chunk_begin, int64_t begin, int64_t end,
                 double* max, double* sum, double* acc, double* scratch) {
  RunChunks(rows, k, chunk_row, chunk_begin, begin, end, max, sum, acc, scratch);
}

void RunHeadsOf(const RowData<float>* rows, const KernelConstants<float>& k,
                const int64_t* first_chunk, int64_t begin, int64_t end, const float* max,
                const float* sum, const float* acc, float* stm_out, float* ltm_out, float* mu,
                float* var, float* scratch) {
  RunHeadsF32(rows, k, first_chunk, begin, end, max, sum, acc, stm_out, ltm_out, mu, var, scratch);
}

void RunHeadsOf(const RowData<double>* rows, const KernelConstants<double>& k,
                const int64_t* first_chunk, int64_t begin, int64_t end, const double* max,
                const double* sum, const double* acc, double* stm_out, double* ltm_out, double* mu,
                double* var, double* scratch) {
  RunHeads(rows, k, first_chunk, begin, end, max, sum, acc, stm_out, ltm_out, mu, var, scratch);
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
  for (int64_t r = 0; r < num_rows; ++r) {
    LayerState& ls = in.rows[r]->layers[l];
    // Full mode: the token's slot is its position, in a buffer that grows (doubling).
    const int64_t slot = full ? (*in.offset)[r] : seg + (*in.offset)[r];
    if (full) EnsureKvCapacity(ls, slot, slot + 1);
    const bool half = ls.stm_k.scalar_type() == torch::kHalf;
    if (half) {  // rounded to float16 (a float16 KV cache; float kernels only)
      ls.stm_k.narrow(0, slot, 1).copy_(k[r]);
      ls.stm_v.narrow(0, slot, 1).copy_(v[r]);
    } else {
      std::memcpy(ls.stm_k.data_ptr<T>() + slot * kv * d, k.data_ptr<T>() + r * kv * d,
                  sizeof(T) * kv * d);
      std::memcpy(ls.stm_v.data_ptr<T>() + slot * kv * d, v.data_ptr<T>() + r * kv * d,
                  sizeof(T) * kv * d);
    }
    if (infinite) {
      std::memcpy(ls.inputs.data_ptr<T>() + slot * e, xn.data_ptr<T>() + r * e, sizeof(T) * e);
    }
    RowData<T>& row = data[r];
    if (half) {
      row.stm_k = row.stm_v = nullptr;
      row.stm_k16 = ls.stm_k.data_ptr<at::Half>();
      row.stm_v16 = ls.stm_v.data_ptr<at::Half>();
    } else {
      row.stm_k = ls.stm_k.data_ptr<T>();
      row.stm_v = ls.stm_v.data_ptr<T>();
    }
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
  torch::Tensor stm_out = torch::empty({num_rows, 1, h * d}, opts);
  torch::Tensor ltm_out = torch::zeros({num_rows, 1, h * d}, opts);
  std::vector<T> mu(num_rows * h), var(num_rows * h);
  // The rows' valid key slots in chunks of kChunkKeys: one task each.
  std::vector<int64_t> chunk_row, chunk_begin, first_chunk = {0};
  for (int64_t r = 0; r < num_rows; ++r) {
    for (int64_t s = data[r].begin; s < data[r].end; s += kChunkKeys) {
      chunk_row.push_back(r);
      chunk_begin.push_back(s);
    }
    first_chunk.push_back(static_cast<int64_t>(chunk_row.size()));
  }
  const int64_t chunks = static_cast<int64_t>(chunk_row.size());
  std::vector<T> max(chunks * h), sum(chunks * h), acc(chunks * h * d);
  // Split across threads only where each share reads enough (decode_linear.h).
  const int64_t chunk_bytes = 2 * kChunkKeys * kv * d * in.rows[0]->layers[l].stm_k.element_size();
  at::parallel_for(0, chunks, /*grain_size=*/std::max<int64_t>(1, kMinParallelBytes / chunk_bytes),
                   [&](int64_t begin, int64_t end) {
                     std::vector<T> scratch(h * kChunkKeys + kv * d);
                     RunChunksOf(data.data(), kc, chunk_row.data(), chunk_begin.data(), begin, end,
                                 max.data(), sum.data(), acc.data(), scratch.data());
                   });
  // A head's task reads its LTM keys and values, or only its chunk partials.
  const int64_t head_bytes = (infinite ? 2 * kc.n : chunks) * d * int64_t(sizeof(T));
  at::parallel_for(
      0, num_rows * h,
      /*grain_size=*/std::max<int64_t>(4, kMinParallelBytes / std::max<int64_t>(head_bytes, 1)),
      [&](int64_t begin, int64_t end) {
        std::vector<T> scratch(std::max<int64_t>(kc.n, 1));
        RunHeadsOf(data.data(), kc, first_chunk.data(), begin, end, max.data(), sum.data(),
                   acc.data(), stm_out.data_ptr<T>(), ltm_out.data_ptr<T>(), mu.data(), var.data(),
                   scratch.data());
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
  if (!use_kernel || !in.q.device().is_cpu() || !StateIsContiguous(in) ||
      in.impl->config.n_heads > kMaxKernelHeads) {
    return OpsAttention(in);
  }
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
