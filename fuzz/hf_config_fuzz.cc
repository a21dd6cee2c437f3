// Fuzzes the Hugging Face checkpoint reader on its JSON files: the input, cut at its first
// two "\n--\n" separators, becomes config.json, model.safetensors.index.json and
// generation_config.json of a directory whose shards do not exist, so every input ends in an
// error (from a JSON file, or the missing weights) and none may crash.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "server/formats/hf_checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = [] {
    const std::string d = std::filesystem::temp_directory_path().string() + "/hf_config_fuzz_" +
                          std::to_string(getpid());
    std::filesystem::create_directories(d + "/hf");
    return d;
  }();
  const std::string input(reinterpret_cast<const char*>(data), size);
  const char* const files[] = {"config.json", "model.safetensors.index.json",
                               "generation_config.json"};
  size_t begin = 0;
  for (int i = 0; i < 3; ++i) {
    const std::string path = dir + "/hf/" + files[i];
    if (begin == std::string::npos) {
      std::filesystem::remove(path);
      continue;
    }
    const size_t cut = i < 2 ? input.find("\n--\n", begin) : std::string::npos;
    std::ofstream(path, std::ios::binary | std::ios::trunc)
        << input.substr(begin, cut == std::string::npos ? std::string::npos : cut - begin);
    begin = cut == std::string::npos ? std::string::npos : cut + 4;
  }
  infmem::formats::ImportOptions options;
  options.hf_dir = dir + "/hf";
  options.out_dir = dir + "/out";
  if (infmem::formats::ImportHfCheckpoint(options).ok()) __builtin_trap();  // no weights exist
  return 0;
}
