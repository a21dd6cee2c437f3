// The tokenizer.json pipeline, step for step as Hugging Face's tokenizers runs it:
//   1. added tokens that are not `normalized` are cut out of the raw text (leftmost-longest);
//   2. the normalizer runs on the other fragments, then `normalized` added tokens are cut out;
//   3. the pre-tokenizers split each fragment into pre-tokens;
//   4. the BPE model turns each pre-token into ids.
// Byte-level tokenizers work on raw bytes throughout: the vocabulary is mapped back from
// GPT-2's byte alphabet once at load, so no text is ever mapped into that alphabet.
#include "server/tokenizer/hf_tokenizer.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "server/common/status_macros.h"
#include "server/common/strict_json.h"
#include "server/tokenizer/bpe_model.h"
#include "server/tokenizer/unicode_text.h"

namespace infmem::tokenizer {
namespace {

using Json = nlohmann::json;

// GPT-2's pre-tokenizer pattern, used by a ByteLevel pre-tokenizer with use_regex.
constexpr absl::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr absl::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

// ---- UTF-8 ----

// Decodes the code point at `text[*pos]` (valid UTF-8) and advances `*pos`.
char32_t NextCodepoint(absl::string_view text, size_t* pos) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(*pos);
  int length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
  length = static_cast<int>(std::min<size_t>(length, text.size() - *pos));
  char32_t c = length == 1   ? lead
               : length == 2 ? (lead & 0x1F)
               : length == 3 ? (lead & 0x0F)
                             : (lead & 0x07);
  for (int i = 1; i < length; ++i) c = (c << 6) | (byte(*pos + i) & 0x3F);
  *pos += length;
  return c;
}

// Returns `bytes` with each maximal invalid subsequence replaced by U+FFFD (Rust's
// String::from_utf8_lossy, which Hugging Face's decoders use).
std::string LossyUtf8(absl::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t pos = 0;
  while (pos < bytes.size()) {
    const unsigned char lead = static_cast<unsigned char>(bytes[pos]);
    if (lead < 0x80) {
      out.push_back(static_cast<char>(lead));
      ++pos;
      continue;
    }
    int length = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      if (lead == 0xE0) lo = 0xA0;
      if (lead == 0xED) hi = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      if (lead == 0xF0) lo = 0x90;
      if (lead == 0xF4) hi = 0x8F;
    }
    int valid = length == 0 ? 0 : 1;  // bytes of a valid prefix
    while (valid > 0 && valid < length && pos + valid < bytes.size()) {
      const unsigned char b = static_cast<unsigned char>(bytes[pos + valid]);
      const unsigned char min = valid == 1 ? lo : 0x80, max = valid == 1 ? hi : 0xBF;
      if (b < min || b > max) break;
      ++valid;
    }
    if (length > 0 && valid == length) {
      out.append(bytes.data() + pos, length);
      pos += length;
    } else {
      out.append(kReplacementChar.data(), kReplacementChar.size());
      pos += std::max(valid, 1);
    }
  }
  return out;
}

// ---- GPT-2's byte alphabet ----

// The code point GPT-2's byte-level encoding gives each byte.
std::array<char32_t, 256> ByteAlphabet() {
  std::array<char32_t, 256> map{};
  std::array<bool, 256> printable{};
  for (int b = 0; b < 256; ++b) {
    printable[b] = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
  }
  int next = 0;
  for (int b = 0; b < 256; ++b) map[b] = printable[b] ? b : 256 + next++;
  return map;
}

// Maps a byte-alphabet string back to bytes; nullopt when a character is outside the alphabet.
std::optional<std::string> FromByteAlphabet(absl::string_view text,
                                            const absl::flat_hash_map<char32_t, char>& inverse) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const auto it = inverse.find(NextCodepoint(text, &pos));
    if (it == inverse.end()) return std::nullopt;
    out.push_back(it->second);
  }
  return out;
}

// ---- errors and JSON fields ----

absl::Status FieldError(absl::string_view source, absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": field '", field, "' ", what));
}

absl::Status UnsupportedType(absl::string_view source, const std::string& path,
                             absl::string_view kind, const std::string& type) {
  return FieldError(source, path + ".type",
                    absl::StrCat("names an unsupported ", kind, " \"", type.substr(0, 64), "\""));
}

absl::StatusOr<std::string> StringField(const Json& object, absl::string_view source,
                                        const std::string& path, const char* key) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_string()) {
    return FieldError(source, absl::StrCat(path, ".", key), "must be a string");
  }
  return it->get<std::string>();
}

absl::StatusOr<bool> BoolField(const Json& object, absl::string_view source,
                               const std::string& path, const char* key, bool fallback) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  if (!it->is_boolean())
    return FieldError(source, absl::StrCat(path, ".", key), "must be a boolean");
  return it->get<bool>();
}

// A Metaspace component's prepend scheme: "prepend_scheme", or the older add_prefix_space.
absl::StatusOr<std::string> PrependScheme(const Json& object, absl::string_view source,
                                          const std::string& path) {
  if (object.contains("prepend_scheme")) return StringField(object, source, path, "prepend_scheme");
  ASSIGN_OR_RETURN(const bool add, BoolField(object, source, path, "add_prefix_space", true));
  return std::string(add ? "always" : "never");
}

// A Split/Replace pattern: {"String": "..."} or {"Regex": "..."}.
struct Pattern {
  std::string literal;
  std::shared_ptr<UnicodeRegex> regex;

  // The [begin, end) ranges of the matches in `text`.
  std::vector<std::pair<size_t, size_t>> FindAll(absl::string_view text) const {
    if (regex != nullptr) return regex->FindAll(text);
    std::vector<std::pair<size_t, size_t>> matches;
    if (literal.empty()) return matches;
    for (size_t pos = text.find(literal); pos != absl::string_view::npos;
         pos = text.find(literal, pos + literal.size())) {
      matches.emplace_back(pos, pos + literal.size());
    }
    return matches;
  }
};

