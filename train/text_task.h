// The text task: documents tokenized for language modelling, cut into equally long training
// sequences, and perplexity over whole documents. Stateless functions; the model passed to
// EvaluatePerplexity must not serve or train concurrently.
#ifndef INFMEM_TRAIN_TEXT_TASK_H_
#define INFMEM_TRAIN_TEXT_TASK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/model/model.h"
#include "server/tokenizer/tokenizer.h"

namespace infmem::train {

using TokenizedDocument = std::vector<int32_t>;

// Encodes each document, one sentence per line, and puts the tokenizer's BOS (when it has
// one) in front, so that a document starts as a fresh session does.
absl::StatusOr<std::vector<TokenizedDocument>> TokenizeDocuments(
    const tokenizer::Tokenizer& tokenizer, const std::vector<std::string>& documents);

// Cuts documents into sequences of exactly `length` tokens, in document order: consecutive
// windows from each document's start, and, when a tail is left over, one last window that
// ends at the document's end (overlapping the one before). Documents shorter than `length`
// give nothing. Every sequence lies inside one document, so its memory never mixes texts.
std::vector<TokenizedDocument> CutSequences(const std::vector<TokenizedDocument>& documents,
                                            int64_t length);

// Loss over the predicted tokens whose position in their document lies in [begin, end).
struct PositionBucket {
  int64_t begin = 0, end = 0;  // end = INT64_MAX: open
  int64_t tokens = 0;
  double mean_nll = 0;
};

// Returns, for each document longer than `prefix` tokens, a copy whose first `prefix` tokens
// come from the next such document (cyclically) instead: the same text to predict after a
// history that belongs elsewhere. Comparing a model's loss on positions past its short-term
// memory between the original and these tells whether its long-term memory carries
// information about the document. Returns nothing when fewer than two documents qualify.
std::vector<TokenizedDocument> SwapPrefixes(const std::vector<TokenizedDocument>& documents,
                                            int64_t prefix);

struct Perplexity {
  int64_t documents = 0;
  int64_t tokens = 0;     // predicted tokens (each document's first token is given)
  double mean_nll = 0;    // nats per predicted token
  double perplexity = 0;  // exp(mean_nll)
  std::vector<PositionBucket> by_position;  // one per bucket asked for
};

// Runs every document through `model` as one session, from its first token to its last,
// and returns the perplexity over all predicted tokens, and the mean loss per position
// bucket cut at the increasing `bucket_edges` (for example {256, 1024}: positions 1-255,
// 256-1023, 1024 on), which shows where in a document a memory pays off. InvalidArgument when
// no document has two tokens or a token is outside the model's vocabulary.
absl::StatusOr<Perplexity> EvaluatePerplexity(model::Model& model,
                                              const std::vector<TokenizedDocument>& documents,
                                              const std::vector<int64_t>& bucket_edges = {});

}  // namespace infmem::train

#endif  // INFMEM_TRAIN_TEXT_TASK_H_
