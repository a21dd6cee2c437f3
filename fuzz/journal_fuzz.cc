// Fuzzes the session journal reader: any file either reads (valid records, maybe a torn
// tail) or is DataLoss; the valid prefix never runs past the file.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "server/store/journal.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path =
      std::filesystem::temp_directory_path().string() + "/journal_fuzz_" + std::to_string(getpid());
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  auto contents = infmem::store::ReadJournal(path);
  if (contents.ok() &&
      (contents->valid_bytes < 0 || static_cast<size_t>(contents->valid_bytes) > size)) {
    __builtin_trap();
  }
  return 0;
}
