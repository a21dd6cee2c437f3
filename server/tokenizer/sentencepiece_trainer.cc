#include "server/tokenizer/sentencepiece_trainer.h"

#include "server/tokenizer/sentencepiece_model.h"

namespace infmem::tokenizer {

std::string TrainSentencePiece(const std::string& args) {
  std::string error;
  const internal::SentencePieceLibrary* library = internal::GetSentencePieceLibrary(&error);
  if (library == nullptr) return error;
  const internal::SpStatus status = library->Train(args);
  return status.ok() ? "" : status.message;
}

}  // namespace infmem::tokenizer
