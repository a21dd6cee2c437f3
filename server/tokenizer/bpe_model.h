// BpeModel: the "BPE" model of a Hugging Face tokenizer.json, applied to one pre-token.
//
// Symbols are bytes (byte-level tokenizers: GPT-2, Llama 3, Qwen) or Unicode characters
// (SentencePiece-style BPE: Gemma, Mistral), identified by vocabulary ids; the vocabulary is
// given in raw form (byte-level entries already mapped back from GPT-2's byte alphabet to
// bytes). Merging follows Hugging Face's order exactly: the pair of lowest merge rank first,
// the leftmost of equal pairs first, with a heap (O(n log n) per pre-token, so SentencePiece-
// style pre-tokens as long as a whole paragraph stay cheap).
// Thread-safety: immutable after Build; Encode is const and safe to call concurrently.
#ifndef INFMEM_SERVER_TOKENIZER_BPE_MODEL_H_
#define INFMEM_SERVER_TOKENIZER_BPE_MODEL_H_

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace infmem::tokenizer {

class BpeModel {
 public:
  struct Options {
    bool byte_level = false;     // symbols are bytes, else UTF-8 characters
    bool ignore_merges = false;  // a pre-token found whole in the vocabulary is one token
    bool byte_fallback = false;  // an unknown character becomes its "<0xNN>" byte tokens
    bool fuse_unk = false;       // consecutive unknown characters become one unknown token
    int unk_id = -1;             // -1: unknown characters are dropped (as Hugging Face does)
  };

  // Builds the model. `vocab` maps raw token text to id; `merges` are pairs in rank order.
  // InvalidArgument when a merge names a token missing from the vocabulary, when its result
  // is missing, or when a byte-level vocabulary lacks one of the 256 single bytes.
  static absl::StatusOr<BpeModel> Build(
      absl::flat_hash_map<std::string, int32_t> vocab,
      const std::vector<std::pair<std::string, std::string>>& merges, const Options& options);

  // Appends the ids of `word` (one pre-token, raw bytes) to `out`.
  void Encode(absl::string_view word, std::vector<int32_t>* out) const;

  // Returns the id of `text` in the vocabulary, or -1.
  int32_t Find(absl::string_view text) const;

 private:
  struct Merge {
    int32_t rank;
    int32_t id;
  };
  static uint64_t PairKey(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }
  // Pushes the initial symbols of `word`.
  void InitialSymbols(absl::string_view word, std::vector<int32_t>* ids) const;

  Options options_;
  absl::flat_hash_map<std::string, int32_t> vocab_;
  absl::flat_hash_map<uint64_t, Merge> merges_;
  std::array<int32_t, 256> byte_ids_{};  // byte-level: the id of each byte; else "<0xNN>" or -1
};

}  // namespace infmem::tokenizer

#endif  // INFMEM_SERVER_TOKENIZER_BPE_MODEL_H_
