#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/common/status_macros.h"
#include "server/tokenizer/sentencepiece_tokenizer.h"
#include "server/tokenizer/symbol_tokenizer.h"
#include "server/tokenizer/tokenizer.h"

namespace infmem::tokenizer {

absl::StatusOr<std::unique_ptr<Tokenizer>> MakeTokenizer(absl::string_view kind,
                                                         const std::string& model_dir,
                                                         const std::string& file, int vocab_size) {
  if (kind == "symbol") {
    if (vocab_size <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("symbol tokenizer needs vocab_size > 0, got ", vocab_size));
    }
    return std::make_unique<SymbolTokenizer>(vocab_size);
  }
  if (kind == "sentencepiece") {
    if (file.empty()) {
      return absl::InvalidArgumentError("sentencepiece tokenizer needs a model file name");
    }
    const std::string path = model_dir.empty() ? file : absl::StrCat(model_dir, "/", file);
    ASSIGN_OR_RETURN(std::unique_ptr<SentencePieceTokenizer> tokenizer,
                     SentencePieceTokenizer::Load(path));
    return std::unique_ptr<Tokenizer>(std::move(tokenizer));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown tokenizer kind '", kind, "' (expected 'sentencepiece' or 'symbol')"));
}

}  // namespace infmem::tokenizer