absl::StatusOr<Pattern> ParsePattern(const Json& object, absl::string_view source,
                                     const std::string& path) {
  const auto it = object.find("pattern");
  if (it == object.end() || !it->is_object() || it->size() != 1) {
    return FieldError(source, path + ".pattern", "must be {\"String\": ...} or {\"Regex\": ...}");
  }
  Pattern pattern;
  if (it->contains("String") && (*it)["String"].is_string()) {
    pattern.literal = (*it)["String"].get<std::string>();
    return pattern;
  }
  if (it->contains("Regex") && (*it)["Regex"].is_string()) {
    auto regex = UnicodeRegex::Compile((*it)["Regex"].get<std::string>());
    if (!regex.ok()) return FieldError(source, path + ".pattern.Regex", regex.status().message());
    pattern.regex = std::shared_ptr<UnicodeRegex>(std::move(*regex));
    return pattern;
  }
  return FieldError(source, path + ".pattern", "must be {\"String\": ...} or {\"Regex\": ...}");
}

// Calls `each(object, path)` for a component or every member of a "Sequence" of them.
template <typename Each>
absl::Status ForEachComponent(const Json& node, absl::string_view source, const std::string& path,
                              const char* list_key, Each each) {
  if (node.is_null()) return absl::OkStatus();
  if (!node.is_object() || !node.contains("type") || !node["type"].is_string()) {
    return FieldError(source, path, "must be an object with a string 'type'");
  }
  if (node["type"] == "Sequence") {
    const auto it = node.find(list_key);
    if (it == node.end() || !it->is_array()) {
      return FieldError(source, absl::StrCat(path, ".", list_key), "must be an array");
    }
    for (size_t i = 0; i < it->size(); ++i) {
      RETURN_IF_ERROR(ForEachComponent(
          (*it)[i], source, absl::StrCat(path, ".", list_key, "[", i, "]"), list_key, each));
    }
    return absl::OkStatus();
  }
  return each(node, path);
}

// ---- pipeline components ----

struct Normalizer {
  enum Kind { kForm, kLowercase, kReplace, kPrepend, kStrip } kind = kForm;
  NormalForm form = NormalForm::kNfc;
  Pattern pattern;
  std::string content;
  bool left = false, right = false;
};

enum class Behavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

struct PreTokenizer {
  enum Kind { kSplit, kByteLevel, kMetaspace, kDigits } kind = kSplit;
  Pattern pattern;
  Behavior behavior = Behavior::kIsolated;
  bool invert = false;
  bool add_prefix_space = false;
  bool use_regex = false;
  std::string replacement;
  enum Prepend { kAlways, kFirst, kNever } prepend = kAlways;
  bool split = true;
  bool individual_digits = false;
};

struct Decoder {
  enum Kind { kByteLevel, kReplace, kByteFallback, kFuse, kStrip, kMetaspace } kind = kByteLevel;
  std::string pattern, content;
  int start = 0, stop = 0;
  bool strip_first_space = false;  // Metaspace with a prepend scheme
};

struct AddedToken {
  int32_t id;
  std::string content;  // matched as is, or normalized when `normalized`
  bool special, lstrip, rstrip, normalized, single_word;
};

// A byte trie over added-token contents, for leftmost-longest matching.
class TokenTrie {
 public:
  void Add(absl::string_view text, int token) {
    if (text.empty()) return;
    int node = 0;
    for (const char c : text) {
      auto& children = nodes_[node].children;
      const auto it = std::find_if(children.begin(), children.end(),
                                   [&](const auto& child) { return child.first == c; });
      if (it != children.end()) {
        node = it->second;
        continue;
      }
      children.emplace_back(c, static_cast<int>(nodes_.size()));
      node = static_cast<int>(nodes_.size());
      nodes_.emplace_back();
    }
    if (nodes_[node].token < 0) nodes_[node].token = token;
  }
  bool empty() const { return nodes_.size() == 1; }
  // Returns the longest token starting at `text[pos]` and its end, or {-1, pos}.
  std::pair<int, size_t> LongestAt(absl::string_view text, size_t pos) const {
    std::pair<int, size_t> best{-1, pos};
    int node = 0;
    for (size_t i = pos; i < text.size(); ++i) {
      const auto& children = nodes_[node].children;
      const auto it = std::find_if(children.begin(), children.end(),
                                   [&](const auto& child) { return child.first == text[i]; });
      if (it == children.end()) break;
      node = it->second;
      if (nodes_[node].token >= 0) best = {nodes_[node].token, i + 1};
    }
    return best;
  }

 private:
  struct Node {
    std::vector<std::pair<char, int>> children;
    int token = -1;
  };
  std::vector<Node> nodes_ = std::vector<Node>(1);
};

// A piece of the input on its way through the pipeline: text still to tokenize, or an added
// token already matched.
struct Fragment {
  std::string text;
  int32_t id = -1;
  bool at_start = false;  // begins at offset 0 of the input (Metaspace's "first" scheme)
};

}  // namespace

struct HfTokenizer::Pipeline {
  std::vector<Normalizer> normalizers;
  std::vector<PreTokenizer> pre_tokenizers;
  std::vector<Decoder> decoders;
  std::optional<BpeModel> model;
  bool byte_level = false;
  std::vector<AddedToken> added;
  TokenTrie raw_trie, normalized_trie;
  std::vector<std::string> token_string;  // id -> the token as tokenizer.json spells it
  std::vector<std::string> stream_text;   // id -> TokenText
  std::vector<char> special;              // id -> a special added token
  absl::flat_hash_map<std::string, int32_t> content_id;  // vocabulary and added contents
  absl::flat_hash_map<char32_t, char> byte_of;           // byte alphabet, inverted
  int32_t bos = -1, eos = -1;
  bool adds_bos = false;
  std::vector<int32_t> end_of_turn;

  absl::StatusOr<std::string> Normalize(std::string text) const;
  // Cuts the added tokens of `trie` out of the text fragments. Special ones only when
  // `specials`, and never where they overlap a `literal` range (offsets into the fragment
  // that starts the input: the raw pass).
  std::vector<Fragment> SplitAdded(std::vector<Fragment> fragments, const TokenTrie& trie,
                                   bool specials, const Tokenizer::Spans& literal = {}) const;
  void PreTokenize(const Fragment& fragment, std::vector<std::string>* pieces) const;
  std::vector<std::string> RunDecoders(std::vector<std::string> tokens) const;
};

