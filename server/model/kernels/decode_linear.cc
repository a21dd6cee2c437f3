#include "server/model/kernels/decode_linear.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define INFMEM_AVX2_KERNEL 1
#define INFMEM_AVX2 __attribute__((target("avx2,fma")))
#endif

namespace infmem::model {
namespace {

// One call's activations and outputs: y[r, o] = scale[o] · Σ_i w[o, i] x[r, i].
struct Problem {
  const float* x;
  const float* scale;  // null: 1
  int64_t rows, in, out;
  float* y;
};

inline float Widen(float v) { return v; }
inline float Widen(int8_t v) { return static_cast<float>(v); }
inline float Widen(uint16_t bfloat16_bits) {
  const uint32_t bits = static_cast<uint32_t>(bfloat16_bits) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

// Output channels [begin, end), any CPU. Eight partial sums per dot product, so the compiler
// vectorises the widening and the multiply-adds without reordering a reduction.
template <typename T>
void ChannelsPortable(const T* w, const Problem& p, int64_t begin, int64_t end) {
  constexpr int kLanes = 8;
  for (int64_t o = begin; o < end; ++o) {
    const T* wo = w + o * p.in;
    for (int64_t r = 0; r < p.rows; ++r) {
      const float* x = p.x + r * p.in;
      float acc[kLanes] = {};
      int64_t i = 0;
      for (; i + kLanes <= p.in; i += kLanes) {
        for (int j = 0; j < kLanes; ++j) acc[j] += Widen(wo[i + j]) * x[i + j];
      }
      float sum = 0;
      for (int j = 0; j < kLanes; ++j) sum += acc[j];
      for (; i < p.in; ++i) sum += Widen(wo[i]) * x[i];
      p.y[r * p.out + o] = p.scale ? sum * p.scale[o] : sum;
    }
  }
}

#ifdef INFMEM_AVX2_KERNEL
INFMEM_AVX2 inline __m256 Load8(const float* w) { return _mm256_loadu_ps(w); }
INFMEM_AVX2 inline __m256 Load8(const int8_t* w) {
  const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(w));
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(bytes));
}
INFMEM_AVX2 inline __m256 Load8(const uint16_t* w) {
  const __m128i halves = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(halves), 16));
}
INFMEM_AVX2 inline float Sum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Output channels [begin, end) with AVX2 and FMA: four channels at a time, so each load of
// the activations serves four weight rows (which stay in L1 for the next activation row).
template <typename T>
INFMEM_AVX2 void ChannelsAvx2(const T* w, const Problem& p, int64_t begin, int64_t end) {
  const int64_t in = p.in, body = in - in % 8;
  int64_t o = begin;
  for (; o + 4 <= end; o += 4) {
    const T* w0 = w + o * in;
    const T* w1 = w0 + in;
    const T* w2 = w1 + in;
    const T* w3 = w2 + in;
    // The next four rows follow these in memory: ask for them while these are summed (a
    // decode step's matrices are too small for the hardware prefetcher to get going).
    const char* next = reinterpret_cast<const char*>(w0 + 4 * in);
    for (int64_t r = 0; r < p.rows; ++r) {
      const float* x = p.x + r * in;
      __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
      for (int64_t i = 0; i < body; i += 8) {
        if (r == 0) {
          for (size_t b = 0; b < 4 * 8 * sizeof(T); b += 64) {
            _mm_prefetch(next + 4 * i * sizeof(T) + b, _MM_HINT_T0);
          }
        }
        const __m256 xv = _mm256_loadu_ps(x + i);
        s0 = _mm256_fmadd_ps(Load8(w0 + i), xv, s0);
        s1 = _mm256_fmadd_ps(Load8(w1 + i), xv, s1);
        s2 = _mm256_fmadd_ps(Load8(w2 + i), xv, s2);
        s3 = _mm256_fmadd_ps(Load8(w3 + i), xv, s3);
      }
      float t[4] = {Sum8(s0), Sum8(s1), Sum8(s2), Sum8(s3)};
      for (int64_t i = body; i < in; ++i) {
        t[0] += Widen(w0[i]) * x[i];
        t[1] += Widen(w1[i]) * x[i];
        t[2] += Widen(w2[i]) * x[i];
        t[3] += Widen(w3[i]) * x[i];
      }
      for (int k = 0; k < 4; ++k) p.y[r * p.out + o + k] = p.scale ? t[k] * p.scale[o + k] : t[k];
    }
  }
  if (o < end) ChannelsPortable(w, p, o, end);
}

