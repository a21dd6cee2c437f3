// The LTM maths of MODEL.md §4 checked against independent computations: quadrature for the
// closed-form attention, a direct solve for the Cholesky fit, finite differences for the
// gradient, and reconstruction of signals through the unbounded update.
#include "server/model/ltm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>

namespace infmem::model {
namespace {

const auto kF64 = torch::dtype(torch::kFloat64);

LtmConfig Config(int n, double w0, double w1) {
  LtmConfig c;
  c.num_basis = n;
  c.num_samples = n;
  c.widths = {w0, w1};
  return c;
}

TEST(LtmTest, BasisLayoutHasWidthVaryingFastest) {
  BasisParams b = MakeBasis(Config(8, 0.01, 0.05));
  ASSERT_EQ(b.centres.size(0), 8);
  EXPECT_DOUBLE_EQ(b.centres[0].item<double>(), 0.0);
  EXPECT_DOUBLE_EQ(b.centres[1].item<double>(), 0.0);
  EXPECT_DOUBLE_EQ(b.centres[7].item<double>(), 1.0);
  EXPECT_DOUBLE_EQ(b.widths[0].item<double>(), 0.01);
  EXPECT_DOUBLE_EQ(b.widths[1].item<double>(), 0.05);
  EXPECT_DOUBLE_EQ(b.widths[2].item<double>(), 0.01);
}

// E_p[ψ_j] for p = N(μ, σ²) in closed form against trapezoidal quadrature on a fine grid.
TEST(LtmTest, ClosedFormExpectationMatchesQuadrature) {
  BasisParams basis = MakeBasis(Config(16, 0.05, 0.1));
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<double> mu_dist(0.0, 1.0),
      logvar_dist(std::log(1e-3), std::log(0.05));
  const int64_t points = 200001;
  torch::Tensor grid = torch::linspace(-3.0, 4.0, points, kF64);
  const double dx = 7.0 / (points - 1);
  torch::Tensor trapezoid = torch::full({points}, dx, kF64);
  trapezoid[0] = trapezoid[-1] = dx / 2;
  torch::Tensor psi = EvaluateBasis(basis, grid) * trapezoid;  // [N, points], weights folded in
  const int n = 16;
  double worst = 0;
  for (int trial = 0; trial < 50; ++trial) {
    const double mu = mu_dist(rng), var = std::exp(logvar_dist(rng));
    // One head whose score is s = 1, with w_mu = logit(μ) and w_sigma = softplus⁻¹(σ²) on
    // that basis index, so the attention's Gaussian is exactly N(μ, σ²); V = I reads r out.
    torch::Tensor w_mu = torch::zeros({n}, kF64), w_sigma = torch::zeros({n}, kF64);
    w_mu[0] = std::log(mu / (1 - mu));
    w_sigma[0] = std::log(std::expm1(var));
    torch::Tensor v = torch::eye(n, kF64).view({n, 1, n});  // d = n: z_j = r_j
    torch::Tensor qd = torch::zeros({1, 1, n}, kF64);
    qd[0][0][0] = 1.0;
    torch::Tensor kd = torch::zeros({n, 1, n}, kF64);
    kd[0][0][0] = std::sqrt(static_cast<double>(n));  // undo the 1/√d scaling: s_0 = 1
    auto out = ContinuousAttention(qd, kd, v, w_mu, w_sigma, basis.centres, basis.widths.pow(2));
    ASSERT_NEAR(out.mu.item<double>(), mu, 1e-12);
    ASSERT_NEAR(out.var.item<double>(), std::max(var, 1e-4), 1e-12);
    torch::Tensor closed = out.z.view({n});
    torch::Tensor p = torch::exp(-0.5 * (grid - mu).pow(2) / var) / std::sqrt(2 * M_PI * var);
    torch::Tensor quad = torch::matmul(psi, p);  // [N]
    torch::Tensor rel = (closed - quad).abs() / quad.abs();
    rel = rel.masked_fill(quad < 1e-8, 0.0);
    worst = std::max(worst, rel.max().item<double>());
  }
  std::printf("closed form vs quadrature: worst relative error %.3g\n", worst);
  EXPECT_LT(worst, 1e-5);
}

TEST(LtmTest, CholeskyFitMatchesDirectSolve) {
  LtmConfig c = Config(32, 0.01, 0.05);
  c.ridge_lambda = 0.5;
  BasisParams basis = MakeBasis(c);
  torch::Tensor t = (torch::arange(1, 65, kF64) - 0.5) / 64;
  torch::Tensor g = RidgeFitMatrix(basis, t, c.ridge_lambda);
  // Direct: the same normal equations with an LU solve.
  const int64_t n = 64, pad = 32;
  torch::Tensor k = torch::arange(1, pad + 1, kF64) / double(n);
  torch::Tensor all = torch::cat({-k.flip(0), t, 1 + k});
  torch::Tensor f = EvaluateBasis(basis, all);
  torch::Tensor a = f.matmul(f.t()) + c.ridge_lambda * torch::eye(32, kF64);
  torch::Tensor direct = torch::linalg_solve(a, f.narrow(1, pad, n));
  const double rel = ((g - direct).abs().max() / direct.abs().max()).item<double>();
  std::printf("Cholesky vs direct solve: relative difference %.3g\n", rel);
  EXPECT_LT(rel, 1e-9);
}

// A smooth signal sampled at L points is reconstructed by its N-basis fit.
TEST(LtmTest, RidgeFitReconstructsASmoothSignal) {
  LtmConfig c = Config(128, 0.01, 0.05);
  c.ridge_lambda = 1e-3;
  BasisParams basis = MakeBasis(c);
  const int len = 128;
  torch::Tensor t = (torch::arange(1, len + 1, kF64) - 0.5) / len;
  torch::Tensor x = torch::stack({torch::sin(2 * M_PI * t), torch::cos(3 * M_PI * t), t * t}, 1);
  torch::Tensor b = torch::matmul(RidgeFitMatrix(basis, t, c.ridge_lambda), x);  // [N, 3]
  torch::Tensor rec = torch::matmul(EvaluateBasis(basis, t).t(), b);
  const double err = ((rec - x).pow(2).mean().sqrt() / x.pow(2).mean().sqrt()).item<double>();
  // The zero pseudo-targets past the ends pull the fit towards zero at the edges only.
  torch::Tensor inner = (t > 0.05) & (t < 0.95);
  torch::Tensor d = (rec - x).index({inner}), xi = x.index({inner});
  const double inner_err = (d.pow(2).mean().sqrt() / xi.pow(2).mean().sqrt()).item<double>();
  std::printf("fit of a smooth signal: relative RMS error %.3g overall, %.3g inside [0.05, 0.95]\n",
              err, inner_err);
  EXPECT_LT(err, 0.1);
  EXPECT_LT(inner_err, 0.02);
}

// After k unbounded updates (old signal squeezed into [0, τ]) the first segment's content
// is still recoverable from the region it was squeezed into.
TEST(LtmTest, OldestContentSurvivesUnboundedUpdates) {
  LtmConfig c = Config(128, 0.01, 0.05);
  c.ridge_lambda = 1e-3;
  c.tau = 0.75;
  const int len = 64;
  LtmConstants k = MakeLtmConstants(c, len, kF64);
  torch::Tensor mid = (torch::arange(1, len + 1, kF64) - 0.5) / len;
  torch::Tensor first = torch::stack({torch::sin(2 * M_PI * mid), torch::cos(2 * M_PI * mid)}, 1);
  torch::Tensor b = torch::matmul(k.g_first, first);
  for (int update = 1; update <= 3; ++update) {
    torch::Tensor old = torch::matmul(k.psi_uniform.t(), b);
    torch::Tensor fresh = torch::zeros({len, 2}, kF64);  // new segments carry nothing
    b = torch::matmul(k.g_inf, torch::cat({old, fresh}));
    // The first segment now lives in [0, τ^update].
    const double span = std::pow(c.tau, update);
    torch::Tensor rec = torch::matmul(EvaluateBasis(k.basis64, mid * span).t(), b);
    const double err =
        ((rec - first).pow(2).mean().sqrt() / first.pow(2).mean().sqrt()).item<double>();
    std::printf("after %d unbounded updates: relative RMS error of the first segment %.3g\n",
                update, err);
    EXPECT_LT(err, 0.35);
  }
}

TEST(LtmTest, ContinuousAttentionGradientMatchesFiniteDifferences) {
  const int n = 12, h = 2, d = 3, t = 4;
  BasisParams basis = MakeBasis(Config(n, 0.05, 0.1));
  torch::manual_seed(0);
  torch::Tensor q = torch::randn({t, h, d}, kF64).requires_grad_();
  torch::Tensor k = torch::randn({n, h, d}, kF64).requires_grad_();
  torch::Tensor v = torch::randn({n, h, d}, kF64).requires_grad_();
  torch::Tensor w_mu = (0.3 * torch::randn({n}, kF64)).requires_grad_();
  torch::Tensor w_sigma = (0.3 * torch::randn({n}, kF64)).requires_grad_();
  torch::Tensor proj = torch::randn({t, h, d}, kF64);  // a random linear functional of z
  auto loss_of = [&]() {
    auto out = ContinuousAttention(q, k, v, w_mu, w_sigma, basis.centres, basis.widths.pow(2));
    return (out.z * proj).sum() + KlToPrior(out.var, 0.05) * 1e-3;
  };
  loss_of().backward();
  double worst = 0;
  const double eps = 1e-6;
  for (torch::Tensor* p : {&q, &k, &v, &w_mu, &w_sigma}) {
    torch::Tensor analytic = p->grad().clone();
    torch::Tensor flat = p->detach().view({-1});
    for (int64_t i = 0; i < flat.numel(); ++i) {
      const double orig = flat[i].item<double>();
      double plus, minus;
      {
        torch::NoGradGuard g;
        flat[i] = orig + eps;
        plus = loss_of().item<double>();
        flat[i] = orig - eps;
        minus = loss_of().item<double>();
        flat[i] = orig;
      }
      const double numeric = (plus - minus) / (2 * eps);
      const double a = analytic.view({-1})[i].item<double>();
      worst = std::max(worst, std::fabs(a - numeric) / std::max(1.0, std::fabs(numeric)));
    }
  }
  std::printf("LTM attention gradient vs finite differences: worst error %.3g\n", worst);
  EXPECT_LT(worst, 1e-6);
}

TEST(LtmTest, StickyMassSumsToTheProbabilityInsideTheUnitInterval) {
  torch::Tensor mu = torch::tensor({0.5, 0.1, 0.9}, kF64).view({3, 1});
  torch::Tensor var = torch::tensor({1e-4, 1e-3, 1e-2}, kF64).view({3, 1});
  torch::Tensor mass = StickyMass(mu, var, 10);
  ASSERT_EQ(mass.size(0), 10);
  // Each bin holds the three Gaussians' probability over it (scalar reference, std::erf), so
  // the total is the three queries' probability inside [0, 1]: all of the narrow one's, less
  // of the wide one's near the edge.
  const double mus[] = {0.5, 0.1, 0.9}, vars[] = {1e-4, 1e-3, 1e-2};
  auto cdf = [](double x, double m, double v) {
    return 0.5 * (1.0 + std::erf((x - m) / std::sqrt(2.0 * v)));
  };
  double inside = 0.0;
  for (int q = 0; q < 3; ++q) inside += cdf(1.0, mus[q], vars[q]) - cdf(0.0, mus[q], vars[q]);
  for (int k = 0; k < 10; ++k) {
    double want = 0.0;
    for (int q = 0; q < 3; ++q) {
      want += cdf((k + 1) / 10.0, mus[q], vars[q]) - cdf(k / 10.0, mus[q], vars[q]);
    }
    EXPECT_NEAR(mass[k].item<double>(), want, 1e-12) << "bin " << k;
  }
  EXPECT_NEAR(mass.sum().item<double>(), inside, 1e-12);
  EXPECT_LE(mass.sum().item<double>(), 3.0 + 1e-9);  // each query's mass is at most 1
  EXPECT_LT(inside, 2.9);                            // the wide Gaussian at 0.9 loses mass past 1
  EXPECT_GT(mass[5].item<double>() + mass[4].item<double>(), 0.99);  // the narrow one at 0.5
}

TEST(LtmTest, StickyDrawIsSeededAndFollowsTheHistogram) {
  torch::Tensor hist = torch::zeros({8}, kF64);
  hist[2] = 3.0;
  hist[6] = 1.0;
  torch::Tensor a = DrawStickyPositions(hist, 400, 17);
  torch::Tensor b = DrawStickyPositions(hist, 400, 17);
  torch::Tensor c = DrawStickyPositions(hist, 400, 18);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(a, c));
  const double in_bin2 = (a == 2.0 / 8).sum().item<double>() / 400;
  EXPECT_NEAR(in_bin2, 0.75, 0.06);
  EXPECT_EQ(((a != 2.0 / 8) & (a != 6.0 / 8)).sum().item<int64_t>(), 0);
  // Sorted, and uniform when the histogram is empty.
  EXPECT_TRUE(torch::equal(a, std::get<0>(a.sort())));
  torch::Tensor u = DrawStickyPositions(torch::zeros({8}, kF64), 4, 1);
  EXPECT_TRUE(torch::allclose(u, torch::tensor({0.25, 0.5, 0.75, 1.0}, kF64)));
}

}  // namespace
}  // namespace infmem::model
