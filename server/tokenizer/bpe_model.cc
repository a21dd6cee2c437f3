#include "server/tokenizer/bpe_model.h"

#include <cstdint>
#include <cstdio>
#include <queue>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace infmem::tokenizer {
namespace {

// Returns the length of the UTF-8 sequence whose first byte is `lead` (input is validated).
size_t CharLength(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  return 4;
}

}  // namespace

absl::StatusOr<BpeModel> BpeModel::Build(
    absl::flat_hash_map<std::string, int32_t> vocab,
    const std::vector<std::pair<std::string, std::string>>& merges, const Options& options) {
  BpeModel model;
  model.options_ = options;
  model.vocab_ = std::move(vocab);
  for (int b = 0; b < 256; ++b) {
    std::string key;
    if (options.byte_level) {
      key = std::string(1, static_cast<char>(b));
    } else {
      char buffer[8];
      std::snprintf(buffer, sizeof(buffer), "<0x%02X>", b);
      key = buffer;
    }
    const auto it = model.vocab_.find(key);
    model.byte_ids_[b] = it == model.vocab_.end() ? -1 : it->second;
    if (options.byte_level && model.byte_ids_[b] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("byte-level vocabulary has no token for byte 0x", absl::Hex(b)));
    }
  }
  model.merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    const int32_t left_id = model.Find(left);
    const int32_t right_id = model.Find(right);
    const int32_t merged_id = model.Find(absl::StrCat(left, right));
    if (left_id < 0 || right_id < 0 || merged_id < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "merge ", rank, " ('", left.substr(0, 40), "' + '", right.substr(0, 40), "') names ",
          merged_id < 0 && left_id >= 0 && right_id >= 0 ? "a result" : "a token",
          " missing from the vocabulary"));
    }
    // A repeated pair takes its last rank: Hugging Face collects the list into a map.
    model.merges_.insert_or_assign(PairKey(left_id, right_id),
                                   Merge{static_cast<int32_t>(rank), merged_id});
  }
  return model;
}

int32_t BpeModel::Find(absl::string_view text) const {
  const auto it = vocab_.find(text);
  return it == vocab_.end() ? -1 : it->second;
}

void BpeModel::InitialSymbols(absl::string_view word, std::vector<int32_t>* ids) const {
  if (options_.byte_level) {
    for (const char c : word) ids->push_back(byte_ids_[static_cast<unsigned char>(c)]);
    return;
  }
  bool previous_unknown = false;
  for (size_t pos = 0; pos < word.size();) {
    const size_t length =
        std::min(CharLength(static_cast<unsigned char>(word[pos])), word.size() - pos);
    const absl::string_view character = word.substr(pos, length);
    pos += length;
    const int32_t id = Find(character);
    if (id >= 0) {
      ids->push_back(id);
      previous_unknown = false;
      continue;
    }
    if (options_.byte_fallback) {
      bool all_bytes = true;
      for (const char c : character)
        all_bytes = all_bytes && byte_ids_[static_cast<unsigned char>(c)] >= 0;
      if (all_bytes) {
        for (const char c : character) ids->push_back(byte_ids_[static_cast<unsigned char>(c)]);
        previous_unknown = false;
        continue;
      }
    }
    if (options_.unk_id < 0) continue;  // dropped, as Hugging Face does without an unk token
    if (!(options_.fuse_unk && previous_unknown)) ids->push_back(options_.unk_id);
    previous_unknown = true;
  }
}

void BpeModel::Encode(absl::string_view word, std::vector<int32_t>* out) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    const int32_t whole = Find(word);
    if (whole >= 0) {
      out->push_back(whole);
      return;
    }
  }
  std::vector<int32_t> ids;
  ids.reserve(word.size());
  InitialSymbols(word, &ids);
  const int n = static_cast<int>(ids.size());
  if (n <= 1) {
    out->insert(out->end(), ids.begin(), ids.end());
    return;
  }
  // A doubly linked list over the symbols; a merged-away symbol has alive = false.
  std::vector<int> prev(n), next(n);
  std::vector<char> alive(n, 1);
  for (int i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  struct Candidate {
    int32_t rank;
    int pos;
    int32_t id;
    bool operator>(const Candidate& other) const {
      return rank != other.rank ? rank > other.rank : pos > other.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  const auto push = [&](int left) {
    const int right = next[left];
    if (right < 0) return;
    const auto it = merges_.find(PairKey(ids[left], ids[right]));
    if (it != merges_.end()) queue.push(Candidate{it->second.rank, left, it->second.id});
  };
  for (int i = 0; i + 1 < n; ++i) push(i);
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    if (!alive[top.pos] || next[top.pos] < 0) continue;
    const int right = next[top.pos];
    const auto it = merges_.find(PairKey(ids[top.pos], ids[right]));
    if (it == merges_.end() || it->second.id != top.id) continue;  // stale entry
    ids[top.pos] = top.id;
    alive[right] = 0;
    next[top.pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = top.pos;
    if (prev[top.pos] >= 0) push(prev[top.pos]);
    push(top.pos);
  }
  for (int i = 0; i >= 0; i = next[i]) out->push_back(ids[i]);
}

}  // namespace infmem::tokenizer
