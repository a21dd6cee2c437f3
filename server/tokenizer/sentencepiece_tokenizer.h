// SentencePieceTokenizer: a Tokenizer over a trained SentencePiece model file.
//
// TokenText(id), for streaming, is precomputed per piece at load:
//   - normal and user-defined pieces: the piece with every "▁" (U+2581) replaced by a space;
//   - byte-fallback pieces "<0xNN>": the single raw byte 0xNN (a multi-byte character spread
//     over several byte pieces is valid UTF-8 only once all of them are concatenated);
//   - control pieces (<s>, </s>, <pad>, ...) and the unknown piece (<unk>): the empty string.
// So the concatenated TokenText of a stream equals Decode's text except that Decode drops
// the leading space of the first piece and renders <unk> as " ⁇ ".
#ifndef INFMEM_SERVER_TOKENIZER_SENTENCEPIECE_TOKENIZER_H_
#define INFMEM_SERVER_TOKENIZER_SENTENCEPIECE_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "server/tokenizer/tokenizer.h"

namespace infmem::tokenizer {

namespace internal {
class SentencePieceModel;
}  // namespace internal

class SentencePieceTokenizer : public Tokenizer {
 public:
  // Loads a SentencePiece .model file. NotFound when `path` does not exist; InvalidArgument
  // when it is not a readable file holding a valid model.
  static absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> Load(const std::string& path);

  SentencePieceTokenizer(const SentencePieceTokenizer&) = delete;
  SentencePieceTokenizer& operator=(const SentencePieceTokenizer&) = delete;
  ~SentencePieceTokenizer() override;

  absl::StatusOr<std::vector<int32_t>> Encode(absl::string_view text) const override;
  // Control pieces (<s>, </s>, ...) spelled in `text` become their ids.
  absl::StatusOr<std::vector<int32_t>> EncodeWithSpecialTokens(
      absl::string_view text, const Spans& literal = {}) const override;
  std::string SpecialTokenText(int32_t id) const override;
  absl::StatusOr<std::string> Decode(absl::Span<const int32_t> ids) const override;
  absl::StatusOr<std::string> TokenText(int32_t id) const override;
  int vocab_size() const override;
  int bos_id() const override;
  int eos_id() const override;

 private:
  explicit SentencePieceTokenizer(std::unique_ptr<internal::SentencePieceModel> model);

  std::unique_ptr<internal::SentencePieceModel> model_;
  std::vector<std::string> token_texts_;                   // [vocab_size], see the file comment
  std::vector<std::pair<std::string, int32_t>> specials_;  // control pieces, longest first
};

}  // namespace infmem::tokenizer

#endif  // INFMEM_SERVER_TOKENIZER_SENTENCEPIECE_TOKENIZER_H_
