// SentencePieceModel / SentencePieceLibrary: the SentencePiece library behind an interface of
// standard types, loaded at run time from a module of its own. Internal to the tokenizer.
//
// Why a module: Debian's libsentencepiece.so.0 embeds and exports its own copy of protobuf,
// while LibTorch links the system libprotobuf.so.32. Linked into one process, one library's
// protobuf calls bind to the other's copy and the process crashes during static
// initialisation. So SentencePiece lives in libinfmem_spm.so, opened with
// RTLD_LOCAL | RTLD_DEEPBIND: its protobuf references bind to its own copy, and its symbols
// never enter the global scope. (Also, <sentencepiece_processor.h> declares
// `namespace absl { using std::string_view; }`, which clashes with this Abseil's own
// absl::string_view, so only the module's source includes SentencePiece.)
// Thread-safety: const methods are safe to call concurrently.
#ifndef INFMEM_SERVER_TOKENIZER_SENTENCEPIECE_MODEL_H_
#define INFMEM_SERVER_TOKENIZER_SENTENCEPIECE_MODEL_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace infmem::tokenizer::internal {

// A SentencePiece status: `code` is a sentencepiece::util::StatusCode, whose values equal
// absl::StatusCode's; 0 is OK.
struct SpStatus {
  int code = 0;
  std::string message;
  bool ok() const { return code == 0; }
};

class SentencePieceModel {
 public:
  virtual ~SentencePieceModel() = default;
  virtual SpStatus Encode(std::string_view text, std::vector<int>* ids) const = 0;
  // `ids` must all be in [0, piece_size()).
  virtual SpStatus Decode(const std::vector<int>& ids, std::string* text) const = 0;
  virtual int piece_size() const = 0;
  // `id` must be in [0, piece_size()).
  virtual const std::string& IdToPiece(int id) const = 0;
  virtual bool IsControl(int id) const = 0;
  virtual bool IsUnknown(int id) const = 0;
  virtual bool IsByte(int id) const = 0;
  virtual int bos_id() const = 0;  // -1 when the model has none
  virtual int eos_id() const = 0;  // -1 when the model has none
};

class SentencePieceLibrary {
 public:
  virtual ~SentencePieceLibrary() = default;
  // Parses a serialized ModelProto (a .model file's bytes). Returns null and sets `*status`
  // when it is not a valid model.
  virtual std::unique_ptr<SentencePieceModel> FromSerialized(std::string_view serialized,
                                                             SpStatus* status) const = 0;
  // Runs the trainer with command-line style `args` and a fixed seed.
  virtual SpStatus Train(const std::string& args) const = 0;
};

// Returns the library, opening the module on first use (thread-safe). The module is looked
// up at $INFMEM_SPM_MODULE, next to the running executable, then at its build-tree path.
// Returns null and sets `*error` when it cannot be opened.
const SentencePieceLibrary* GetSentencePieceLibrary(std::string* error);

}  // namespace infmem::tokenizer::internal

// The module's one exported entry point.
extern "C" const infmem::tokenizer::internal::SentencePieceLibrary* InfmemSentencePieceLibrary();

#endif  // INFMEM_SERVER_TOKENIZER_SENTENCEPIECE_MODEL_H_
