// SessionState creation, copying and its safetensors (de)serialisation.
// Snapshot layout: per layer "layers.{i}.stm_k"/"stm_v" [S, kv, d] (S = 2L, or tokens_seen
// in full mode), "layers.{i}.inputs" [2L, e], "layers.{i}.coef" [N, e],
// "layers.{i}.sticky_hist" [D] (the last three in infinite mode only), stored in the model's
// compute dtype. K_ltm and V_ltm are recomputed from coef on load. Metadata: format_version,
// model_fingerprint, memory, tokens_seen, seed, ltm_updates, checksum (FNV-1a 64 over all
// tensor bytes in the order above, hex).
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/common/hash.h"
#include "server/common/status_macros.h"
#include "server/formats/safetensors.h"
#include "server/model/model_impl.h"

namespace infmem::model {

using formats::DType;
using formats::SafetensorsFile;
using formats::SerializeSafetensors;
using formats::TensorToWrite;
namespace {

constexpr char kFormatVersion[] = "1";

DType StateDType(torch::ScalarType t) { return t == torch::kFloat64 ? DType::kF64 : DType::kF32; }

}  // namespace

SessionState::SessionState(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SessionState::~SessionState() = default;
int64_t SessionState::tokens_seen() const { return impl_->tokens_seen; }
uint64_t SessionState::seed() const { return impl_->seed; }
int64_t SessionState::ltm_updates() const { return impl_->ltm_updates; }

int64_t SessionState::ByteSize() const {
  int64_t bytes = 0;
  for (const LayerState& ls : impl_->layers) {
    for (const torch::Tensor* t :
         {&ls.stm_k, &ls.stm_v, &ls.inputs, &ls.coef, &ls.k_ltm, &ls.v_ltm, &ls.hist}) {
      if (t->defined()) bytes += t->numel() * t->element_size();
    }
  }
  return bytes;
}

std::unique_ptr<SessionState::Impl> Model::Impl::NewState(uint64_t seed) const {
  const ModelConfig& c = config;
  const int64_t seg = c.segment_length, h = c.n_heads, kv = c.kv_heads(), d = c.head_dim();
  const int64_t stm_slots = c.memory == MemoryMode::kFull ? seg : 2 * seg;
  auto state = std::make_unique<SessionState::Impl>();
  state->seed = seed;
  for (int l = 0; l < c.n_layers; ++l) {
    LayerState ls;
    ls.stm_k = torch::zeros({stm_slots, kv, d}, options.dtype(kv_dtype));
    ls.stm_v = torch::zeros({stm_slots, kv, d}, options.dtype(kv_dtype));
    if (c.memory == MemoryMode::kInfinite) {
      const int64_t n = c.ltm.num_basis;
      ls.inputs = torch::zeros({2 * seg, c.dim}, options);
      ls.coef = torch::zeros({n, c.dim}, options);
      ls.k_ltm = torch::zeros({n, h, d}, options);
      ls.v_ltm = torch::zeros({n, h, d}, options);
      ls.hist = torch::zeros({c.ltm.sticky_bins}, options);
    }
    state->layers.push_back(std::move(ls));
  }
  return state;
}

std::unique_ptr<SessionState> Model::NewSession(uint64_t seed) const {
  return std::make_unique<SessionState>(impl_->NewState(seed));
}

int64_t Model::StateBytes() const { return impl_->state_bytes; }

std::unique_ptr<SessionState> Model::Clone(const SessionState& state) const {
  auto copy = std::make_unique<SessionState::Impl>(state.impl());
  for (LayerState& ls : copy->layers) {
    for (torch::Tensor* t :
         {&ls.stm_k, &ls.stm_v, &ls.inputs, &ls.coef, &ls.k_ltm, &ls.v_ltm, &ls.hist}) {
      if (t->defined()) *t = t->clone();
    }
  }
  return std::make_unique<SessionState>(std::move(copy));
}

absl::StatusOr<std::string> Model::SerializeState(const SessionState& state) const {
  const SessionState::Impl& s = state.impl();
  const bool full = impl_->config.memory == MemoryMode::kFull;
  std::vector<torch::Tensor> keep;
  std::vector<TensorToWrite> tensors;
  uint64_t checksum = kFnvOffset;
  auto add = [&](const std::string& name, const torch::Tensor& t) {
    // A float16 KV cache is written as float32: snapshots move between servers of either.
    const torch::ScalarType stored =
        t.scalar_type() == torch::kHalf ? torch::kFloat32 : t.scalar_type();
    keep.push_back(t.detach().to(torch::kCPU, stored).contiguous());
    const torch::Tensor& c = keep.back();
    const size_t bytes = static_cast<size_t>(c.numel() * c.element_size());
    checksum = Fnv1a64(c.data_ptr(), bytes, checksum);
    tensors.push_back({name, StateDType(c.scalar_type()), c.sizes().vec(), c.data_ptr(), bytes});
  };
  try {
    for (size_t l = 0; l < s.layers.size(); ++l) {
      const LayerState& ls = s.layers[l];
      const std::string p = absl::StrCat("layers.", l, ".");
      const int64_t slots = full ? s.tokens_seen : ls.stm_k.size(0);
      add(p + "stm_k", ls.stm_k.narrow(0, 0, slots));
      add(p + "stm_v", ls.stm_v.narrow(0, 0, slots));
      if (ls.coef.defined()) {
        add(p + "inputs", ls.inputs);
        add(p + "coef", ls.coef);
        add(p + "sticky_hist", ls.hist);
      }
    }
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("serialising state: ", e.what_without_backtrace()));
  }
  std::map<std::string, std::string> meta = {
      {"format_version", kFormatVersion},
      {"model_fingerprint", impl_->fingerprint},
      {"memory", std::string(MemoryModeName(impl_->config.memory))},
      {"tokens_seen", absl::StrCat(s.tokens_seen)},
      {"seed", absl::StrCat(s.seed)},
      {"ltm_updates", absl::StrCat(s.ltm_updates)},
      {"checksum", absl::StrFormat("%016x", checksum)},
  };
  return SerializeSafetensors(tensors, meta);
}

absl::StatusOr<std::unique_ptr<SessionState>> Model::DeserializeState(std::string bytes) const {
  ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::Parse(std::move(bytes)));
  const auto& meta = file.metadata();
  auto field = [&](const std::string& key) -> absl::StatusOr<std::string> {
    auto it = meta.find(key);
    if (it == meta.end())
      return absl::DataLossError(absl::StrCat("state: missing metadata '", key, "'"));
    return it->second;
  };
  ASSIGN_OR_RETURN(std::string version, field("format_version"));
  if (version != kFormatVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "state: format version ", version, " is not supported (expected ", kFormatVersion, ")"));
  }
  ASSIGN_OR_RETURN(std::string fingerprint, field("model_fingerprint"));
  if (fingerprint != impl_->fingerprint) {
    return absl::FailedPreconditionError(absl::StrCat("state was made by model ", fingerprint,
                                                      ", this model is ", impl_->fingerprint));
  }
  const ModelConfig& c = impl_->config;
  auto state = impl_->NewState(0);
  ASSIGN_OR_RETURN(std::string tokens_text, field("tokens_seen"));
  ASSIGN_OR_RETURN(std::string seed_text, field("seed"));
  ASSIGN_OR_RETURN(std::string updates_text, field("ltm_updates"));
  ASSIGN_OR_RETURN(std::string checksum_text, field("checksum"));
  if (!absl::SimpleAtoi(tokens_text, &state->tokens_seen) || state->tokens_seen < 0 ||
      !absl::SimpleAtoi(seed_text, &state->seed) ||
      !absl::SimpleAtoi(updates_text, &state->ltm_updates) || state->ltm_updates < 0) {
    return absl::DataLossError("state: bad counters in metadata");
  }
  const int64_t seg = c.segment_length;
  const int64_t expected_updates = c.memory == MemoryMode::kInfinite
                                       ? std::max<int64_t>(0, (state->tokens_seen - 1) / seg - 1)
                                       : 0;
  if (state->ltm_updates != expected_updates) {
    return absl::DataLossError(absl::StrCat("state: ltm_updates ", state->ltm_updates,
                                            " inconsistent with tokens_seen ", state->tokens_seen));
  }
  const bool full = c.memory == MemoryMode::kFull;
  uint64_t checksum = kFnvOffset;
  try {
    torch::NoGradGuard no_grad;
    auto read = [&](const std::string& name, torch::Tensor& dst, int64_t rows) -> absl::Status {
      auto view = file.Get(name);
      if (!view.ok())
        return absl::DataLossError(absl::StrCat("state: missing tensor '", name, "'"));
      std::vector<int64_t> want = dst.sizes().vec();
      want[0] = rows;
      // (StateDType of a float16 KV cache is float32: its snapshots hold float32.)
      if (view->shape != want || view->dtype != StateDType(dst.scalar_type())) {
        return absl::DataLossError(
            absl::StrCat("state: tensor '", name, "' has the wrong shape or dtype"));
      }
      checksum = Fnv1a64(view->data, view->size_bytes, checksum);
      torch::Tensor cpu = torch::empty(
          want, torch::dtype(view->dtype == DType::kF64 ? torch::kFloat64 : torch::kFloat32));
      std::memcpy(cpu.data_ptr(), view->data, view->size_bytes);
      if (full && rows > dst.size(0)) {
        dst = torch::empty(want, dst.options());
      }
      dst.narrow(0, 0, rows).copy_(cpu.to(dst.device()));
      return absl::OkStatus();
    };
    for (int l = 0; l < c.n_layers; ++l) {
      LayerState& ls = state->layers[l];
      const std::string p = absl::StrCat("layers.", l, ".");
      const int64_t slots = full ? state->tokens_seen : ls.stm_k.size(0);
      RETURN_IF_ERROR(read(p + "stm_k", ls.stm_k, slots));
      RETURN_IF_ERROR(read(p + "stm_v", ls.stm_v, slots));
      if (ls.coef.defined()) {
        RETURN_IF_ERROR(read(p + "inputs", ls.inputs, ls.inputs.size(0)));
        RETURN_IF_ERROR(read(p + "coef", ls.coef, ls.coef.size(0)));
        RETURN_IF_ERROR(read(p + "sticky_hist", ls.hist, ls.hist.size(0)));
        const LtmWeights& w = *impl_->net->layers[l]->ltm;
        ls.k_ltm.copy_(torch::linear(ls.coef, w.wk->weight).view_as(ls.k_ltm));
        ls.v_ltm.copy_(torch::linear(ls.coef, w.wv->weight).view_as(ls.v_ltm));
      }
    }
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("loading state: ", e.what_without_backtrace()));
  }
  if (absl::StrFormat("%016x", checksum) != checksum_text) {
    return absl::DataLossError("state: checksum mismatch (the snapshot is corrupted)");
  }
  if (file.Names().size() !=
      static_cast<size_t>(c.n_layers) * (c.memory == MemoryMode::kInfinite ? 5 : 2)) {
    return absl::DataLossError("state: unexpected tensors in the snapshot");
  }
  return std::make_unique<SessionState>(std::move(state));
}

}  // namespace infmem::model
