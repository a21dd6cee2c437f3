// The tokenizer and chat template stored in a GGUF file, written as the files infmem's
// tokenizers read, so a GGUF model tokenizes as its source checkpoint did:
//   tokenizer.ggml.model "gpt2" (byte-level BPE: Llama 3, Qwen2/2.5/3, SmolLM): a Hugging Face
//     tokenizer.json (vocab, merges, control and user-defined tokens as added tokens, the
//     pre-tokenizer named by tokenizer.ggml.pre) plus tokenizer_config.json (bos/eos tokens,
//     add_bos_token) and generation_config.json (end-of-turn ids: eos, eot, eom);
//   tokenizer.ggml.model "llama" (SentencePiece): a SentencePiece tokenizer.model holding the
//     pieces, scores and types as a BPE model with byte fallback and no normalization (what
//     llama.cpp computes from such a GGUF), plus generation_config.json;
//   tokenizer.chat_template: chat_template.jinja.
// Thread-safety: stateless functions.
#ifndef INFMEM_SERVER_FORMATS_GGUF_TOKENIZER_H_
#define INFMEM_SERVER_FORMATS_GGUF_TOKENIZER_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "server/formats/gguf_file.h"
#include "server/model/config.h"

namespace infmem::formats {

struct GgufTokenizerFiles {
  model::TokenizerConfig config;             // kind and file for config.json
  std::map<std::string, std::string> files;  // model-directory file name -> content
  int bos_id = -1;
  int eos_id = -1;
  int vocab_size = 0;  // tokens in the vocabulary
};

// Reads the tokenizer of `gguf`. InvalidArgument naming the file and key for a missing or
// malformed tokenizer (token and type arrays of different lengths, a duplicate token, an
// unknown tokenizer.ggml.model or tokenizer.ggml.pre, special ids outside the vocabulary).
absl::StatusOr<GgufTokenizerFiles> ConvertGgufTokenizer(const GgufFile& gguf);

// The pre-tokenizer (tokenizer.json form) of the named tokenizer.ggml.pre, and whether that
// family's BPE ignores merges for whole-vocabulary words (Llama 3); NotFound for other names.
struct GgufPreTokenizer {
  std::string json;  // the "pre_tokenizer" value
  std::string normalizer_json = "null";
  bool ignore_merges = false;
};
absl::StatusOr<GgufPreTokenizer> PreTokenizerFor(absl::string_view pre);

}  // namespace infmem::formats

#endif  // INFMEM_SERVER_FORMATS_GGUF_TOKENIZER_H_
