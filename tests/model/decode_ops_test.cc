// The fused decode operations (server/model/kernels/decode_ops.h) against the tensor operations
// they replace: float32 through the fused loops, float64 through the tensor path. The fused
// path runs without autograd only (as in serving), so each test turns it off; each also
// checks the fused path ran, where its result differs in the last bits from float32 tensor
// operations (with autograd on, the same call takes the tensor path).
#include "server/model/kernels/decode_ops.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace infmem::model {
namespace {

double RelDiff(const torch::Tensor& fused, const torch::Tensor& reference) {
  return ((fused.to(torch::kFloat64) - reference).abs().max() / (reference.abs().max() + 1e-30))
      .item<double>();
}

// `f` in float32 through the tensor path (autograd on: the fused path stays out of it).
template <typename F>
torch::Tensor TensorPath(F f) {
  torch::AutoGradMode on(true);
  return f();
}

TEST(DecodeOpsTest, RmsNormMatchesTheTensorPath) {
  torch::NoGradGuard serving;
  torch::manual_seed(3);
  bool differs = false;
  for (int64_t rows : {1, 3, 4}) {
    const torch::Tensor x = torch::randn({rows, 1, 72}) * 3;
    const torch::Tensor w = torch::randn({72});
    const torch::Tensor reference =
        RmsNorm(x.to(torch::kFloat64), w.to(torch::kFloat64), 1e-5);  // tensor path
    const torch::Tensor fused = RmsNorm(x, w, 1e-5);
    EXPECT_LT(RelDiff(fused, reference), 1e-6) << rows;
    differs |= !torch::equal(fused, TensorPath([&] { return RmsNorm(x, w, 1e-5); }));
  }
  EXPECT_TRUE(differs) << "the fused RmsNorm did not run";
}

TEST(DecodeOpsTest, RopeMatchesTheTensorPathInBothLayouts) {
  torch::NoGradGuard serving;
  torch::manual_seed(4);
  for (RopeLayout layout : {RopeLayout::kInterleaved, RopeLayout::kHalf}) {
    for (int64_t rows : {1, 4}) {
      const torch::Tensor x = torch::randn({rows, 1, 3, 16});
      const torch::Tensor angle = torch::rand({rows, 1, 1, 8}, torch::kFloat64) * 1000;
      const RopeTables t64{torch::cos(angle), torch::sin(angle)};
      const RopeTables t32{t64.cos.to(torch::kFloat32), t64.sin.to(torch::kFloat32)};
      const torch::Tensor reference = Rope(x.to(torch::kFloat64), t64, layout);
      const torch::Tensor fused = Rope(x, t32, layout);
      ASSERT_EQ(fused.sizes(), reference.sizes());
      EXPECT_LT(RelDiff(fused, reference), 1e-6) << static_cast<int>(layout) << " " << rows;
    }
  }
}

TEST(DecodeOpsTest, SiluMulMatchesTheTensorPath) {
  torch::NoGradGuard serving;
  torch::manual_seed(5);
  const torch::Tensor a = torch::randn({2, 1, 40}) * 4, b = torch::randn({2, 1, 40});
  const torch::Tensor reference = SiluMul(a.to(torch::kFloat64), b.to(torch::kFloat64));
  const torch::Tensor fused = SiluMul(a, b);
  EXPECT_LT(RelDiff(fused, reference), 1e-6);
  EXPECT_FALSE(torch::equal(fused, TensorPath([&] { return SiluMul(a, b); })))
      << "the fused SiluMul did not run";
}

}  // namespace
}  // namespace infmem::model
