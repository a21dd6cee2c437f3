// Encoding throughput of infmem's tokenizer.json tokenizer, one thread, printed as MB/s
// (median of --repeats runs) with the token count, for a side-by-side run with Hugging Face's
// own tokenizers on the same text (scripts/bench-tokenizers.sh runs both).
//   tokenizer-bench --tokenizer=DIR/tokenizer.json --text=FILE [--chunk_bytes=4096] [--repeats=5]
// The text is cut at line ends into chunks of about --chunk_bytes, each encoded in one call.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "server/tokenizer/hf_tokenizer.h"

ABSL_FLAG(std::string, tokenizer, "", "A tokenizer.json.");
ABSL_FLAG(std::string, text, "", "A UTF-8 text file.");
ABSL_FLAG(int, chunk_bytes, 4096, "Bytes per Encode call (cut at line ends).");
ABSL_FLAG(int, repeats, 5, "Runs; the median is printed.");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  auto tokenizer = infmem::tokenizer::HfTokenizer::Load(absl::GetFlag(FLAGS_tokenizer));
  if (!tokenizer.ok()) {
    std::fprintf(stderr, "tokenizer-bench: %s\n", tokenizer.status().ToString().c_str());
    return 1;
  }
  std::ifstream in(absl::GetFlag(FLAGS_text), std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> chunks;
  for (size_t pos = 0; pos < text.size();) {
    size_t end = std::min(text.size(), pos + static_cast<size_t>(absl::GetFlag(FLAGS_chunk_bytes)));
    const size_t newline = text.find('\n', end);
    end = newline == std::string::npos ? text.size() : newline + 1;
    chunks.push_back(text.substr(pos, end - pos));
    pos = end;
  }
  std::vector<double> rates;
  size_t tokens = 0;
  for (int r = 0; r < absl::GetFlag(FLAGS_repeats); ++r) {
    tokens = 0;
    const auto start = std::chrono::steady_clock::now();
    for (const std::string& chunk : chunks) {
      auto ids = (*tokenizer)->Encode(chunk);
      if (!ids.ok()) {
        std::fprintf(stderr, "tokenizer-bench: %s\n", ids.status().ToString().c_str());
        return 1;
      }
      tokens += ids->size();
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    rates.push_back(static_cast<double>(text.size()) / 1e6 / seconds);
  }
  std::sort(rates.begin(), rates.end());
  std::printf(
      "infmem  %zu bytes  %zu chunks  %zu tokens  %.2f MB/s (median of %zu; min %.2f, max %.2f)\n",
      text.size(), chunks.size(), tokens, rates[rates.size() / 2], rates.size(), rates.front(),
      rates.back());
  return 0;
}
