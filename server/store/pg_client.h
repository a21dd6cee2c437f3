// PgPool: a small pool of PostgreSQL connections (libpq) for the cluster store. Each
// connection is used by one thread at a time (PgPool::Connection); statements take text or
// binary parameters and return text results. A broken connection is reset once and the
// statement retried only when it never reached the server (connection errors); anything else
// is returned to the caller.
//
// Every connection sets idle_in_transaction_session_timeout and lock_timeout, so a client
// paused inside a transaction (SIGSTOP, a partition) cannot hold a session's row lock
// forever: PostgreSQL ends its transaction and the next owner proceeds.
//
// Thread-safety: PgPool is thread-safe; a Connection belongs to the thread that took it.
#ifndef INFMEM_SERVER_STORE_PG_CLIENT_H_
#define INFMEM_SERVER_STORE_PG_CLIENT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

struct pg_conn;
struct pg_result;

namespace infmem::store {

struct PgParam {
  static PgParam Text(std::string v) { return PgParam{std::move(v), false, false}; }
  static PgParam Binary(std::string v) { return PgParam{std::move(v), true, false}; }
  static PgParam Null() { return PgParam{"", false, true}; }
  std::string value;
  bool binary = false;
  bool null = false;
};

class PgResult {
 public:
  explicit PgResult(pg_result* result) : result_(result) {}
  PgResult(PgResult&& other) noexcept : result_(other.result_) { other.result_ = nullptr; }
  PgResult& operator=(PgResult&&) = delete;
  ~PgResult();

  int rows() const;
  // Rows changed by an INSERT / UPDATE / DELETE.
  int64_t affected() const;
  bool IsNull(int row, int col) const;
  std::string Text(int row, int col) const;
  // A bytea column (text format, hex) decoded to its bytes.
  absl::StatusOr<std::string> Bytes(int row, int col) const;
  absl::StatusOr<int64_t> Int(int row, int col) const;
  absl::StatusOr<uint64_t> Uint(int row, int col) const;

 private:
  pg_result* result_;
};

class PgPool {
 public:
  class Connection {
   public:
    Connection(PgPool* pool, pg_conn* conn) : pool_(pool), conn_(conn) {}
    Connection(Connection&& other) noexcept : pool_(other.pool_), conn_(other.conn_) {
      other.conn_ = nullptr;
    }
    Connection& operator=(Connection&&) = delete;
    ~Connection();

    // Runs one statement (several when there are no parameters). Errors: Unavailable when the
    // server cannot be reached, Internal with PostgreSQL's message otherwise.
    absl::StatusOr<PgResult> Exec(const std::string& sql, const std::vector<PgParam>& params = {});

   private:
    PgPool* pool_;
    pg_conn* conn_;
  };

  // Opens `size` connections to `conninfo` (a libpq URI or key=value string).
  // `lock_timeout` also bounds how long a paused client may sit in a transaction.
  static absl::StatusOr<std::unique_ptr<PgPool>> Open(const std::string& conninfo, int size,
                                                      absl::Duration lock_timeout);
  ~PgPool();

  // Takes a connection, waiting while all are in use.
  Connection Take();
  // The server address for messages, without a password.
  const std::string& where() const { return where_; }

 private:
  PgPool(std::string conninfo, std::string where, absl::Duration lock_timeout)
      : conninfo_(std::move(conninfo)), where_(std::move(where)), lock_timeout_(lock_timeout) {}
  absl::StatusOr<pg_conn*> Connect() const;
  void Give(pg_conn* conn);

  const std::string conninfo_;
  const std::string where_;
  const absl::Duration lock_timeout_;
  absl::Mutex mu_;
  std::vector<pg_conn*> idle_ ABSL_GUARDED_BY(mu_);
};

}  // namespace infmem::store

#endif  // INFMEM_SERVER_STORE_PG_CLIENT_H_
