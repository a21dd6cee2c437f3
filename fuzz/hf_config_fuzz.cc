// Fuzzes the Hugging Face checkpoint reader on its config.json: the input becomes the
// config.json of a directory that has no weights, so every input ends in an error (from the
// config, or the missing weights) and none may crash.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "server/model/hf_checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = [] {
    const std::string d = std::filesystem::temp_directory_path().string() + "/hf_config_fuzz_" +
                          std::to_string(getpid());
    std::filesystem::create_directories(d + "/hf");
    return d;
  }();
  {
    std::ofstream out(dir + "/hf/config.json", std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  infmem::model::ImportOptions options;
  options.hf_dir = dir + "/hf";
  options.out_dir = dir + "/out";
  if (infmem::model::ImportHfCheckpoint(options).ok()) __builtin_trap();  // no weights exist
  return 0;
}
