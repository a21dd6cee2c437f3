// Tokenizer: text <-> token ids for one model. Implementations: SentencePiece (text models)
// and Symbol (whitespace-separated integer ids, for synthetic tasks such as sorting).
// Thread-safety: implementations are immutable after construction and safe to share.
#ifndef INFMEM_SERVER_TOKENIZER_TOKENIZER_H_
#define INFMEM_SERVER_TOKENIZER_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace infmem::tokenizer {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Converts `text` to ids. InvalidArgument for text that is not valid UTF-8 (naming the byte
  // offset) or, for the symbol tokenizer, for a symbol that is not an id in [0, vocab_size).
  virtual absl::StatusOr<std::vector<int32_t>> Encode(absl::string_view text) const = 0;
  // Converts ids back to text; InvalidArgument for an id outside [0, vocab_size).
  virtual absl::StatusOr<std::string> Decode(absl::Span<const int32_t> ids) const = 0;
  // Returns the text of one token as it continues a stream (SentencePiece's "▁" becomes a
  // space), for streaming output token by token.
  virtual absl::StatusOr<std::string> TokenText(int32_t id) const = 0;
  virtual int vocab_size() const = 0;
  virtual int bos_id() const = 0;  // -1 when the tokenizer has none
  virtual int eos_id() const = 0;  // -1 when the tokenizer has none

  // Byte ranges [begin, end) of a text.
  using Spans = std::vector<std::pair<size_t, size_t>>;

  // Converts `text` in which special tokens may be spelled out ("<|im_end|>", "</s>") to ids,
  // each such spelling becoming its one id: for rendered chat templates, or a client that asks
  // for it. Encode never does this, so client text cannot forge a turn boundary. A spelling
  // that overlaps one of the `literal` ranges (the messages' own text inside a rendered
  // template) stays text.
  virtual absl::StatusOr<std::vector<int32_t>> EncodeWithSpecialTokens(
      absl::string_view text, const Spans& literal = {}) const {
    (void)literal;
    return Encode(text);
  }
  // Returns how a special token is spelled ("<s>", "<|eot_id|>"), or "" for an id that is
  // not one.
  virtual std::string SpecialTokenText(int32_t id) const {
    (void)id;
    return "";
  }
  // Returns the ids that end a turn or the text: eos, and any end-of-turn tokens the
  // checkpoint names. Generation stops after any of them.
  virtual std::vector<int32_t> end_of_turn_ids() const {
    return eos_id() >= 0 ? std::vector<int32_t>{eos_id()} : std::vector<int32_t>{};
  }
};

// Returns InvalidArgument naming the byte offset of the first invalid UTF-8 sequence.
absl::Status ValidateUtf8(absl::string_view text);

// Returns InvalidArgument ("token id 7 out of range [0, 5)") unless 0 <= id < vocab_size.
absl::Status CheckTokenId(int32_t id, int vocab_size);

// Builds the tokenizer a model directory declares: kind "sentencepiece" (a .model file) or
// "huggingface" (a tokenizer.json) loads `model_dir/file`; kind "symbol" needs only
// `vocab_size`. InvalidArgument for an unknown kind or for a tokenizer with more tokens than
// `vocab_size` (the model's), NotFound / InvalidArgument for a missing or unreadable file.
absl::StatusOr<std::unique_ptr<Tokenizer>> MakeTokenizer(absl::string_view kind,
                                                         const std::string& model_dir,
                                                         const std::string& file, int vocab_size);

}  // namespace infmem::tokenizer

#endif  // INFMEM_SERVER_TOKENIZER_TOKENIZER_H_