namespace {

// Splits `text` at `matches` per `behavior` (Hugging Face's NormalizedString::split).
void SplitByMatches(absl::string_view text, const std::vector<std::pair<size_t, size_t>>& matches,
                    Behavior behavior, bool invert, std::vector<std::string>* out) {
  // Segments covering the text, each flagged as a match or not.
  std::vector<std::pair<std::pair<size_t, size_t>, bool>> segments;
  size_t last = 0;
  for (const auto& [begin, end] : matches) {
    if (begin > last) segments.push_back({{last, begin}, invert});
    segments.push_back({{begin, end}, !invert});
    last = end;
  }
  if (last < text.size()) segments.push_back({{last, text.size()}, invert});
  std::vector<std::pair<size_t, size_t>> pieces;
  bool previous_match = false;
  switch (behavior) {
    case Behavior::kRemoved:
      for (const auto& [range, is_match] : segments) {
        if (!is_match) pieces.push_back(range);
      }
      break;
    case Behavior::kIsolated:
      for (const auto& segment : segments) pieces.push_back(segment.first);
      break;
    case Behavior::kMergedWithPrevious:
      for (const auto& [range, is_match] : segments) {
        if (is_match && !previous_match && !pieces.empty()) {
          pieces.back().second = range.second;
        } else {
          pieces.push_back(range);
        }
        previous_match = is_match;
      }
      break;
    case Behavior::kMergedWithNext:
      for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
        if (it->second && !previous_match && !pieces.empty()) {
          pieces.back().first = it->first.first;
        } else {
          pieces.push_back(it->first);
        }
        previous_match = it->second;
      }
      std::reverse(pieces.begin(), pieces.end());
      break;
    case Behavior::kContiguous:
      for (const auto& [range, is_match] : segments) {
        if (is_match == previous_match && !pieces.empty()) {
          pieces.back().second = range.second;
        } else {
          pieces.push_back(range);
        }
        previous_match = is_match;
      }
      break;
  }
  for (const auto& [begin, end] : pieces) {
    if (end > begin) out->emplace_back(text.substr(begin, end - begin));
  }
}

std::string ReplaceAll(absl::string_view text, const Pattern& pattern, absl::string_view content) {
  std::string out;
  size_t last = 0;
  for (const auto& [begin, end] : pattern.FindAll(text)) {
    absl::StrAppend(&out, text.substr(last, begin - last), content);
    last = end;
  }
  absl::StrAppend(&out, text.substr(last));
  return out;
}

// Strips Unicode whitespace from the left and/or right of `text`.
std::string StripWhitespace(absl::string_view text, bool left, bool right) {
  size_t begin = 0, end = text.size();
  if (left) {
    for (size_t pos = 0; pos < text.size();) {
      if (!IsWhitespace(NextCodepoint(text, &pos))) break;
      begin = pos;
    }
  }
  if (right) {
    size_t pos = begin;
    size_t last_non_space = begin;
    while (pos < text.size()) {
      const char32_t c = NextCodepoint(text, &pos);
      if (!IsWhitespace(c)) last_non_space = pos;
    }
    end = last_non_space;
  }
  return std::string(text.substr(begin, end - begin));
}

// Returns the last / first code point of `text` (non-empty, valid UTF-8).
char32_t LastCodepoint(absl::string_view text) {
  size_t start = text.size() - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  return NextCodepoint(text, &start);
}

bool IsWordChar(char32_t c) { return c == '_' || IsAlphanumeric(c); }

}  // namespace

absl::StatusOr<std::string> HfTokenizer::Pipeline::Normalize(std::string text) const {
  for (const Normalizer& step : normalizers) {
    switch (step.kind) {
      case Normalizer::kForm: {
        ASSIGN_OR_RETURN(text, ::infmem::tokenizer::Normalize(text, step.form));
        break;
      }
      case Normalizer::kLowercase:
        text = Lowercase(text);
        break;
      case Normalizer::kReplace:
        text = ReplaceAll(text, step.pattern, step.content);
        break;
      case Normalizer::kPrepend:
        if (!text.empty()) text = absl::StrCat(step.content, text);
        break;
      case Normalizer::kStrip:
        text = StripWhitespace(text, step.left, step.right);
        break;
    }
  }
  return text;
}

std::vector<Fragment> HfTokenizer::Pipeline::SplitAdded(std::vector<Fragment> fragments,
                                                        const TokenTrie& trie, bool specials,
                                                        const Tokenizer::Spans& literal) const {
  if (trie.empty()) return fragments;
  std::vector<Fragment> out;
  for (Fragment& fragment : fragments) {
    if (fragment.id >= 0) {
      out.push_back(std::move(fragment));
      continue;
    }
    const std::string& text = fragment.text;
    size_t start_offset = 0;  // end of the previous match
    for (size_t pos = 0; pos < text.size();) {
      const auto [token, match_end] = trie.LongestAt(text, pos);
      if (token < 0) {
        ++pos;
        continue;
      }
      const AddedToken& added_token = added[token];
      size_t start = pos, stop = match_end;
      pos = match_end;
      if (start < start_offset) continue;  // inside a previous match's stripped whitespace
      if (added_token.special && !specials) continue;
      if (added_token.special && fragment.at_start &&
          std::any_of(literal.begin(), literal.end(),
                      [&](const auto& span) { return start < span.second && span.first < stop; })) {
        continue;  // a message's own text spelling a special token stays text
      }
      if (added_token.single_word) {
        const bool word_before = start > 0 && IsWordChar(LastCodepoint(text.substr(0, start)));
        size_t after = stop;
        const bool word_after = stop < text.size() && IsWordChar(NextCodepoint(text, &after));
        if (word_before || word_after) continue;
      }
      if (added_token.lstrip) {
        size_t new_start = start;
        while (new_start > start_offset) {
          const absl::string_view before(text.data() + start_offset, new_start - start_offset);
          const char32_t c = LastCodepoint(before);
          if (!IsWhitespace(c)) break;
          size_t length = 1;
          while ((static_cast<unsigned char>(text[new_start - length]) & 0xC0) == 0x80) ++length;
          new_start -= length;
        }
        start = new_start;
      }
      if (added_token.rstrip) {
        while (stop < text.size()) {
          size_t next = stop;
          if (!IsWhitespace(NextCodepoint(text, &next))) break;
          stop = next;
        }
        pos = stop;
      }
      if (start > start_offset) {
        out.push_back(Fragment{text.substr(start_offset, start - start_offset), -1,
                               fragment.at_start && start_offset == 0});
      }
      out.push_back(Fragment{"", added_token.id, false});
      start_offset = stop;
    }
    if (start_offset < text.size()) {
      out.push_back(
          Fragment{text.substr(start_offset), -1, fragment.at_start && start_offset == 0});
    }
  }
  return out;
}

