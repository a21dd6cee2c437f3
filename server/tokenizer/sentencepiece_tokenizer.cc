#include "server/tokenizer/sentencepiece_tokenizer.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "server/common/status_macros.h"
#include "server/tokenizer/sentencepiece_model.h"

namespace infmem::tokenizer {
namespace {

// SentencePiece's meta symbol for a space, U+2581 LOWER ONE EIGHTH BLOCK.
constexpr absl::string_view kSpaceSymbol = "\xE2\x96\x81";

absl::Status ToAbsl(const internal::SpStatus& status, absl::string_view context) {
  if (status.ok()) {
    return absl::OkStatus();
  }
  return absl::Status(static_cast<absl::StatusCode>(status.code),
                      absl::StrCat(context, ": ", status.message));
}

// The streaming text of one piece; see sentencepiece_tokenizer.h.
std::string PieceText(const internal::SentencePieceModel& model, int id) {
  if (model.IsControl(id) || model.IsUnknown(id)) {
    return "";
  }
  const std::string& piece = model.IdToPiece(id);
  if (model.IsByte(id)) {
    // "<0xNN>"
    int byte = 0;
    if (piece.size() == 6 && absl::StartsWith(piece, "<0x") && piece.back() == '>' &&
        absl::SimpleHexAtoi(absl::string_view(piece).substr(3, 2), &byte)) {
      return std::string(1, static_cast<char>(byte));
    }
    return "";
  }
  return absl::StrReplaceAll(piece, {{kSpaceSymbol, " "}});
}

}  // namespace

absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> SentencePieceTokenizer::Load(
    const std::string& path) {
  std::error_code error;
  const std::filesystem::file_status status = std::filesystem::status(path, error);
  if (status.type() == std::filesystem::file_type::not_found) {
    return absl::NotFoundError(absl::StrCat("SentencePiece model '", path, "' not found"));
  }
  if (error) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot stat SentencePiece model '", path, "': ", error.message()));
  }
  if (status.type() != std::filesystem::file_type::regular) {
    return absl::InvalidArgumentError(
        absl::StrCat("SentencePiece model '", path, "' is not a regular file"));
  }
  std::ifstream in(path, std::ios::binary);
  std::string serialized((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read SentencePiece model '", path, "'"));
  }

  std::string library_error;
  const internal::SentencePieceLibrary* library = internal::GetSentencePieceLibrary(&library_error);
  if (library == nullptr) return absl::FailedPreconditionError(library_error);
  internal::SpStatus load_status;
  std::unique_ptr<internal::SentencePieceModel> model =
      library->FromSerialized(std::string_view(serialized.data(), serialized.size()), &load_status);
  if (model == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", path, "' is not a valid SentencePiece model: ", load_status.message));
  }
  return std::unique_ptr<SentencePieceTokenizer>(new SentencePieceTokenizer(std::move(model)));
}

SentencePieceTokenizer::SentencePieceTokenizer(std::unique_ptr<internal::SentencePieceModel> model)
    : model_(std::move(model)) {
  const int size = model_->piece_size();
  token_texts_.reserve(size);
  for (int id = 0; id < size; ++id) {
    token_texts_.push_back(PieceText(*model_, id));
    if (model_->IsControl(id) && !model_->IdToPiece(id).empty()) {
      specials_.emplace_back(model_->IdToPiece(id), id);
    }
  }
  // Longest spelling first, so that a match is the longest one at its position.
  std::sort(specials_.begin(), specials_.end(),
            [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

absl::StatusOr<std::vector<int32_t>> SentencePieceTokenizer::Encode(absl::string_view text) const {
  RETURN_IF_ERROR(ValidateUtf8(text));
  std::vector<int> ids;
  RETURN_IF_ERROR(ToAbsl(model_->Encode(std::string_view(text.data(), text.size()), &ids),
                         "SentencePiece encode failed"));
  return std::vector<int32_t>(ids.begin(), ids.end());
}

absl::StatusOr<std::vector<int32_t>> SentencePieceTokenizer::EncodeWithSpecialTokens(
    absl::string_view text, const Spans& literal) const {
  RETURN_IF_ERROR(ValidateUtf8(text));
  std::vector<int32_t> ids;
  size_t start = 0;  // of the text not yet encoded
  for (size_t pos = 0; pos < text.size(); ++pos) {
    for (const auto& [spelling, id] : specials_) {
      if (text.substr(pos, spelling.size()) != spelling) continue;
      const size_t end = pos + spelling.size();
      if (std::any_of(literal.begin(), literal.end(),
                      [&](const auto& span) { return pos < span.second && span.first < end; })) {
        continue;  // a message's own text spelling a special token stays text
      }
      if (pos > start) {
        ASSIGN_OR_RETURN(std::vector<int32_t> piece, Encode(text.substr(start, pos - start)));
        ids.insert(ids.end(), piece.begin(), piece.end());
      }
      ids.push_back(id);
      start = pos + spelling.size();
      pos = start - 1;
      break;
    }
  }
  if (start < text.size()) {
    ASSIGN_OR_RETURN(std::vector<int32_t> piece, Encode(text.substr(start)));
    ids.insert(ids.end(), piece.begin(), piece.end());
  }
  return ids;
}

std::string SentencePieceTokenizer::SpecialTokenText(int32_t id) const {
  for (const auto& [spelling, special_id] : specials_) {
    if (special_id == id) return spelling;
  }
  return "";
}

absl::StatusOr<std::string> SentencePieceTokenizer::Decode(absl::Span<const int32_t> ids) const {
  const int size = vocab_size();
  for (int32_t id : ids) {
    RETURN_IF_ERROR(CheckTokenId(id, size));
  }
  std::string text;
  RETURN_IF_ERROR(ToAbsl(model_->Decode(std::vector<int>(ids.begin(), ids.end()), &text),
                         "SentencePiece decode failed"));
  return text;
}

absl::StatusOr<std::string> SentencePieceTokenizer::TokenText(int32_t id) const {
  RETURN_IF_ERROR(CheckTokenId(id, vocab_size()));
  return token_texts_[id];
}

int SentencePieceTokenizer::vocab_size() const { return static_cast<int>(token_texts_.size()); }
int SentencePieceTokenizer::bos_id() const { return model_->bos_id(); }
int SentencePieceTokenizer::eos_id() const { return model_->eos_id(); }

}  // namespace infmem::tokenizer
