// Command-line help for infmem's binaries. Abseil's --help lists only the flags of a source
// file named after the binary (none of ours is, so it printed "No flags matched") and exits
// with status 1; this makes --help and --helpshort list the flags defined in our own sources
// and exit 0. Call before absl::ParseCommandLine. Not thread-safe (start-up only).
#ifndef INFMEM_SERVER_COMMON_FLAGS_HELP_H_
#define INFMEM_SERVER_COMMON_FLAGS_HELP_H_

#include "absl/strings/string_view.h"

namespace infmem {

// Sets `usage` as the program's usage message and the help filters described above; when
// argv asks for help, arranges for the process to exit 0 once the help is printed.
void InitFlagsHelp(absl::string_view usage, int argc, char** argv);

}  // namespace infmem

#endif  // INFMEM_SERVER_COMMON_FLAGS_HELP_H_
