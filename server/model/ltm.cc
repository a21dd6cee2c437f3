#include "server/model/ltm.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "server/common/hash.h"

namespace infmem::model {
namespace {

constexpr double kMinVar = 1e-4;
const double kInvSqrt2Pi = 1.0 / std::sqrt(2.0 * M_PI);

torch::TensorOptions F64() { return torch::dtype(torch::kFloat64).device(torch::kCPU); }

// Positions (i - 0.5) / n, i = 1..n.
torch::Tensor Midpoints(int n) { return (torch::arange(1, n + 1, F64()) - 0.5) / n; }

}  // namespace

BasisParams MakeBasis(const LtmConfig& ltm) {
  const int half = ltm.num_basis / 2;
  torch::Tensor c = torch::linspace(0.0, 1.0, half, F64());
  torch::Tensor w = torch::tensor(ltm.widths, F64());
  // j = 2k + s: repeat each centre for both widths, tile the widths.
  return {c.repeat_interleave(2), w.repeat({half})};
}

torch::Tensor EvaluateBasis(const BasisParams& basis, const torch::Tensor& t) {
  torch::Tensor diff = t.unsqueeze(0) - basis.centres.unsqueeze(1);  // [N, n]
  torch::Tensor w = basis.widths.unsqueeze(1);
  return torch::exp(-0.5 * (diff / w).pow(2)) * (kInvSqrt2Pi / w);
}

torch::Tensor RidgeFitMatrix(const BasisParams& basis, const torch::Tensor& t, double lambda) {
  const int64_t n = t.size(0);
  const int64_t pad = n / 2;  // k/n for k = 1..n/2 covers half a unit on each side
  torch::Tensor k = torch::arange(1, pad + 1, F64()) / static_cast<double>(n);
  torch::Tensor all_t = torch::cat({-k.flip(0), t.to(torch::kFloat64), 1.0 + k});
  torch::Tensor f_all = EvaluateBasis(basis, all_t);  // [N, n + 2 pad]
  torch::Tensor f_real = f_all.narrow(1, pad, n);     // [N, n]
  const int64_t num_basis = basis.centres.size(0);
  torch::Tensor a = f_all.matmul(f_all.t()) + lambda * torch::eye(num_basis, F64());
  torch::Tensor chol = torch::linalg_cholesky(a);
  return torch::cholesky_solve(f_real, chol);
}

LtmConstants MakeLtmConstants(const LtmConfig& ltm, int segment_length,
                              const torch::TensorOptions& options) {
  LtmConstants out;
  out.basis64 = MakeBasis(ltm);
  const int len = segment_length;
  const int m = ltm.num_samples;
  const double tau = ltm.tau;
  torch::Tensor old_pos = tau * torch::arange(1, m + 1, F64()) / m;
  torch::Tensor new_pos = tau + (1.0 - tau) * torch::arange(1, len + 1, F64()) / len;
  torch::Tensor uniform_u = torch::arange(1, m + 1, F64()) / m;
  out.centres = out.basis64.centres.to(options);
  out.widths_sq = out.basis64.widths.pow(2).to(options);
  out.g_first = LtmMatrix(RidgeFitMatrix(out.basis64, Midpoints(len), ltm.ridge_lambda), options);
  out.g_inf = LtmMatrix(
      RidgeFitMatrix(out.basis64, torch::cat({old_pos, new_pos}), ltm.ridge_lambda), options);
  out.psi_uniform = LtmMatrix(EvaluateBasis(out.basis64, uniform_u), options);
  return out;
}

torch::Tensor LtmMatrix(const torch::Tensor& m64, const torch::TensorOptions& options) {
  torch::Tensor m = m64.to(options).contiguous();
  if (m.scalar_type() == torch::kFloat32) {
    m.masked_fill_(m.abs() < std::numeric_limits<float>::min(), 0.0);
  }
  return m;
}

// Returns r_j = N(μ; c_j, σ² + w_j²), the Gaussian N(μ, σ²) integrated against each basis
// function ψ_j: mu and var [..., h] -> [..., h, N].
static torch::Tensor BasisWeights(const torch::Tensor& mu, const torch::Tensor& var,
                                  const torch::Tensor& centres, const torch::Tensor& widths_sq) {
  torch::Tensor total = var.unsqueeze(-1) + widths_sq;
  return torch::exp(-0.5 * (mu.unsqueeze(-1) - centres).pow(2) / total) * torch::rsqrt(total) *
         kInvSqrt2Pi;
}

ContinuousAttentionOut ContinuousAttention(const torch::Tensor& q, const torch::Tensor& k,
                                           const torch::Tensor& v, const torch::Tensor& w_mu,
                                           const torch::Tensor& w_sigma,
                                           const torch::Tensor& centres,
                                           const torch::Tensor& widths_sq) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(2)));
  // s[t, h, n] = K_h[n] · q_h[t] / √d
  torch::Tensor s = torch::einsum("thd,nhd->thn", {q, k}) * scale;
  torch::Tensor mu = torch::sigmoid(torch::matmul(s, w_mu));  // [T, h]
  torch::Tensor var = torch::clamp_min(torch::softplus(torch::matmul(s, w_sigma)), kMinVar);
  torch::Tensor z = torch::einsum("thn,nhd->thd", {BasisWeights(mu, var, centres, widths_sq), v});
  return {z, mu, var};
}

