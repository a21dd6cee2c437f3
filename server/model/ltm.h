// Long-term memory maths of MODEL.md §4: the Gaussian basis, the ridge-regression fits
// (G matrices), the continuous attention in closed form, the sticky-memory histogram and its
// seeded draw. Internal to server/model/ (includes torch). Stateless functions and an
// immutable Basis: safe to share across threads.
#ifndef INFMEM_SERVER_MODEL_LTM_H_
#define INFMEM_SERVER_MODEL_LTM_H_

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "server/model/config.h"

namespace infmem::model {

// Basis function parameters: index j = 2k + s has centre linspace(0,1,N/2)[k] and width
// widths[s] (width varies fastest).
struct BasisParams {
  torch::Tensor centres;  // [N]
  torch::Tensor widths;   // [N]
};

// Returns the basis of `ltm` as float64 CPU tensors.
BasisParams MakeBasis(const LtmConfig& ltm);

// Evaluates ψ_j(t_i) (normalised Gaussian densities): [N, n] for positions `t` [n].
torch::Tensor EvaluateBasis(const BasisParams& basis, const torch::Tensor& t);

// A float64 LTM matrix (basis values, ridge fits) in the compute dtype of `options`, dense,
// with float32's subnormal entries set to zero: Gaussians evaluated far from their centres
// leave thousands of them, and the CPU multiplies subnormals ~100x slower (the LTM update's
// products ran at 40 GFLOP/s against 200; their contribution to any sum is below float32's
// resolution).
torch::Tensor LtmMatrix(const torch::Tensor& m64, const torch::TensorOptions& options);

// Returns G = (F Fᵀ + λI)⁻¹ F_real [N, n] for the real positions `t` [n] (float64, CPU),
// where F also holds zero-valued pseudo-targets at spacing 1/n over [-0.5,0) and (1,1.5].
// Solved with a float64 Cholesky factorisation.
torch::Tensor RidgeFitMatrix(const BasisParams& basis, const torch::Tensor& t, double lambda);

// Everything about the LTM that depends only on the config, computed once per model and
// kept on the model's device in its dtype.
struct LtmConstants {
  torch::Tensor centres;      // [N]
  torch::Tensor widths_sq;    // [N]
  torch::Tensor g_first;      // [N, L]   fit of the first segment at midpoints (i-0.5)/L
  torch::Tensor g_inf;        // [N, M+L] fit of [old samples at τm/M ; new at τ+(1-τ)i/L]
  torch::Tensor psi_uniform;  // [N, M]   basis at u_m = m/M (the non-sticky samples)
  BasisParams basis64;        // float64 CPU copy, for evaluating sticky positions
};

// Builds the constants for segment length `segment_length`, cast to `options`.
LtmConstants MakeLtmConstants(const LtmConfig& ltm, int segment_length,
                              const torch::TensorOptions& options);

// Output of ContinuousAttention.
struct ContinuousAttentionOut {
  torch::Tensor z;    // [T, h, d]
  torch::Tensor mu;   // [T, h]
  torch::Tensor var;  // [T, h]  σ², clamped at 1e-4
};

// Attends queries `q` [T, h, d] (before RoPE) to the LTM keys/values `k`, `v` [N, h, d] in
// closed form (MODEL.md §4.5). `w_mu`, `w_sigma` [N]. Differentiable through autograd.
ContinuousAttentionOut ContinuousAttention(const torch::Tensor& q, const torch::Tensor& k,
                                           const torch::Tensor& v, const torch::Tensor& w_mu,
                                           const torch::Tensor& w_sigma,
                                           const torch::Tensor& centres,
                                           const torch::Tensor& widths_sq);

// Returns the probability mass that N(μ, σ²) puts in each of `bins` equal bins over [0,1],
// summed over all queries and heads: [bins]. `mu`, `var` [T, h]. No gradient.
torch::Tensor StickyMass(const torch::Tensor& mu, const torch::Tensor& var, int bins);

// ContinuousAttention for one decode token of each of R sessions, each with its own LTM:
// q [R, h, d], k and v [R, N, h, d]; returns z [R, h, d], mu and var [R, h]. Same maths.
ContinuousAttentionOut BatchedContinuousAttention(const torch::Tensor& q, const torch::Tensor& k,
                                                  const torch::Tensor& v, const torch::Tensor& w_mu,
                                                  const torch::Tensor& w_sigma,
                                                  const torch::Tensor& centres,
                                                  const torch::Tensor& widths_sq);

// StickyMass of each row: mu and var [R, h]; returns [R, bins].
torch::Tensor BatchedStickyMass(const torch::Tensor& mu, const torch::Tensor& var, int bins);

// Draws `count` sample positions from histogram `hist` [D] (left edges of bins drawn i.i.d.
// from the normalised histogram, sorted), with a generator seeded from `seed`. Falls back to
// uniform positions m/M when the histogram holds no mass. Returns float64 CPU [count].
torch::Tensor DrawStickyPositions(const torch::Tensor& hist, int count, uint64_t seed);

// Returns ½(σ²/σ0² − log(σ²/σ0²) − 1) summed over all entries of `var`.
torch::Tensor KlToPrior(const torch::Tensor& var, double sigma0);

}  // namespace infmem::model

#endif  // INFMEM_SERVER_MODEL_LTM_H_
