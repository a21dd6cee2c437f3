// Weight modules, random initialisation, safetensors load/save and the model fingerprint.
#include <ATen/CPUGeneratorImpl.h>

#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "server/common/hash.h"
#include "server/common/status_macros.h"
#include "server/formats/safetensors.h"
#include "server/model/model_impl.h"

namespace infmem::model {

using formats::DType;
using formats::DTypeName;
using formats::SafetensorsFile;
using formats::SerializeSafetensors;
using formats::TensorToWrite;

Param::Param(torch::IntArrayRef shape, bool with_bias) {
  weight = register_parameter("weight", torch::empty(shape));
  if (with_bias) bias = register_parameter("bias", torch::empty({shape[0]}));
}

Attention::Attention(const ModelConfig& c) {
  const int64_t e = c.dim, q = c.q_dim(), kv = c.kv_dim();
  const bool bias = c.attention_bias;
  wq = register_module("wq", std::make_shared<Param>(torch::IntArrayRef{q, e}, bias));
  wk = register_module("wk", std::make_shared<Param>(torch::IntArrayRef{kv, e}, bias));
  wv = register_module("wv", std::make_shared<Param>(torch::IntArrayRef{kv, e}, bias));
  wo = register_module("wo", std::make_shared<Param>(torch::IntArrayRef{e, q}));
  if (c.qk_norm) {
    const int64_t d = c.head_dim();
    q_norm = register_module("q_norm", std::make_shared<Param>(torch::IntArrayRef{d}));
    k_norm = register_module("k_norm", std::make_shared<Param>(torch::IntArrayRef{d}));
  }
}

FeedForward::FeedForward(int64_t dim, int64_t hidden)
    : w1(register_module("w1", std::make_shared<Param>(torch::IntArrayRef{hidden, dim}))),
      w2(register_module("w2", std::make_shared<Param>(torch::IntArrayRef{dim, hidden}))),
      w3(register_module("w3", std::make_shared<Param>(torch::IntArrayRef{hidden, dim}))) {}

LtmWeights::LtmWeights(int64_t dim, int64_t heads_dim, int64_t num_basis)
    : gate(register_module("gate", std::make_shared<Param>(torch::IntArrayRef{dim, dim, 3}, true))),
      wk(register_module("wk", std::make_shared<Param>(torch::IntArrayRef{heads_dim, dim}))),
      wv(register_module("wv", std::make_shared<Param>(torch::IntArrayRef{heads_dim, dim}))),
      wo(register_module("wo", std::make_shared<Param>(torch::IntArrayRef{dim, heads_dim}))),
      w_mu(register_parameter("w_mu", torch::empty({num_basis}))),
      w_sigma(register_parameter("w_sigma", torch::empty({num_basis}))) {}

Layer::Layer(const ModelConfig& c)
    : attention_norm(
          register_module("attention_norm", std::make_shared<Param>(torch::IntArrayRef{c.dim}))),
      ffn_norm(register_module("ffn_norm", std::make_shared<Param>(torch::IntArrayRef{c.dim}))),
      attention(register_module("attention", std::make_shared<Attention>(c))),
      feed_forward(
          register_module("feed_forward", std::make_shared<FeedForward>(c.dim, c.ffn_dim))) {
  if (c.memory == MemoryMode::kInfinite) {
    ltm = register_module("ltm", std::make_shared<LtmWeights>(c.dim, c.q_dim(), c.ltm.num_basis));
  }
}

Net::Net(const ModelConfig& c)
    : tok_embeddings(register_module(
          "tok_embeddings", std::make_shared<Param>(torch::IntArrayRef{c.vocab_size, c.dim}))),
      norm(register_module("norm", std::make_shared<Param>(torch::IntArrayRef{c.dim}))) {
  auto list = register_module("layers", torch::nn::ModuleList());
  for (int i = 0; i < c.n_layers; ++i) {
    layers.push_back(std::make_shared<Layer>(c));
    list->push_back(layers.back());
  }
  if (!c.tie_embeddings) {
    output =
        register_module("output", std::make_shared<Param>(torch::IntArrayRef{c.vocab_size, c.dim}));
  }
}

void Model::Impl::InitRandom(uint64_t seed) {
  // Drawn on the CPU from a generator seeded by (seed, parameter name), so the same seed
  // gives the same weights on every device, and the backbone of an `infinite` model equals
  // that of the `window` or `full` model of the same seed. LLaMA-style: normal(0, 0.02);
  // projections that write into the residual stream scaled by 1/sqrt(2 n_layers); norms at 1; the
  // gate bias at 0 (gate half open); w_mu, w_sigma normal(0, 1/sqrt(N)).
  torch::NoGradGuard no_grad;
  const double residual = 0.02 / std::sqrt(2.0 * config.n_layers);
  for (auto& item : net->named_parameters()) {
    const std::string& name = item.key();
    torch::Tensor& p = item.value();
    torch::Tensor value;
    auto ends_with = [&](const std::string& suffix) {
      return name.size() >= suffix.size() &&
             name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    if (ends_with("norm.weight")) {
      value = torch::ones(p.sizes(), torch::kFloat32);
    } else if (ends_with("gate.bias")) {
      value = torch::zeros(p.sizes(), torch::kFloat32);
    } else {
      double std = 0.02;
      if (ends_with("wo.weight") || ends_with("w2.weight")) std = residual;
      if (ends_with("w_mu") || ends_with("w_sigma")) std = 1.0 / std::sqrt(config.ltm.num_basis);
      at::Generator gen =
          at::detail::createCPUGenerator(MixSeed(seed, Fnv1a64(name.data(), name.size())));
      value = torch::randn(p.sizes(), gen, torch::kFloat32) * std;
    }
    p.copy_(value.to(p.options()));
  }
}

namespace {

torch::ScalarType TorchType(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return torch::kFloat32;
    case DType::kF16:
      return torch::kFloat16;
    case DType::kBF16:
      return torch::kBFloat16;
    case DType::kF64:
      return torch::kFloat64;
    case DType::kI64:
      return torch::kInt64;
    case DType::kI32:
      return torch::kInt32;
    case DType::kU8:
      return torch::kUInt8;
  }
  return torch::kFloat32;
}

}  // namespace

absl::Status Model::Impl::LoadWeights(const std::string& path) {
  ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::Read(path));
  torch::NoGradGuard no_grad;
  auto params = net->named_parameters();
  for (const std::string& name : file.Names()) {
    if (!params.contains(name)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": unexpected tensor '", name,
                                                     "' (does the config's memory mode match?)"));
    }
  }
  for (auto& item : params) {
    const std::string& name = item.key();
    auto view = file.Get(name);
    if (!view.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": missing tensor '", name, "'"));
    }
    if (view->dtype != DType::kF32 && view->dtype != DType::kF16 && view->dtype != DType::kBF16 &&
        view->dtype != DType::kF64) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": tensor '", name, "' has dtype ",
                                                     DTypeName(view->dtype),
                                                     "; weights must be floating point"));
    }
    torch::Tensor& p = item.value();
    if (view->shape != p.sizes().vec()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": tensor '", name, "' has shape [", absl::StrJoin(view->shape, ","),
                       "], the config implies [", absl::StrJoin(p.sizes().vec(), ","), "]"));
    }
    // Copy through an aligned buffer: safetensors offsets need not be aligned.
    torch::Tensor cpu = torch::empty(p.sizes(), torch::dtype(TorchType(view->dtype)));
    std::memcpy(cpu.data_ptr(), view->data, view->size_bytes);
    p.copy_(cpu.to(p.options()));
  }
  return absl::OkStatus();
}

