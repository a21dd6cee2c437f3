// Opens libinfmem_spm.so (see sentencepiece_model.h). Includes no SentencePiece header.
#include "server/tokenizer/sentencepiece_model.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>

namespace infmem::tokenizer::internal {
namespace {

constexpr char kModuleName[] = "libinfmem_spm.so";

std::vector<std::string> Candidates() {
  std::vector<std::string> out;
  if (const char* env = std::getenv("INFMEM_SPM_MODULE"); env != nullptr && *env != '\0') {
    out.push_back(env);
  }
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    out.push_back((exe.parent_path() / kModuleName).string());
    out.push_back((exe.parent_path() / "../lib/infmem" / kModuleName).string());
  }
#ifdef INFMEM_SPM_BUILD_PATH
  out.push_back(INFMEM_SPM_BUILD_PATH);
#endif
  return out;
}

// GCC defines __SANITIZE_ADDRESS__ under -fsanitize=address; clang says it through
// __has_feature.
#if defined(__SANITIZE_ADDRESS__)
#define INFMEM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define INFMEM_ASAN 1
#endif
#endif

int OpenFlags() {
  int flags = RTLD_NOW | RTLD_LOCAL;
#if !defined(INFMEM_ASAN)
  // Sanitizer runtimes refuse RTLD_DEEPBIND; sanitizer builds bind without it, so there
  // SentencePiece works only in processes without LibTorch (its protobuf check then fails
  // with a clear "compiled against version 3.14.0" error instead of a crash).
  flags |= RTLD_DEEPBIND;
#endif
  return flags;
}

}  // namespace

const SentencePieceLibrary* GetSentencePieceLibrary(std::string* error) {
  static std::once_flag once;
  static const SentencePieceLibrary* library = nullptr;
  static std::string load_error;
  std::call_once(once, [] {
    std::string tried;
    for (const std::string& path : Candidates()) {
      if (!std::filesystem::exists(path)) {
        tried += " " + path;
        continue;
      }
      void* handle =
          dlopen(path.c_str(), OpenFlags());  // never closed: lives as long as the process
      if (handle == nullptr) {
        load_error = std::string("cannot open ") + path + ": " + dlerror();
        return;
      }
      using Entry = const SentencePieceLibrary* (*)();
      auto entry = reinterpret_cast<Entry>(dlsym(handle, "InfmemSentencePieceLibrary"));
      if (entry == nullptr) {
        load_error = path + " has no InfmemSentencePieceLibrary entry point";
        return;
      }
      library = entry();
      return;
    }
    load_error = std::string("SentencePiece module ") + kModuleName + " not found (tried" + tried +
                 "; set INFMEM_SPM_MODULE)";
  });
  if (library == nullptr && error != nullptr) *error = load_error;
  return library;
}

}  // namespace infmem::tokenizer::internal