void HfTokenizer::Pipeline::PreTokenize(const Fragment& fragment,
                                        std::vector<std::string>* pieces) const {
  pieces->clear();
  pieces->push_back(fragment.text);
  std::vector<std::string> next;
  for (const PreTokenizer& step : pre_tokenizers) {
    next.clear();
    for (size_t i = 0; i < pieces->size(); ++i) {
      std::string& piece = (*pieces)[i];
      switch (step.kind) {
        case PreTokenizer::kSplit:
          SplitByMatches(piece, step.pattern.FindAll(piece), step.behavior, step.invert, &next);
          break;
        case PreTokenizer::kByteLevel: {
          if (step.add_prefix_space && !absl::StartsWith(piece, " ")) piece.insert(0, " ");
          if (step.use_regex) {
            SplitByMatches(piece, step.pattern.FindAll(piece), Behavior::kIsolated, false, &next);
          } else {
            next.push_back(std::move(piece));
          }
          break;
        }
        case PreTokenizer::kMetaspace: {
          std::string replaced = absl::StrReplaceAll(piece, {{" ", step.replacement}});
          const bool prepend =
              step.prepend == PreTokenizer::kAlways ||
              (step.prepend == PreTokenizer::kFirst && i == 0 && fragment.at_start);
          if (prepend && !absl::StartsWith(replaced, step.replacement)) {
            replaced.insert(0, step.replacement);
          }
          if (step.split) {
            SplitByMatches(replaced, step.pattern.FindAll(replaced), Behavior::kMergedWithNext,
                           false, &next);
          } else {
            next.push_back(std::move(replaced));
          }
          break;
        }
        case PreTokenizer::kDigits:
          SplitByMatches(piece, step.pattern.FindAll(piece),
                         step.individual_digits ? Behavior::kIsolated : Behavior::kContiguous,
                         false, &next);
          break;
      }
    }
    pieces->swap(next);
  }
}

std::vector<std::string> HfTokenizer::Pipeline::RunDecoders(std::vector<std::string> tokens) const {
  for (const Decoder& step : decoders) {
    switch (step.kind) {
      case Decoder::kByteLevel: {
        std::string bytes;
        for (const std::string& token : tokens) {
          const std::optional<std::string> raw = FromByteAlphabet(token, byte_of);
          absl::StrAppend(&bytes, raw.has_value() ? *raw : token);
        }
        tokens = {LossyUtf8(bytes)};
        break;
      }
      case Decoder::kReplace:
        for (std::string& token : tokens)
          token = absl::StrReplaceAll(token, {{step.pattern, step.content}});
        break;
      case Decoder::kByteFallback: {
        std::vector<std::string> out;
        std::string pending;
        const auto flush = [&] {
          if (pending.empty()) return;
          if (ValidateUtf8(pending).ok()) {
            out.push_back(pending);
          } else {
            for (size_t i = 0; i < pending.size(); ++i) out.emplace_back(kReplacementChar);
          }
          pending.clear();
        };
        for (std::string& token : tokens) {
          int byte = 0;
          if (token.size() == 6 && absl::StartsWith(token, "<0x") && token.back() == '>' &&
              absl::SimpleHexAtoi(absl::string_view(token).substr(3, 2), &byte)) {
            pending.push_back(static_cast<char>(byte));
            continue;
          }
          flush();
          out.push_back(std::move(token));
        }
        flush();
        tokens = std::move(out);
        break;
      }
      case Decoder::kFuse:
        tokens = {absl::StrJoin(tokens, "")};
        break;
      case Decoder::kStrip:
        for (std::string& token : tokens) {
          for (int n = 0; n < step.start && absl::StartsWith(token, step.content); ++n) {
            token.erase(0, step.content.size());
          }
          for (int n = 0; n < step.stop && absl::EndsWith(token, step.content); ++n) {
            token.erase(token.size() - step.content.size());
          }
        }
        break;
      case Decoder::kMetaspace:
        for (size_t i = 0; i < tokens.size(); ++i) {
          tokens[i] = absl::StrReplaceAll(tokens[i], {{step.pattern, " "}});
          if (i == 0 && step.strip_first_space && absl::StartsWith(tokens[i], " ")) {
            tokens[i].erase(0, 1);
          }
        }
        break;
    }
  }
  return tokens;
}

