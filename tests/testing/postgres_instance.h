// PostgresInstance: a throw-away PostgreSQL server for tests of the cluster store, made with
// Debian's initdb and pg_ctl (package postgresql) in a temporary directory, listening on
// 127.0.0.1 only (a port from free_port.h), trust authentication, database
// "infmem". As root it runs the server as the `postgres` user (initdb refuses root). Stopped
// (pg_ctl stop -m immediate) and deleted when destroyed.
#ifndef INFMEM_TESTS_TESTING_POSTGRES_INSTANCE_H_
#define INFMEM_TESTS_TESTING_POSTGRES_INSTANCE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace infmem::testing {

class PostgresInstance {
 public:
  static absl::StatusOr<std::unique_ptr<PostgresInstance>> Start();
  ~PostgresInstance();

  // postgresql://postgres@127.0.0.1:<port>/infmem
  std::string uri() const;
  int port() const { return port_; }
  // Drops and recreates the database "infmem", so each test starts from an empty one
  // whatever the store's schema holds.
  absl::Status Reset() const;
  // Runs one SQL statement with psql and returns its unaligned output (tests' assertions
  // on the store's rows).
  absl::StatusOr<std::string> Query(const std::string& sql) const;

 private:
  PostgresInstance(std::string dir, std::string bin, int port)
      : dir_(std::move(dir)), bin_(std::move(bin)), port_(port) {}
  std::string dir_;
  std::string bin_;  // directory of initdb / pg_ctl
  int port_;
};

}  // namespace infmem::testing

#endif  // INFMEM_TESTS_TESTING_POSTGRES_INSTANCE_H_
