// libinfmem_spm.so: the only code that includes SentencePiece (see sentencepiece_model.h for
// why it is a separately loaded module). Includes no Abseil header.
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/tokenizer/sentencepiece_model.h"

namespace infmem::tokenizer::internal {
namespace {

SpStatus Convert(const sentencepiece::util::Status& status) {
  SpStatus result;
  if (!status.ok()) {
    result.code = static_cast<int>(status.code());
    result.message = status.message();
    if (result.message.empty()) result.message = "SentencePiece error";
  }
  return result;
}

class ProcessorModel : public SentencePieceModel {
 public:
  explicit ProcessorModel(std::unique_ptr<sentencepiece::SentencePieceProcessor> p)
      : p_(std::move(p)) {}
  SpStatus Encode(std::string_view text, std::vector<int>* ids) const override {
    return Convert(p_->Encode(text, ids));
  }
  SpStatus Decode(const std::vector<int>& ids, std::string* text) const override {
    return Convert(p_->Decode(ids, text));
  }
  int piece_size() const override { return p_->GetPieceSize(); }
  const std::string& IdToPiece(int id) const override { return p_->IdToPiece(id); }
  bool IsControl(int id) const override { return p_->IsControl(id); }
  bool IsUnknown(int id) const override { return p_->IsUnknown(id); }
  bool IsByte(int id) const override { return p_->IsByte(id); }
  int bos_id() const override { return p_->bos_id(); }
  int eos_id() const override { return p_->eos_id(); }

 private:
  std::unique_ptr<sentencepiece::SentencePieceProcessor> p_;
};

class Library : public SentencePieceLibrary {
 public:
  std::unique_ptr<SentencePieceModel> FromSerialized(std::string_view serialized,
                                                     SpStatus* status) const override {
    auto processor = std::make_unique<sentencepiece::SentencePieceProcessor>();
    *status = Convert(processor->LoadFromSerializedProto(serialized));
    if (!status->ok()) return nullptr;
    if (processor->GetPieceSize() <= 0) {
      *status = {static_cast<int>(sentencepiece::util::StatusCode::kInvalidArgument),
                 "model has no pieces"};
      return nullptr;
    }
    return std::make_unique<ProcessorModel>(std::move(processor));
  }
  SpStatus Train(const std::string& args) const override {
    sentencepiece::SetRandomGeneratorSeed(1234);
    return Convert(sentencepiece::SentencePieceTrainer::Train(args));
  }
};

}  // namespace
}  // namespace infmem::tokenizer::internal

extern "C" __attribute__((visibility("default")))
const infmem::tokenizer::internal::SentencePieceLibrary*
InfmemSentencePieceLibrary() {
  static const infmem::tokenizer::internal::Library library;
  return &library;
}