absl::Status Model::Impl::SaveWeights(const std::string& path, WeightStorage storage) const {
  const torch::ScalarType type = storage == WeightStorage::kBFloat16  ? torch::kBFloat16
                                 : storage == WeightStorage::kFloat16 ? torch::kFloat16
                                                                      : torch::kFloat32;
  const DType dtype = storage == WeightStorage::kBFloat16  ? DType::kBF16
                      : storage == WeightStorage::kFloat16 ? DType::kF16
                                                           : DType::kF32;
  std::vector<torch::Tensor> keep;
  std::vector<TensorToWrite> tensors;
  for (const auto& item : net->named_parameters()) {
    keep.push_back(item.value().detach().to(torch::kCPU, type).contiguous());
    const torch::Tensor& t = keep.back();
    tensors.push_back({item.key(), dtype, t.sizes().vec(), t.data_ptr(),
                       static_cast<size_t>(t.numel() * t.element_size())});
  }
  ASSIGN_OR_RETURN(std::string bytes, SerializeSafetensors(tensors, {{"format", "pt"}}));
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

void Model::Impl::ComputeFingerprint() {
  // Over the config and float32 CPU copies of the weights in name order, so the same model
  // has the same fingerprint on every device and compute dtype.
  const std::string json = ModelConfigToJson(config);
  uint64_t h = Fnv1a64(json.data(), json.size());
  for (const auto& item : net->named_parameters()) {
    h = Fnv1a64(item.key().data(), item.key().size(), h);
    torch::Tensor t = item.value().detach().to(torch::kCPU, torch::kFloat32).contiguous();
    h = Fnv1a64(t.data_ptr(), static_cast<size_t>(t.numel()) * sizeof(float), h);
  }
  fingerprint = absl::StrFormat("%016x", h);
}

}  // namespace infmem::model