namespace {

absl::Status ParseNormalizer(const Json& node, absl::string_view source,
                             std::vector<Normalizer>* out) {
  return ForEachComponent(
      node, source, "normalizer", "normalizers",
      [&](const Json& object, const std::string& path) -> absl::Status {
        const std::string type = object["type"].get<std::string>();
        Normalizer step;
        if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
          step.form = type == "NFC"    ? NormalForm::kNfc
                      : type == "NFD"  ? NormalForm::kNfd
                      : type == "NFKC" ? NormalForm::kNfkc
                                       : NormalForm::kNfkd;
        } else if (type == "Lowercase") {
          step.kind = Normalizer::kLowercase;
        } else if (type == "Replace") {
          step.kind = Normalizer::kReplace;
          ASSIGN_OR_RETURN(step.pattern, ParsePattern(object, source, path));
          ASSIGN_OR_RETURN(step.content, StringField(object, source, path, "content"));
        } else if (type == "Prepend") {
          step.kind = Normalizer::kPrepend;
          ASSIGN_OR_RETURN(step.content, StringField(object, source, path, "prepend"));
        } else if (type == "Strip") {
          step.kind = Normalizer::kStrip;
          ASSIGN_OR_RETURN(step.left, BoolField(object, source, path, "strip_left", false));
          ASSIGN_OR_RETURN(step.right, BoolField(object, source, path, "strip_right", false));
        } else {
          return UnsupportedType(source, path, "normalizer", type);
        }
        out->push_back(std::move(step));
        return absl::OkStatus();
      });
}

absl::StatusOr<Behavior> ParseBehavior(const Json& object, absl::string_view source,
                                       const std::string& path) {
  ASSIGN_OR_RETURN(const std::string name, StringField(object, source, path, "behavior"));
  if (name == "Removed") return Behavior::kRemoved;
  if (name == "Isolated") return Behavior::kIsolated;
  if (name == "MergedWithPrevious") return Behavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return Behavior::kMergedWithNext;
  if (name == "Contiguous") return Behavior::kContiguous;
  return FieldError(source, path + ".behavior",
                    absl::StrCat("is unknown: \"", name.substr(0, 64), "\""));
}

absl::Status ParsePreTokenizer(const Json& node, absl::string_view source,
                               std::vector<PreTokenizer>* out, bool* byte_level) {
  return ForEachComponent(
      node, source, "pre_tokenizer", "pretokenizers",
      [&](const Json& object, const std::string& path) -> absl::Status {
        const std::string type = object["type"].get<std::string>();
        if (*byte_level) {
          return FieldError(source, path,
                            "follows a ByteLevel pre-tokenizer (it must be the last)");
        }
        PreTokenizer step;
        if (type == "Split") {
          ASSIGN_OR_RETURN(step.pattern, ParsePattern(object, source, path));
          ASSIGN_OR_RETURN(step.behavior, ParseBehavior(object, source, path));
          ASSIGN_OR_RETURN(step.invert, BoolField(object, source, path, "invert", false));
        } else if (type == "ByteLevel") {
          step.kind = PreTokenizer::kByteLevel;
          ASSIGN_OR_RETURN(step.add_prefix_space,
                           BoolField(object, source, path, "add_prefix_space", true));
          ASSIGN_OR_RETURN(step.use_regex, BoolField(object, source, path, "use_regex", true));
          if (step.use_regex) {
            ASSIGN_OR_RETURN(auto regex, UnicodeRegex::Compile(kGpt2Pattern));
            step.pattern.regex = std::shared_ptr<UnicodeRegex>(std::move(regex));
          }
          *byte_level = true;
        } else if (type == "Metaspace") {
          step.kind = PreTokenizer::kMetaspace;
          ASSIGN_OR_RETURN(step.replacement, StringField(object, source, path, "replacement"));
          ASSIGN_OR_RETURN(step.split, BoolField(object, source, path, "split", true));
          ASSIGN_OR_RETURN(const std::string scheme, PrependScheme(object, source, path));
          if (scheme == "always") {
            step.prepend = PreTokenizer::kAlways;
          } else if (scheme == "first") {
            step.prepend = PreTokenizer::kFirst;
          } else if (scheme == "never") {
            step.prepend = PreTokenizer::kNever;
          } else {
            return FieldError(source, path + ".prepend_scheme", "must be always, first or never");
          }
          step.pattern.literal = step.replacement;
        } else if (type == "Digits") {
          step.kind = PreTokenizer::kDigits;
          ASSIGN_OR_RETURN(step.individual_digits,
                           BoolField(object, source, path, "individual_digits", false));
          ASSIGN_OR_RETURN(
              auto regex, UnicodeRegex::Compile(step.individual_digits ? R"(\p{N})" : R"(\p{N}+)"));
          step.pattern.regex = std::shared_ptr<UnicodeRegex>(std::move(regex));
        } else {
          return UnsupportedType(source, path, "pre-tokenizer", type);
        }
        out->push_back(std::move(step));
        return absl::OkStatus();
      });
}

absl::Status ParseDecoder(const Json& node, absl::string_view source, std::vector<Decoder>* out) {
  return ForEachComponent(
      node, source, "decoder", "decoders",
      [&](const Json& object, const std::string& path) -> absl::Status {
        const std::string type = object["type"].get<std::string>();
        Decoder step;
        if (type == "ByteLevel") {
        } else if (type == "Replace") {
          step.kind = Decoder::kReplace;
          ASSIGN_OR_RETURN(const Pattern pattern, ParsePattern(object, source, path));
          if (pattern.regex != nullptr) {
            return FieldError(source, path + ".pattern", "must be a String pattern in a decoder");
          }
          step.pattern = pattern.literal;
          ASSIGN_OR_RETURN(step.content, StringField(object, source, path, "content"));
        } else if (type == "ByteFallback") {
          step.kind = Decoder::kByteFallback;
        } else if (type == "Fuse") {
          step.kind = Decoder::kFuse;
        } else if (type == "Strip") {
          step.kind = Decoder::kStrip;
          ASSIGN_OR_RETURN(step.content, StringField(object, source, path, "content"));
          for (const char* key : {"start", "stop"}) {
            const auto it = object.find(key);
            if (it == object.end() || !it->is_number_unsigned() || it->get<uint64_t>() > 1024) {
              return FieldError(source, absl::StrCat(path, ".", key),
                                "must be an integer in [0, 1024]");
            }
            (std::string(key) == "start" ? step.start : step.stop) = it->get<int>();
          }
        } else if (type == "Metaspace") {
          step.kind = Decoder::kMetaspace;
          ASSIGN_OR_RETURN(step.pattern, StringField(object, source, path, "replacement"));
          ASSIGN_OR_RETURN(const std::string scheme, PrependScheme(object, source, path));
          step.strip_first_space = scheme != "never";
        } else {
          return UnsupportedType(source, path, "decoder", type);
        }
        out->push_back(std::move(step));
        return absl::OkStatus();
      });
}

