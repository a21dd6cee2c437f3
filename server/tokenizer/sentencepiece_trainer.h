// Trains a SentencePiece model with the library's trainer (tests, tools and the text
// model's tokenizer), through the separately loaded module of sentencepiece_model.h.
#ifndef INFMEM_SERVER_TOKENIZER_SENTENCEPIECE_TRAINER_H_
#define INFMEM_SERVER_TOKENIZER_SENTENCEPIECE_TRAINER_H_

#include <string>

namespace infmem::tokenizer {

// Runs the trainer with command-line style `args` ("--input=... --model_prefix=...") and a
// fixed random seed. Returns an empty string on success, otherwise the trainer's error.
std::string TrainSentencePiece(const std::string& args);

}  // namespace infmem::tokenizer

#endif  // INFMEM_SERVER_TOKENIZER_SENTENCEPIECE_TRAINER_H_
