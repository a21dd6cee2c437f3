#include "server/model/int8_linear.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace infmem::model {
namespace {

#if defined(__x86_64__) && defined(__GNUC__)
#define INFMEM_CPU_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define INFMEM_CPU_CLONES
#endif

// y[r, o] = s[o] · Σ_i q[o, i] x[r, i] for o in [begin, end). Sixteen partial sums per dot
// product, so the compiler vectorises the int8 → float conversion and the multiply-adds
// without reordering a reduction; compiled for AVX2/FMA and for any x86-64, picked at load.
INFMEM_CPU_CLONES void Int8Rows(const int8_t* q, const float* scale, const float* x, int64_t rows,
                                int64_t in, int64_t begin, int64_t end, int64_t out, float* y) {
  constexpr int kLanes = 16;
  for (int64_t o = begin; o < end; ++o) {
    const int8_t* w = q + o * in;
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x + r * in;
      float acc[kLanes] = {};
      int64_t i = 0;
      for (; i + kLanes <= in; i += kLanes) {
        for (int j = 0; j < kLanes; ++j) acc[j] += static_cast<float>(w[i + j]) * xr[i + j];
      }
      float sum = 0;
      for (int j = 0; j < kLanes; ++j) sum += acc[j];
      for (; i < in; ++i) sum += static_cast<float>(w[i]) * xr[i];
      y[r * out + o] = sum * scale[o];
    }
  }
}

}  // namespace

Int8Weight QuantizeInt8InPlace(torch::Tensor& w) {
  torch::NoGradGuard no_grad;
  torch::Tensor scale = w.abs().amax(1).clamp_min(1e-30) / 127.0;  // [out]
  torch::Tensor q = torch::round(w / scale.unsqueeze(1)).clamp(-127, 127);
  w.copy_(q * scale.unsqueeze(1));
  return {q.to(torch::kInt8).contiguous(), scale.to(torch::kFloat32).contiguous()};
}

torch::Tensor Int8Linear(const torch::Tensor& x, const Int8Weight& w) {
  const int64_t in = w.q.size(1), out = w.q.size(0);
  const torch::Tensor flat = x.reshape({-1, in}).contiguous();
  const int64_t rows = flat.size(0);
  std::vector<int64_t> shape = x.sizes().vec();
  shape.back() = out;
  torch::Tensor y = torch::empty({rows, out}, x.options());
  const int8_t* q = w.q.data_ptr<int8_t>();
  const float* s = w.scale.data_ptr<float>();
  const float* xp = flat.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  // Output channels split across threads; each reads its weight rows once.
  at::parallel_for(
      0, out, /*grain_size=*/std::max<int64_t>(16, 4096 / std::max<int64_t>(in, 1)),
      [&](int64_t begin, int64_t end) { Int8Rows(q, s, xp, rows, in, begin, end, out, yp); });
  return y.view(shape);
}

}  // namespace infmem::model