// Reads the "content" of a special-token entry in tokenizer_config.json: a string or an
// AddedToken object. Empty when absent or null.
absl::StatusOr<std::string> ConfigToken(const Json& config, const char* key) {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::string();
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
    return (*it)["content"].get<std::string>();
  }
  return absl::InvalidArgumentError(absl::StrCat("tokenizer_config.json: field '", key,
                                                 "' must be a string or {\"content\": ...}"));
}

absl::StatusOr<Json> ParseJsonText(absl::string_view text, absl::string_view source) {
  Json json;
  const JsonProblem problem = ParseStrictJson(text, &json);
  switch (problem.kind) {
    case JsonProblem::kNone:
      return json;
    case JsonProblem::kNulByte:
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": NUL byte at offset ", problem.nul_offset));
    case JsonProblem::kSyntax:
      return absl::InvalidArgumentError(absl::StrCat(source, ": not valid JSON: ", problem.detail));
    case JsonProblem::kDuplicateKey:
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": duplicate key '", problem.detail, "'"));
  }
  return absl::InternalError("unreachable");
}

// The largest id a tokenizer may use; beyond it a file is refused rather than allocated for.
constexpr int64_t kMaxTokenId = (int64_t{1} << 24) - 1;

}  // namespace

HfTokenizer::HfTokenizer(std::unique_ptr<Pipeline> pipeline) : p_(std::move(pipeline)) {}
HfTokenizer::~HfTokenizer() = default;

