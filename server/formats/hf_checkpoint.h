// Conversion between Hugging Face LLaMA-family checkpoints (LlamaForCausalLM including Llama 3.x
// and SmolLM2, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, Phi3ForCausalLM:
// config.json, model.safetensors or sharded model-*.safetensors with
// model.safetensors.index.json, a tokenizer.model or tokenizer.json) and infmem model directories
// (MODEL.md §6-7). Plain C++, no torch: tensor bytes are copied (or, for export of an
// interleaved-RoPE model, row-shuffled; for Phi-3's fused projections, split by rows) in their
// stored dtype, never converted.
//
// Import reads the checkpoint's shards one at a time, twice (first to check every tensor's
// dtype and shape against config.json, then to write), and streams model.safetensors to disk,
// so a checkpoint larger than memory converts as long as its largest shard fits. Every error
// message starts with the path of the file at fault and names the field or tensor.
// Thread-safety: the functions are stateless; concurrent calls must use different outputs.
#ifndef INFMEM_SERVER_FORMATS_HF_CHECKPOINT_H_
#define INFMEM_SERVER_FORMATS_HF_CHECKPOINT_H_

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/model/config.h"

namespace infmem::formats {

using model::LtmConfig;
using model::MemoryMode;
using model::ModelConfig;

// Checks that the tokenizer file `file` of `kind` ("sentencepiece" | "huggingface") in
// `model_dir` loads and fits `vocab_size`. The converter passes one built on
// infmem::tokenizer::MakeTokenizer; it is a parameter so that this library needs no tokenizer
// dependency.
using TokenizerCheck =
    std::function<absl::Status(const std::string& model_dir, const std::string& kind,
                               const std::string& file, int vocab_size)>;

// What ImportHfCheckpoint converts and how.
struct ImportOptions {
  std::string hf_dir;   // the Hugging Face model directory
  std::string out_dir;  // the infmem model directory to write (created if missing)
  MemoryMode memory = MemoryMode::kWindow;
  int segment_length = 1024;  // L
  // LTM constants for memory == kInfinite (widths and the rest keep LtmConfig's defaults
  // unless the caller changes them).
  LtmConfig ltm;
  uint64_t seed = 1;                 // seeds the new LTM weights (infinite only)
  std::string name;                  // model name; empty: the last component of hf_dir
  TokenizerCheck check_tokenizer;    // null: the tokenizer is copied unchecked
  std::ostream* progress = nullptr;  // per-shard and per-10% progress lines; null: silent
};

// What ExportHfCheckpoint converts.
struct ExportOptions {
  std::string model_dir;  // an infmem model directory in `full` or `window` mode
  std::string out_dir;    // the Hugging Face directory to write (created if missing)
  std::ostream* progress = nullptr;
};

// What a conversion produced, for the converter's summary line.
struct ConversionSummary {
  ModelConfig config;          // the infmem config (import: written; export: read)
  int64_t parameters = 0;      // elements of all tensors written
  uint64_t bytes_written = 0;  // size of the model.safetensors written
  double seconds = 0;          // wall time of the whole conversion
};

// Converts the Hugging Face checkpoint in options.hf_dir into an infmem model directory:
// config.json (rope_layout "half", grouped-query heads, rope_theta and llama3 rope_scaling
// from the checkpoint), model.safetensors (the backbone's bytes unchanged under infmem's
// names; in infinite mode plus freshly initialised LTM weights whose output projection is
// zero, so the model computes exactly what `window` computes until fine-tuned) and
// tokenizer.model. InvalidArgument / NotFound / DataLoss naming the file and field or tensor
// for an unsupported architecture or feature (a sliding window shorter than 2 segments, or any
// sliding window in full mode), a malformed or inconsistent config, a missing
// shard or tensor, a truncated shard, a tensor of the wrong shape or dtype, or a missing
// SentencePiece tokenizer. Nothing is left in out_dir's model.safetensors on failure.
absl::StatusOr<ConversionSummary> ImportHfCheckpoint(const ImportOptions& options);

// Converts the infmem model in options.model_dir into a Hugging Face LlamaForCausalLM
// directory (config.json, generation_config.json, one model.safetensors, tokenizer.model).
// For a model with interleaved RoPE the rows of every head of wq and wk are reordered so
// that Hugging Face's rotate-half RoPE computes the same attention. FailedPrecondition for
// an `infinite` model (only the backbone exports), a tokenizer that is not SentencePiece, or
// a model that is not LLaMA-shaped (biases, q/k norms, its own head_dim);
// the errors of ReadModelConfig and SafetensorsFile::Read otherwise.
absl::StatusOr<ConversionSummary> ExportHfCheckpoint(const ExportOptions& options);

}  // namespace infmem::formats

#endif  // INFMEM_SERVER_FORMATS_HF_CHECKPOINT_H_
