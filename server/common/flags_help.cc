#include "server/common/flags_help.h"

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"

namespace infmem {
namespace {

// Every flag defined outside Abseil's own sources is one of ours.
bool IsOurFlagFile(absl::string_view path) { return !absl::StrContains(path, "absl/"); }

bool AsksForHelp(absl::string_view arg) {
  for (absl::string_view flag : {"--help", "-help", "--helpshort", "-helpshort"}) {
    if (arg == flag) return true;
  }
  return absl::StartsWith(arg, "--help=") || absl::StartsWith(arg, "-help=");
}

}  // namespace

void InitFlagsHelp(absl::string_view usage, int argc, char** argv) {
  absl::SetProgramUsageMessage(usage);
  absl::FlagsUsageConfig config;
  config.contains_help_flags = IsOurFlagFile;
  config.contains_helpshort_flags = IsOurFlagFile;
  absl::SetFlagsUsageConfig(config);
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--") break;
    if (AsksForHelp(argv[i])) {
      // This Abseil exits with status 1 after printing help; asking for help is no error.
      std::atexit([] {
        std::cout.flush();
        std::fflush(nullptr);
        std::_Exit(0);
      });
      break;
    }
  }
}

}  // namespace infmem