absl::StatusOr<std::unique_ptr<HfTokenizer>> HfTokenizer::Parse(
    absl::string_view json_text, absl::string_view source, absl::string_view tokenizer_config,
    absl::string_view generation_config) {
  ASSIGN_OR_RETURN(const Json root, ParseJsonText(json_text, source));
  if (!root.is_object()) return FieldError(source, "(root)", "must be an object");
  auto p = std::make_unique<Pipeline>();
  const auto alphabet = ByteAlphabet();
  for (int b = 0; b < 256; ++b) p->byte_of[alphabet[b]] = static_cast<char>(b);

  RETURN_IF_ERROR(ParseNormalizer(root.value("normalizer", Json()), source, &p->normalizers));
  RETURN_IF_ERROR(ParsePreTokenizer(root.value("pre_tokenizer", Json()), source, &p->pre_tokenizers,
                                    &p->byte_level));
  RETURN_IF_ERROR(ParseDecoder(root.value("decoder", Json()), source, &p->decoders));

  // The model.
  const auto model_it = root.find("model");
  if (model_it == root.end() || !model_it->is_object()) {
    return FieldError(source, "model", "must be an object");
  }
  const Json& model = *model_it;
  if (!model.contains("type") || model["type"] != "BPE") {
    return FieldError(source, "model.type",
                      absl::StrCat("must be \"BPE\" (the only model infmem reads), got ",
                                   DescribeJson(model.value("type", Json()))));
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (model.contains(key) && !model[key].is_null() &&
        !(model[key].is_string() && model[key].get<std::string>().empty())) {
      return FieldError(source, absl::StrCat("model.", key), "is not supported (must be null)");
    }
  }
  if (model.contains("dropout") && !model["dropout"].is_null() &&
      !(model["dropout"].is_number() && model["dropout"].get<double>() == 0.0)) {
    return FieldError(source, "model.dropout", "is not supported (must be null)");
  }
  BpeModel::Options options;
  options.byte_level = p->byte_level;
  ASSIGN_OR_RETURN(options.ignore_merges,
                   BoolField(model, source, "model", "ignore_merges", false));
  ASSIGN_OR_RETURN(options.byte_fallback,
                   BoolField(model, source, "model", "byte_fallback", false));
  ASSIGN_OR_RETURN(options.fuse_unk, BoolField(model, source, "model", "fuse_unk", false));
  const auto vocab_it = model.find("vocab");
  if (vocab_it == model.end() || !vocab_it->is_object() || vocab_it->empty()) {
    return FieldError(source, "model.vocab", "must be a non-empty object");
  }
  int64_t max_id = -1;
  absl::flat_hash_map<std::string, int32_t> raw_vocab;
  raw_vocab.reserve(vocab_it->size());
  std::vector<std::pair<int32_t, std::string>> vocab_entries;
  vocab_entries.reserve(vocab_it->size());
  for (const auto& [token, id_json] : vocab_it->items()) {
    if (!id_json.is_number_integer() || id_json.get<int64_t>() < 0 ||
        id_json.get<int64_t>() > kMaxTokenId) {
      return FieldError(source, absl::StrCat("model.vocab[\"", token.substr(0, 40), "\"]"),
                        absl::StrCat("must be an integer id in [0, ", kMaxTokenId, "]"));
    }
    const int32_t id = id_json.get<int32_t>();
    max_id = std::max<int64_t>(max_id, id);
    std::string raw = token;
    if (p->byte_level) raw = FromByteAlphabet(token, p->byte_of).value_or(token);
    raw_vocab.emplace(std::move(raw), id);
    vocab_entries.emplace_back(id, token);
  }
  // Merges, in either serialization.
  std::vector<std::pair<std::string, std::string>> merges;
  if (model.contains("merges")) {
    const Json& list = model["merges"];
    if (!list.is_array()) return FieldError(source, "model.merges", "must be an array");
    merges.reserve(list.size());
    for (size_t i = 0; i < list.size(); ++i) {
      const Json& merge = list[i];
      std::string left, right;
      if (merge.is_string()) {
        const std::string text = merge.get<std::string>();
        const size_t space = text.find(' ');
        if (space == std::string::npos || text.find(' ', space + 1) != std::string::npos) {
          return FieldError(source, absl::StrCat("model.merges[", i, "]"),
                            "must be two tokens separated by one space");
        }
        left = text.substr(0, space);
        right = text.substr(space + 1);
      } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() &&
                 merge[1].is_string()) {
        left = merge[0].get<std::string>();
        right = merge[1].get<std::string>();
      } else {
        return FieldError(source, absl::StrCat("model.merges[", i, "]"),
                          "must be \"a b\" or [\"a\", \"b\"]");
      }
      if (p->byte_level) {
        left = FromByteAlphabet(left, p->byte_of).value_or(left);
        right = FromByteAlphabet(right, p->byte_of).value_or(right);
      }
      merges.emplace_back(std::move(left), std::move(right));
    }
  }
  if (model.contains("unk_token") && !model["unk_token"].is_null()) {
    ASSIGN_OR_RETURN(const std::string unk, StringField(model, source, "model", "unk_token"));
    const auto it = vocab_it->find(unk);
    if (it == vocab_it->end()) {
      return FieldError(source, "model.unk_token", "names a token missing from the vocabulary");
    }
    options.unk_id = it->get<int32_t>();
  }
  auto bpe = BpeModel::Build(std::move(raw_vocab), merges, options);
  if (!bpe.ok()) return FieldError(source, "model.merges", bpe.status().message());
  p->model.emplace(std::move(*bpe));

  // Added tokens.
  const Json added_list = root.value("added_tokens", Json::array());
  if (!added_list.is_array()) return FieldError(source, "added_tokens", "must be an array");
  for (size_t i = 0; i < added_list.size(); ++i) {
    const Json& entry = added_list[i];
    const std::string path = absl::StrCat("added_tokens[", i, "]");
    if (!entry.is_object()) return FieldError(source, path, "must be an object");
    AddedToken token{};
    const auto id_it = entry.find("id");
    if (id_it == entry.end() || !id_it->is_number_integer() || id_it->get<int64_t>() < 0 ||
        id_it->get<int64_t>() > kMaxTokenId) {
      return FieldError(source, path + ".id",
                        absl::StrCat("must be an integer in [0, ", kMaxTokenId, "]"));
    }
    token.id = id_it->get<int32_t>();
    ASSIGN_OR_RETURN(token.content, StringField(entry, source, path, "content"));
    if (token.content.empty()) return FieldError(source, path + ".content", "must not be empty");
    if (!ValidateUtf8(token.content).ok())
      return FieldError(source, path + ".content", "is not valid UTF-8");
    ASSIGN_OR_RETURN(token.special, BoolField(entry, source, path, "special", false));
    ASSIGN_OR_RETURN(token.lstrip, BoolField(entry, source, path, "lstrip", false));
    ASSIGN_OR_RETURN(token.rstrip, BoolField(entry, source, path, "rstrip", false));
    ASSIGN_OR_RETURN(token.normalized,
                     BoolField(entry, source, path, "normalized", !token.special));
    ASSIGN_OR_RETURN(token.single_word, BoolField(entry, source, path, "single_word", false));
    max_id = std::max<int64_t>(max_id, token.id);
    p->added.push_back(token);
  }
  // Id tables.
  const size_t size = static_cast<size_t>(max_id + 1);
  p->token_string.assign(size, "");
  p->stream_text.assign(size, "");
  p->special.assign(size, 0);
  for (auto& [id, token] : vocab_entries) {
    p->content_id.emplace(token, id);
    p->token_string[id] = std::move(token);
  }
  for (size_t i = 0; i < p->added.size(); ++i) {
    AddedToken& token = p->added[i];
    p->token_string[token.id] = token.content;
    p->special[token.id] = token.special;
    p->content_id[token.content] = token.id;
    if (token.normalized) {
      ASSIGN_OR_RETURN(token.content, p->Normalize(token.content));
      p->normalized_trie.Add(token.content, static_cast<int>(i));
    } else {
      p->raw_trie.Add(token.content, static_cast<int>(i));
    }
  }
  // Streaming text: the decoder applied to each token alone, minus the steps that join or
  // strip across tokens.
  for (size_t id = 0; id < size; ++id) {
    if (p->special[id]) continue;
    std::string text = p->token_string[id];
    for (const Decoder& step : p->decoders) {
      if (step.kind == Decoder::kByteLevel) {
        text = FromByteAlphabet(text, p->byte_of).value_or(text);
      } else if (step.kind == Decoder::kReplace) {
        text = absl::StrReplaceAll(text, {{step.pattern, step.content}});
      } else if (step.kind == Decoder::kMetaspace) {
        text = absl::StrReplaceAll(text, {{step.pattern, " "}});
      } else if (step.kind == Decoder::kByteFallback) {
        int byte = 0;
        if (text.size() == 6 && absl::StartsWith(text, "<0x") && text.back() == '>' &&
            absl::SimpleHexAtoi(absl::string_view(text).substr(3, 2), &byte)) {
          text = std::string(1, static_cast<char>(byte));
        }
      }
    }
    p->stream_text[id] = std::move(text);
  }

  // BOS / EOS / end of turn.
  std::string bos_token, eos_token;
  bool add_bos = false;
  if (!tokenizer_config.empty()) {
    ASSIGN_OR_RETURN(const Json config, ParseJsonText(tokenizer_config, "tokenizer_config.json"));
    if (!config.is_object())
      return absl::InvalidArgumentError("tokenizer_config.json: must be an object");
    ASSIGN_OR_RETURN(bos_token, ConfigToken(config, "bos_token"));
    ASSIGN_OR_RETURN(eos_token, ConfigToken(config, "eos_token"));
    ASSIGN_OR_RETURN(add_bos,
                     BoolField(config, "tokenizer_config.json", "(root)", "add_bos_token", false));
  }
  const Json post = root.value("post_processor", Json());
  if (post.is_object() && post.value("type", "") == "TemplateProcessing" &&
      post.contains("single") && post["single"].is_array() && !post["single"].empty() &&
      post["single"][0].contains("SpecialToken")) {
    const Json& first = post["single"][0]["SpecialToken"];
    if (first.is_object() && first.contains("id") && first["id"].is_string()) {
      bos_token = first["id"].get<std::string>();
      add_bos = true;
    }
  }
  const auto lookup = [&](const std::string& content,
                          const char* field) -> absl::StatusOr<int32_t> {
    if (content.empty()) return -1;
    const auto it = p->content_id.find(content);
    if (it == p->content_id.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tokenizer_config.json: field '", field, "' names a token the tokenizer does not have"));
    }
    return it->second;
  };
  ASSIGN_OR_RETURN(p->bos, lookup(bos_token, "bos_token"));
  ASSIGN_OR_RETURN(p->eos, lookup(eos_token, "eos_token"));
  p->adds_bos = add_bos && p->bos >= 0;
  if (p->eos >= 0) p->end_of_turn.push_back(p->eos);
  if (!generation_config.empty()) {
    ASSIGN_OR_RETURN(const Json config, ParseJsonText(generation_config, "generation_config.json"));
    const Json ids = config.is_object() ? config.value("eos_token_id", Json()) : Json();
    const Json list = ids.is_array() ? ids : ids.is_null() ? Json::array() : Json::array({ids});
    for (const Json& id : list) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > max_id) {
        return absl::InvalidArgumentError(
            absl::StrCat("generation_config.json: field 'eos_token_id' must hold ids in [0, ",
                         max_id, "], got ", DescribeJson(id)));
      }
      const int32_t value = id.get<int32_t>();
      if (std::find(p->end_of_turn.begin(), p->end_of_turn.end(), value) == p->end_of_turn.end()) {
        p->end_of_turn.push_back(value);
      }
      if (p->eos < 0) p->eos = value;
    }
  }
  // Checkpoints whose generation_config.json is missing or lists only the end of text still
  // end turns with these special tokens (llama.cpp recognises them by their text too).
  for (const char* spelling :
       {"<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<end_of_turn>", "<|end|>", "<|endoftext|>"}) {
    const auto it = p->content_id.find(spelling);
    if (it == p->content_id.end() || !p->special[it->second]) continue;
    if (std::find(p->end_of_turn.begin(), p->end_of_turn.end(), it->second) ==
        p->end_of_turn.end()) {
      p->end_of_turn.push_back(it->second);
    }
  }
  return std::unique_ptr<HfTokenizer>(new HfTokenizer(std::move(p)));
}

