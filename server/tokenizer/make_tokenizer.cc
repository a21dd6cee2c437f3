#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/common/status_macros.h"
#include "server/tokenizer/hf_tokenizer.h"
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
  if (kind != "sentencepiece" && kind != "huggingface") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown tokenizer kind '", kind,
                     "' (expected 'sentencepiece', 'huggingface' or 'symbol')"));
  }
  if (file.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(kind, " tokenizer needs a file name"));
  }
  const std::string path = model_dir.empty() ? file : absl::StrCat(model_dir, "/", file);
  std::unique_ptr<Tokenizer> tokenizer;
  if (kind == "sentencepiece") {
    ASSIGN_OR_RETURN(tokenizer, SentencePieceTokenizer::Load(path));
  } else {
    ASSIGN_OR_RETURN(tokenizer, HfTokenizer::Load(path));
  }
  // A tokenizer with ids the model cannot embed would let a session take a token that fails
  // every later call. A smaller tokenizer is fine: checkpoints pad their embedding rows (Qwen:
  // 151,936 rows for 151,669 tokens); ids past the tokenizer stream as "".
  if (vocab_size > 0 && tokenizer->vocab_size() > vocab_size) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": the tokenizer has ", tokenizer->vocab_size(),
                     " tokens, more than the model's vocab_size ", vocab_size));
  }
  return tokenizer;
}

}  // namespace infmem::tokenizer
