#include "server/model/kernels/decode_ops.h"

#include <cmath>
#include <cstdint>

#include "server/model/kernels/decode_linear.h"

namespace infmem::model {
namespace {

// True when `x` takes the fused path: float32 on the CPU, no autograd, rows FusedRows takes.
bool Fused(const torch::Tensor& x) {
  return x.is_cpu() && x.scalar_type() == torch::kFloat32 && !torch::GradMode::is_enabled() &&
         x.dim() >= 1 && x.size(-1) > 0 && FusedRows(x.numel() / x.size(-1));
}

}  // namespace

torch::Tensor RmsNorm(const torch::Tensor& x, const torch::Tensor& w, double eps) {
  if (!Fused(x) || w.scalar_type() != torch::kFloat32 || !w.is_cpu()) {
    return x * torch::rsqrt(x.pow(2).mean(-1, /*keepdim=*/true) + eps) * w;
  }
  const torch::Tensor xc = x.contiguous(), wc = w.contiguous();
  torch::Tensor y = torch::empty_like(xc);
  const int64_t e = x.size(-1), rows = e == 0 ? 0 : x.numel() / e;
  const float* xp = xc.data_ptr<float>();
  const float* wp = wc.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  for (int64_t r = 0; r < rows; ++r, xp += e, yp += e) {
    float sum = 0;
    for (int64_t i = 0; i < e; ++i) sum += xp[i] * xp[i];
    const float inv = 1.0f / std::sqrt(sum / static_cast<float>(e) + static_cast<float>(eps));
    for (int64_t i = 0; i < e; ++i) yp[i] = xp[i] * inv * wp[i];
  }
  return y;
}

torch::Tensor Rope(const torch::Tensor& x, const RopeTables& rope, RopeLayout layout) {
  const bool fused = x.dim() == 4 && x.is_cpu() && x.scalar_type() == torch::kFloat32 &&
                     rope.cos.scalar_type() == torch::kFloat32 && !torch::GradMode::is_enabled() &&
                     FusedRows(x.size(0) * x.size(1));
  if (!fused) {
    if (layout == RopeLayout::kHalf) {
      const int64_t half = x.size(-1) / 2;
      torch::Tensor x0 = x.narrow(-1, 0, half), x1 = x.narrow(-1, half, half);
      return torch::cat({x0 * rope.cos - x1 * rope.sin, x0 * rope.sin + x1 * rope.cos}, -1);
    }
    auto sizes = x.sizes().vec();
    sizes.back() /= 2;
    sizes.push_back(2);
    torch::Tensor pairs = x.reshape(sizes);
    torch::Tensor x0 = pairs.select(-1, 0), x1 = pairs.select(-1, 1);
    return torch::stack({x0 * rope.cos - x1 * rope.sin, x0 * rope.sin + x1 * rope.cos}, -1)
        .flatten(-2);
  }
  // x [R, T, heads, d]; tables [R, T, 1, d/2]: one (cos, sin) row per (R, T).
  const torch::Tensor xc = x.contiguous();
  const torch::Tensor cos = rope.cos.contiguous(), sin = rope.sin.contiguous();
  torch::Tensor y = torch::empty_like(xc);
  const int64_t positions = x.size(0) * x.size(1), heads = x.size(2), d = x.size(3);
  const int64_t half = d / 2;
  const float* xp = xc.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  for (int64_t p = 0; p < positions; ++p) {
    const float* c = cos.data_ptr<float>() + p * half;
    const float* s = sin.data_ptr<float>() + p * half;
    for (int64_t head = 0; head < heads; ++head, xp += d, yp += d) {
      for (int64_t j = 0; j < half; ++j) {
        const int64_t i0 = layout == RopeLayout::kHalf ? j : 2 * j;
        const int64_t i1 = layout == RopeLayout::kHalf ? j + half : 2 * j + 1;
        const float x0 = xp[i0], x1 = xp[i1];
        yp[i0] = x0 * c[j] - x1 * s[j];
        yp[i1] = x0 * s[j] + x1 * c[j];
      }
    }
  }
  return y;
}

torch::Tensor SiluMul(const torch::Tensor& a, const torch::Tensor& b) {
  if (!Fused(a) || !b.is_cpu() || b.scalar_type() != torch::kFloat32 || a.sizes() != b.sizes()) {
    return torch::silu(a) * b;
  }
  const torch::Tensor ac = a.contiguous(), bc = b.contiguous();
  torch::Tensor y = torch::empty_like(ac);
  const float* ap = ac.data_ptr<float>();
  const float* bp = bc.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  for (int64_t i = 0, n = a.numel(); i < n; ++i) yp[i] = ap[i] / (1.0f + std::exp(-ap[i])) * bp[i];
  return y;
}

}  // namespace infmem::model
