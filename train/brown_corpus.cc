#include "train/brown_corpus.h"

#include <algorithm>
#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/common/file_io.h"
#include "server/common/status_macros.h"

namespace infmem::train {
namespace {

bool IsDocumentName(const std::string& name) {
  // c + genre letter a..r + two digits, e.g. "ca01".
  return name.size() == 4 && name[0] == 'c' && name[1] >= 'a' && name[1] <= 'r' &&
         absl::ascii_isdigit(name[2]) && absl::ascii_isdigit(name[3]);
}

bool AttachesLeft(absl::string_view word) {
  return word == "." || word == "," || word == ";" || word == ":" || word == "?" || word == "!" ||
         word == ")" || word == "]";
}

}  // namespace

std::string CleanBrownDocument(absl::string_view tagged) {
  std::string out;
  for (absl::string_view line : absl::StrSplit(tagged, '\n')) {
    std::string sentence;
    bool glue_next = false;  // after an opening quote or bracket
    for (absl::string_view token :
         absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty())) {
      const size_t slash = token.rfind('/');
      absl::string_view word = slash == absl::string_view::npos ? token : token.substr(0, slash);
      if (word.empty()) continue;
      bool attach = AttachesLeft(word);
      bool opens = word == "(" || word == "[";
      std::string text(word);
      if (word == "``") {
        text = "\"";
        opens = true;
      } else if (word == "''") {
        text = "\"";
        attach = true;
      }
      if (!sentence.empty() && !attach && !glue_next) sentence += ' ';
      sentence += text;
      glue_next = opens;
    }
    if (!sentence.empty()) absl::StrAppend(&out, sentence, "\n");
  }
  return out;
}

Split BrownSplit(size_t index_in_sorted_names) {
  switch (index_in_sorted_names % 10) {
    case 8:
      return Split::kValid;
    case 9:
      return Split::kTest;
    default:
      return Split::kTrain;
  }
}

absl::StatusOr<std::vector<std::string>> ReadBrownSplit(const std::string& corpus_dir,
                                                        Split split) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(corpus_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && IsDocumentName(name)) names.push_back(name);
  }
  if (ec) return absl::NotFoundError(absl::StrCat(corpus_dir, ": ", ec.message()));
  if (names.empty()) {
    return absl::NotFoundError(absl::StrCat(corpus_dir, ": no Brown documents (ca01 ...)"));
  }
  std::sort(names.begin(), names.end());
  std::vector<std::string> docs;
  for (size_t i = 0; i < names.size(); ++i) {
    if (BrownSplit(i) != split) continue;
    ASSIGN_OR_RETURN(std::string raw, ReadFile(corpus_dir + "/" + names[i]));
    docs.push_back(CleanBrownDocument(raw));
  }
  return docs;
}

}  // namespace infmem::train
