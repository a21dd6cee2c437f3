// DecodeLinear (server/model/kernels/decode_linear.h) against torch::linear on the weights it
// represents, for every format, at shapes that exercise the kernels' 8-wide blocks, their
// four-channel groups and both remainders, and 1 to kMaxDecodeRows activation rows.
#include "server/model/kernels/decode_linear.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>
#include <tuple>

namespace infmem::model {
namespace {

class DecodeLinearTest : public ::testing::TestWithParam<DecodeFormat> {};

TEST_P(DecodeLinearTest, EqualsLinearOnTheRoundedWeights) {
  torch::manual_seed(11);
  for (const auto& [out, in] :
       {std::tuple<int64_t, int64_t>{1, 1}, {3, 7}, {4, 8}, {13, 72}, {64, 129}, {258, 512}}) {
    torch::Tensor w = torch::randn({out, in});
    const torch::Tensor original = w.clone();
    const DecodeWeight d = PrepareDecodeWeight(w, GetParam());
    if (GetParam() == DecodeFormat::kFloat32) {
      EXPECT_TRUE(torch::equal(w, original));
    } else {
      // Rounded in place, by at most half a step of the format.
      const double step = GetParam() == DecodeFormat::kInt8
                              ? original.abs().amax(1).max().item<double>() / 127
                              : original.abs().max().item<double>() / 128;
      const double moved = (w - original).abs().max().item<double>();
      EXPECT_LE(moved, step / 2 * 1.0001) << out << "x" << in;
    }
    for (int64_t rows = 1; rows <= kMaxDecodeRows; ++rows) {
      const torch::Tensor x = torch::randn({rows, 1, in});
      const torch::Tensor want = torch::linear(x.to(torch::kFloat64), w.to(torch::kFloat64));
      const torch::Tensor got = DecodeLinear(x, d);
      ASSERT_EQ(got.sizes(), want.sizes());
      const double err = (got.to(torch::kFloat64) - want).abs().max().item<double>();
      const double scale = want.abs().max().item<double>() + 1e-30;
      EXPECT_LT(err / scale, 1e-5) << out << "x" << in << ", " << rows << " rows";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, DecodeLinearTest,
                         ::testing::Values(DecodeFormat::kFloat32, DecodeFormat::kBfloat16,
                                           DecodeFormat::kInt8),
                         [](const auto& info) {
                           switch (info.param) {
                             case DecodeFormat::kFloat32:
                               return "float32";
                             case DecodeFormat::kBfloat16:
                               return "bfloat16";
                             case DecodeFormat::kInt8:
                               return "int8";
                           }
                           return "unknown";
                         });

}  // namespace
}  // namespace infmem::model