bool HaveAvx2() {
  static const bool have = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return have;
}
#endif

template <typename T>
void Channels(const T* w, const Problem& p, int64_t begin, int64_t end) {
#ifdef INFMEM_AVX2_KERNEL
  if (HaveAvx2()) return ChannelsAvx2(w, p, begin, end);
#endif
  ChannelsPortable(w, p, begin, end);
}

template <typename T>
void Run(const T* w, const Problem& p) {
  // Output channels split across the intra-op threads (when each share is worth a thread) in
  // whole blocks of four, so a channel takes the same path whatever the split; each share
  // reads its weight rows once.
  const int64_t row_bytes = std::max<int64_t>(p.in * int64_t(sizeof(T)), 1);
  const int64_t blocks = (p.out + 3) / 4;
  at::parallel_for(
      0, blocks, /*grain_size=*/std::max<int64_t>(4, kMinParallelBytes / row_bytes / 4),
      [&](int64_t begin, int64_t end) { Channels(w, p, begin * 4, std::min(end * 4, p.out)); });
}

thread_local int64_t decode_step_rows = 0;  // the rows of this thread's decode step (0: none)

}  // namespace

bool FusedRows(int64_t rows) { return rows <= std::max(kMaxDecodeRows, decode_step_rows); }

DecodeStepScope::DecodeStepScope(int64_t rows) : outer_(decode_step_rows) {
  decode_step_rows = rows;
}
DecodeStepScope::~DecodeStepScope() { decode_step_rows = outer_; }

DecodeWeight PrepareDecodeWeight(torch::Tensor& w, DecodeFormat format) {
  torch::NoGradGuard no_grad;
  switch (format) {
    case DecodeFormat::kFloat32:
      return {format, w, {}};
    case DecodeFormat::kBfloat16: {
      torch::Tensor b = w.to(torch::kBFloat16).contiguous();  // round to nearest even
      w.copy_(b.to(torch::kFloat32));
      return {format, b, {}};
    }
    case DecodeFormat::kInt8: {
      torch::Tensor scale = w.abs().amax(1).clamp_min(1e-30) / 127.0;  // [out]
      torch::Tensor q = torch::round(w / scale.unsqueeze(1)).clamp(-127, 127);
      w.copy_(q * scale.unsqueeze(1));
      return {format, q.to(torch::kInt8).contiguous(), scale.to(torch::kFloat32).contiguous()};
    }
  }
  return {};
}

torch::Tensor DecodeLinear(const torch::Tensor& x, const DecodeWeight& w) {
  const int64_t in = w.data.size(1), out = w.data.size(0);
  const torch::Tensor flat = x.reshape({-1, in}).contiguous();
  std::vector<int64_t> shape = x.sizes().vec();
  shape.back() = out;
  torch::Tensor y = torch::empty({flat.size(0), out}, x.options());
  Problem p{flat.data_ptr<float>(), nullptr, flat.size(0), in, out, y.data_ptr<float>()};
  switch (w.format) {
    case DecodeFormat::kFloat32:
      Run(w.data.data_ptr<float>(), p);
      break;
    case DecodeFormat::kBfloat16:
      Run(reinterpret_cast<const uint16_t*>(w.data.data_ptr<at::BFloat16>()), p);
      break;
    case DecodeFormat::kInt8:
      p.scale = w.scale.data_ptr<float>();
      Run(w.data.data_ptr<int8_t>(), p);
      break;
  }
  return y.view(shape);
}

}  // namespace infmem::model