absl::StatusOr<std::unique_ptr<HfTokenizer>> HfTokenizer::Load(const std::string& path) {
  const auto read = [](const std::filesystem::path& file,
                       bool required) -> absl::StatusOr<std::string> {
    std::error_code error;
    if (!std::filesystem::is_regular_file(file, error)) {
      if (!required) return std::string();
      return absl::NotFoundError(absl::StrCat("tokenizer file ", file.string(), " not found"));
    }
    std::ifstream in(file, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
      return absl::InvalidArgumentError(absl::StrCat("cannot read ", file.string()));
    }
    return text;
  };
  const std::filesystem::path file(path);
  ASSIGN_OR_RETURN(const std::string json, read(file, true));
  ASSIGN_OR_RETURN(const std::string config,
                   read(file.parent_path() / "tokenizer_config.json", false));
  ASSIGN_OR_RETURN(const std::string generation,
                   read(file.parent_path() / "generation_config.json", false));
  return Parse(json, path, config, generation);
}

absl::StatusOr<std::vector<int32_t>> HfTokenizer::Encode(absl::string_view text) const {
  return EncodeImpl(text, false, {});
}

absl::StatusOr<std::vector<int32_t>> HfTokenizer::EncodeWithSpecialTokens(
    absl::string_view text, const Spans& literal) const {
  return EncodeImpl(text, true, literal);
}

absl::StatusOr<std::vector<int32_t>> HfTokenizer::EncodeImpl(absl::string_view text, bool specials,
                                                             const Spans& literal) const {
  RETURN_IF_ERROR(ValidateUtf8(text));
  std::vector<Fragment> fragments;
  fragments.push_back(Fragment{std::string(text), -1, true});
  fragments = p_->SplitAdded(std::move(fragments), p_->raw_trie, specials, literal);
  for (Fragment& fragment : fragments) {
    if (fragment.id < 0) {
      ASSIGN_OR_RETURN(fragment.text, p_->Normalize(std::move(fragment.text)));
    }
  }
  fragments = p_->SplitAdded(std::move(fragments), p_->normalized_trie, specials);
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 1);
  std::vector<std::string> pieces;
  for (const Fragment& fragment : fragments) {
    if (fragment.id >= 0) {
      ids.push_back(fragment.id);
      continue;
    }
    p_->PreTokenize(fragment, &pieces);
    for (const std::string& piece : pieces) p_->model->Encode(piece, &ids);
  }
  return ids;
}

absl::StatusOr<std::string> HfTokenizer::Decode(absl::Span<const int32_t> ids) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (const int32_t id : ids) {
    RETURN_IF_ERROR(CheckTokenId(id, vocab_size()));
    if (!p_->special[id]) tokens.push_back(p_->token_string[id]);
  }
  tokens = p_->RunDecoders(std::move(tokens));
  return absl::StrJoin(tokens, "");
}

absl::StatusOr<std::string> HfTokenizer::TokenText(int32_t id) const {
  RETURN_IF_ERROR(CheckTokenId(id, vocab_size()));
  return p_->stream_text[id];
}

int HfTokenizer::vocab_size() const { return static_cast<int>(p_->token_string.size()); }
int HfTokenizer::bos_id() const { return p_->adds_bos ? p_->bos : -1; }
int HfTokenizer::eos_id() const { return p_->eos; }
std::vector<int32_t> HfTokenizer::end_of_turn_ids() const { return p_->end_of_turn; }

std::string HfTokenizer::SpecialTokenText(int32_t id) const {
  if (id < 0 || id >= vocab_size() || !p_->special[id]) return "";
  return p_->token_string[id];
}
bool HfTokenizer::adds_bos() const { return p_->adds_bos; }

int32_t HfTokenizer::TokenId(absl::string_view content) const {
  const auto it = p_->content_id.find(content);
  return it == p_->content_id.end() ? -1 : it->second;
}

}  // namespace infmem::tokenizer
