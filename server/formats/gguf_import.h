// Importing a GGUF file (llama.cpp's format) as an infmem model directory: architectures
// "llama", "qwen2" and "qwen3"; tensors in F32, F16, BF16 (kept as stored) or Q8_0, Q4_0,
// Q4_K, Q6_K (dequantized to float32 at import); the tokenizer and chat template stored in
// the file (gguf_tokenizer.h). GGUF's llama tensors hold q and k for RoPE on interleaved pairs,
// which infmem computes natively (rope_layout "interleaved"); qwen2/qwen3 rotate halves
// ("half"), as Hugging Face does. Every error starts with the file and names the key or tensor.
// Thread-safety: stateless; concurrent calls must use different outputs.
#ifndef INFMEM_SERVER_FORMATS_GGUF_IMPORT_H_
#define INFMEM_SERVER_FORMATS_GGUF_IMPORT_H_

#include <cstdint>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "server/formats/hf_checkpoint.h"

namespace infmem::formats {

struct GgufImportOptions {
  std::string gguf_path;
  std::string out_dir;
  MemoryMode memory = MemoryMode::kWindow;
  int segment_length = 1024;
  LtmConfig ltm;
  uint64_t seed = 1;                 // seeds the new LTM weights (infinite only)
  std::string name;                  // empty: general.name, else the file's stem
  TokenizerCheck check_tokenizer;    // null: the tokenizer is written unchecked
  std::ostream* progress = nullptr;  // per-10% progress lines; null: silent
};

// Converts options.gguf_path into the infmem model directory options.out_dir: config.json,
// model.safetensors (plus fresh LTM weights whose output projection is zero in infinite mode)
// and the tokenizer files. InvalidArgument / DataLoss / NotFound naming the file and the key
// or tensor: another architecture, a mixture of experts, partial rotary embeddings, RoPE
// scaling (rope_freqs), an unknown, missing or misshapen tensor, a malformed tokenizer, and
// the errors of GgufFile::Read. Nothing is left in model.safetensors on failure.
absl::StatusOr<ConversionSummary> ImportGguf(const GgufImportOptions& options);

}  // namespace infmem::formats

#endif  // INFMEM_SERVER_FORMATS_GGUF_IMPORT_H_
