// HfTokenizer: a Tokenizer over a Hugging Face tokenizer.json, computing the same ids as
// Hugging Face's `tokenizers` library (checked against it in tests/tokenizer).
//
// Supported (anything else is refused at load, naming the field):
//   normalizer: NFC, NFD, NFKC, NFKD, Lowercase, Replace, Prepend, Strip, Sequence, null;
//   pre_tokenizer: Split (Regex or String pattern; every behavior; invert), ByteLevel,
//     Metaspace, Digits, Sequence, null;
//   model: BPE (vocab; merges as "a b" strings or ["a", "b"] pairs; ignore_merges,
//     byte_fallback, fuse_unk, unk_token; no subword prefix or suffix, no dropout);
//   decoder: ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace, Sequence, null;
//   added_tokens with their special, lstrip, rstrip, normalized and single_word flags.
//
// Special tokens: Encode(text) treats client text as text: special added tokens (<|eot_id|>,
// <|im_end|>, ...) are not recognised in it and come out as ordinary pieces, so a user cannot
// forge a turn boundary; non-special added tokens still match, as in Hugging Face with
// split_special_tokens. EncodeWithSpecialTokens(text) matches them (the rendered chat template,
// or a caller that asks for it per call) and equals Hugging Face's default encode without
// post-processing. Text that is not valid UTF-8 is refused (InvalidArgument naming the byte
// offset) rather than replaced.
//
// Decode(ids) equals Hugging Face's decode(ids, skip_special_tokens=true). TokenText(id), for
// streaming, is the token's raw bytes (byte-level) or its text with the decoder's per-token
// steps applied (Replace, ByteFallback, Metaspace); special tokens stream as "".
// Thread-safety: immutable after Load; safe to share.
#ifndef INFMEM_SERVER_TOKENIZER_HF_TOKENIZER_H_
#define INFMEM_SERVER_TOKENIZER_HF_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "server/tokenizer/tokenizer.h"

namespace infmem::tokenizer {

class HfTokenizer : public Tokenizer {
 public:
  // Loads `path` (a tokenizer.json). Reads tokenizer_config.json and generation_config.json
  // from the same directory when present (BOS/EOS tokens, add_bos_token, end-of-turn ids).
  // NotFound for a missing file; InvalidArgument naming the file and field otherwise.
  static absl::StatusOr<std::unique_ptr<HfTokenizer>> Load(const std::string& path);
  // Parses tokenizer.json text (`source` names it in errors) with optional
  // tokenizer_config.json / generation_config.json texts (empty when absent).
  static absl::StatusOr<std::unique_ptr<HfTokenizer>> Parse(
      absl::string_view json, absl::string_view source, absl::string_view tokenizer_config = "",
      absl::string_view generation_config = "");
  ~HfTokenizer() override;
  HfTokenizer(const HfTokenizer&) = delete;
  HfTokenizer& operator=(const HfTokenizer&) = delete;

  absl::StatusOr<std::vector<int32_t>> Encode(absl::string_view text) const override;
  absl::StatusOr<std::vector<int32_t>> EncodeWithSpecialTokens(
      absl::string_view text, const Spans& literal = {}) const override;
  std::string SpecialTokenText(int32_t id) const override;
  absl::StatusOr<std::string> Decode(absl::Span<const int32_t> ids) const override;
  absl::StatusOr<std::string> TokenText(int32_t id) const override;
  int vocab_size() const override;
  int bos_id() const override;
  int eos_id() const override;

  // The ids that end an assistant turn: eos, generation_config.json's eos_token_id list, and
  // the special tokens spelled as the common end-of-turn markers (<|eot_id|>, <|im_end|>,
  // <end_of_turn>, <|end|>, <|eom_id|>, <|endoftext|>).
  std::vector<int32_t> end_of_turn_ids() const override;
  // Whether Hugging Face prepends BOS to an encoded sequence (post-processor or
  // tokenizer_config.json's add_bos_token).
  bool adds_bos() const;
  // Returns the id of an added or vocabulary token spelled `content`, or -1.
  int32_t TokenId(absl::string_view content) const;

  struct Pipeline;  // the parsed tokenizer.json (hf_tokenizer.cc)

 private:
  explicit HfTokenizer(std::unique_ptr<Pipeline> pipeline);
  absl::StatusOr<std::vector<int32_t>> EncodeImpl(absl::string_view text, bool specials,
                                                  const Spans& literal) const;

  std::unique_ptr<Pipeline> p_;
};

}  // namespace infmem::tokenizer

#endif  // INFMEM_SERVER_TOKENIZER_HF_TOKENIZER_H_
