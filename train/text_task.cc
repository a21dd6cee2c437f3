#include "train/text_task.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

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

std::vector<TokenizedDocument> SwapPrefixes(const std::vector<TokenizedDocument>& documents,
                                            int64_t prefix) {
  std::vector<const TokenizedDocument*> long_enough;
  for (const TokenizedDocument& doc : documents) {
    if (prefix > 0 && static_cast<int64_t>(doc.size()) > prefix) long_enough.push_back(&doc);
  }
  std::vector<TokenizedDocument> out;
  if (long_enough.size() < 2) return out;
  for (size_t i = 0; i < long_enough.size(); ++i) {
    const TokenizedDocument& own = *long_enough[i];
    const TokenizedDocument& other = *long_enough[(i + 1) % long_enough.size()];
    TokenizedDocument swapped(other.begin(), other.begin() + prefix);
    swapped.insert(swapped.end(), own.begin() + prefix, own.end());
    out.push_back(std::move(swapped));
  }
  return out;
}

absl::StatusOr<Perplexity> EvaluatePerplexity(model::Model& model,
                                              const std::vector<TokenizedDocument>& documents,
                                              const std::vector<int64_t>& bucket_edges) {
  // The trainer's evaluation runs the serving forward segment by segment without autograd.
  model::Trainer scorer(model, model::TrainOptions{});
  Perplexity result;
  int64_t begin = 1;  // position 0 is given, never predicted
  for (int64_t edge : bucket_edges) {
    if (edge <= begin) {
      return absl::InvalidArgumentError("position bucket edges must increase from 2");
    }
    result.by_position.push_back({begin, edge});
    begin = edge;
  }
  result.by_position.push_back({begin, INT64_MAX});
  std::vector<double> bucket_sums(result.by_position.size(), 0.0);
  double nll_sum = 0;
  for (size_t d = 0; d < documents.size(); ++d) {
    const TokenizedDocument& doc = documents[d];
    if (doc.size() < 2) continue;
    auto losses = scorer.TokenLosses(model::Sequence{doc, {}});
    if (!losses.ok()) {
      return absl::Status(losses.status().code(),
                          absl::StrCat("document ", d, ": ", losses.status().message()));
    }
    size_t bucket = 0;
    for (size_t i = 0; i < losses->size(); ++i) {
      const int64_t position = static_cast<int64_t>(i) + 1;
      while (position >= result.by_position[bucket].end) ++bucket;
      bucket_sums[bucket] += (*losses)[i];
      ++result.by_position[bucket].tokens;
      nll_sum += (*losses)[i];
    }
    result.tokens += static_cast<int64_t>(losses->size());
    ++result.documents;
  }
  if (result.tokens == 0) {
    return absl::InvalidArgumentError("no document has the two tokens perplexity needs");
  }
  for (size_t b = 0; b < bucket_sums.size(); ++b) {
    PositionBucket& bucket = result.by_position[b];
    if (bucket.tokens > 0) bucket.mean_nll = bucket_sums[b] / static_cast<double>(bucket.tokens);
  }
  result.mean_nll = nll_sum / static_cast<double>(result.tokens);
  result.perplexity = std::exp(result.mean_nll);
  return result;
}

}  // namespace infmem::train
