#include "train/text_task.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "server/common/status_macros.h"
#include "server/model/trainer.h"

namespace infmem::train {

absl::StatusOr<std::vector<TokenizedDocument>> TokenizeDocuments(
    const tokenizer::Tokenizer& tokenizer, const std::vector<std::string>& documents) {
  std::vector<TokenizedDocument> out;
  out.reserve(documents.size());
  for (size_t d = 0; d < documents.size(); ++d) {
    TokenizedDocument ids;
    if (tokenizer.bos_id() >= 0) ids.push_back(tokenizer.bos_id());
    auto encoded = tokenizer.Encode(documents[d]);
    if (!encoded.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("document ", d, ": ", encoded.status().message()));
    }
    ids.insert(ids.end(), encoded->begin(), encoded->end());
    out.push_back(std::move(ids));
  }
  return out;
}

std::vector<TokenizedDocument> CutSequences(const std::vector<TokenizedDocument>& documents,
                                            int64_t length) {
  std::vector<TokenizedDocument> out;
  if (length <= 0) return out;
  for (const TokenizedDocument& doc : documents) {
    const int64_t n = static_cast<int64_t>(doc.size());
    if (n < length) continue;
    int64_t start = 0;
    for (; start + length <= n; start += length) {
      out.emplace_back(doc.begin() + start, doc.begin() + start + length);
    }
    if (start < n) out.emplace_back(doc.end() - length, doc.end());
  }
  return out;
}

absl::StatusOr<Perplexity> EvaluatePerplexity(model::Model& model,
                                              const std::vector<TokenizedDocument>& documents) {
  // The trainer's evaluation runs the serving forward segment by segment without autograd.
  model::Trainer scorer(model, model::TrainOptions{});
  Perplexity result;
  double nll_sum = 0;
  for (size_t d = 0; d < documents.size(); ++d) {
    const TokenizedDocument& doc = documents[d];
    if (doc.size() < 2) continue;
    auto mean = scorer.Evaluate({model::Sequence{doc, {}}});
    if (!mean.ok()) {
      return absl::Status(mean.status().code(),
                          absl::StrCat("document ", d, ": ", mean.status().message()));
    }
    const int64_t predicted = static_cast<int64_t>(doc.size()) - 1;
    nll_sum += *mean * static_cast<double>(predicted);
    result.tokens += predicted;
    ++result.documents;
  }
  if (result.tokens == 0) {
    return absl::InvalidArgumentError("no document has the two tokens perplexity needs");
  }
  result.mean_nll = nll_sum / static_cast<double>(result.tokens);
  result.perplexity = std::exp(result.mean_nll);
  return result;
}

}  // namespace infmem::train