ContinuousAttentionOut BatchedContinuousAttention(const torch::Tensor& q, const torch::Tensor& k,
                                                  const torch::Tensor& v, const torch::Tensor& w_mu,
                                                  const torch::Tensor& w_sigma,
                                                  const torch::Tensor& centres,
                                                  const torch::Tensor& widths_sq) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(2)));
  // Products and sums rather than einsum (see DecodeAttention in model.cc).
  torch::Tensor s = (k * q.unsqueeze(1)).sum(-1).transpose(1, 2) * scale;  // [R, h, N]
  torch::Tensor mu = torch::sigmoid(torch::matmul(s, w_mu));               // [R, h]
  torch::Tensor var = torch::clamp_min(torch::softplus(torch::matmul(s, w_sigma)), kMinVar);
  torch::Tensor weights = BasisWeights(mu, var, centres, widths_sq);     // [R, h, N]
  torch::Tensor z = (weights.transpose(1, 2).unsqueeze(-1) * v).sum(1);  // [R, h, d]
  return {z, mu, var};
}

torch::Tensor StickyMass(const torch::Tensor& mu, const torch::Tensor& var, int bins) {
  torch::NoGradGuard no_grad;
  torch::Tensor edges = torch::linspace(0.0, 1.0, bins + 1, mu.options());
  torch::Tensor m = mu.detach().reshape({-1, 1});
  torch::Tensor sd = var.detach().sqrt().reshape({-1, 1});
  torch::Tensor cdf = 0.5 * (1.0 + torch::erf((edges - m) / (sd * std::sqrt(2.0))));
  return (cdf.narrow(1, 1, bins) - cdf.narrow(1, 0, bins)).sum(0);
}

torch::Tensor BatchedStickyMass(const torch::Tensor& mu, const torch::Tensor& var, int bins) {
  torch::NoGradGuard no_grad;
  torch::Tensor edges = torch::linspace(0.0, 1.0, bins + 1, mu.options());
  torch::Tensor m = mu.detach().unsqueeze(-1);  // [R, h, 1]
  torch::Tensor sd = var.detach().sqrt().unsqueeze(-1);
  torch::Tensor cdf = 0.5 * (1.0 + torch::erf((edges - m) / (sd * std::sqrt(2.0))));
  return (cdf.narrow(2, 1, bins) - cdf.narrow(2, 0, bins)).sum(1);  // [R, bins]
}

torch::Tensor DrawStickyPositions(const torch::Tensor& hist, int count, uint64_t seed) {
  torch::Tensor h = hist.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  const int bins = static_cast<int>(h.size(0));
  const double* p = h.data_ptr<double>();
  std::vector<double> cdf(bins);
  double total = 0.0;
  for (int i = 0; i < bins; ++i) {
    total += std::max(p[i], 0.0);
    cdf[i] = total;
  }
  std::vector<double> u(count);
  if (!(total > 0.0) || !std::isfinite(total)) {
    for (int m = 0; m < count; ++m) u[m] = static_cast<double>(m + 1) / count;
  } else {
    uint64_t state = seed;
    for (int m = 0; m < count; ++m) {
      // 53 random bits -> uniform in [0, 1).
      const double x = static_cast<double>(SplitMix64(state) >> 11) * 0x1.0p-53 * total;
      const int bin = static_cast<int>(std::upper_bound(cdf.begin(), cdf.end(), x) - cdf.begin());
      u[m] = static_cast<double>(std::min(bin, bins - 1)) / bins;  // the bin's left edge
    }
    std::sort(u.begin(), u.end());
  }
  return torch::tensor(u, F64());
}

torch::Tensor KlToPrior(const torch::Tensor& var, double sigma0) {
  torch::Tensor ratio = var / (sigma0 * sigma0);
  return (0.5 * (ratio - torch::log(ratio) - 1.0)).sum();
}

}  // namespace infmem::model
