#include "tests/testing/postgres_instance.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "tests/testing/free_port.h"

namespace infmem::testing {
namespace {

namespace fs = std::filesystem;

// Runs `command` with /bin/sh, returning its stdout; an error with its output when it fails.
absl::StatusOr<std::string> Run(const std::string& command) {
  std::string out;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return absl::InternalError(absl::StrCat("cannot run: ", command));
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  const int rc = pclose(pipe);
  if (rc != 0) {
    return absl::InternalError(absl::StrCat("`", command, "` failed (", rc, "): ", out));
  }
  return out;
}

// Prefixes `command` so that it runs as the postgres user when we are root.
std::string AsPostgres(const std::string& command) {
  return geteuid() == 0 ? absl::StrCat("runuser -u postgres -- ", command) : command;
}

std::string FindBin() {
  std::error_code ec;
  if (!fs::is_directory("/usr/lib/postgresql", ec)) return "";
  std::string best;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const std::string bin = entry.path().string() + "/bin";
    if (fs::exists(bin + "/initdb", ec) && bin > best) best = bin;
  }
  return best;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresInstance>> PostgresInstance::Start() {
  const std::string bin = FindBin();
  if (bin.empty()) {
    return absl::FailedPreconditionError(
        "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run "
        "scripts/install-deps.sh");
  }
  char pattern[] = "/tmp/infmem-pg-XXXXXX";
  if (mkdtemp(pattern) == nullptr) return absl::InternalError("mkdtemp failed");
  const std::string dir = pattern;
  if (geteuid() == 0) {
    auto chown = Run(absl::StrCat("chown postgres: ", dir));
    if (!chown.ok()) return chown.status();
  }
  const int port = FreePort();
  auto instance = std::unique_ptr<PostgresInstance>(new PostgresInstance(dir, bin, port));
  auto init = Run(AsPostgres(
      absl::StrCat(bin, "/initdb -D ", dir, "/data -A trust -U postgres ", "--no-sync")));
  if (!init.ok()) return init.status();
  // fsync stays on (the store's durability is what the tests exercise).
  auto start =
      Run(AsPostgres(absl::StrCat(bin, "/pg_ctl -D ", dir, "/data -l ", dir,
                                  "/log -w -o \"-h 127.0.0.1 -p ", port, " -k ", dir, "\" start")));
  if (!start.ok()) return start.status();
  auto db = Run(
      absl::StrCat("psql -h 127.0.0.1 -p ", port, " -U postgres -q -c 'CREATE DATABASE infmem'"));
  if (!db.ok()) return db.status();
  return instance;
}

PostgresInstance::~PostgresInstance() {
  (void)Run(AsPostgres(absl::StrCat(bin_, "/pg_ctl -D ", dir_, "/data -m immediate -w stop")));
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::string PostgresInstance::uri() const {
  return absl::StrCat("postgresql://postgres@127.0.0.1:", port_, "/infmem");
}

absl::Status PostgresInstance::Reset() const {
  return Run(absl::StrCat("psql -h 127.0.0.1 -p ", port_, " -U postgres -q -c 'DROP DATABASE ",
                          "IF EXISTS infmem WITH (FORCE)' -c 'CREATE DATABASE infmem'"))
      .status();
}

absl::StatusOr<std::string> PostgresInstance::Query(const std::string& sql) const {
  return Run(
      absl::StrCat("psql -h 127.0.0.1 -p ", port_, " -U postgres -d infmem -qAt -c \"", sql, "\""));
}

}  // namespace infmem::testing
