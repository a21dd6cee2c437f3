// `infmem`: the command-line client of infmem-server. Parses the command line, prints help
// or a usage error (exit 2), and runs the command (exit codes in client.h).
#include <iostream>
#include <string>
#include <vector>

#include "client/args.h"
#include "client/client.h"
#include "client/commands.h"

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  const absl::StatusOr<infmem::client::Command> command = infmem::client::ParseCommand(args);
  if (!command.ok()) {
    std::cerr << "infmem: " << command.status().message() << '\n'
              << infmem::client::UsageLine() << '\n';
    return infmem::client::kExitUsage;
  }
  if (command->kind == infmem::client::CommandKind::kHelp) {
    std::cout << infmem::client::HelpText();
    return infmem::client::kExitOk;
  }
  return infmem::client::RunCommand(*command);
}
