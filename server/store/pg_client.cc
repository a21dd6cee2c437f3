#include "server/store/pg_client.h"

#include <libpq-fe.h>

#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace infmem::store {
namespace {

std::string ErrorOf(const PGconn* conn) {
  return std::string(absl::StripTrailingAsciiWhitespace(PQerrorMessage(conn)));
}

}  // namespace

PgResult::~PgResult() {
  if (result_ != nullptr) PQclear(result_);
}

int PgResult::rows() const { return PQntuples(result_); }

int64_t PgResult::affected() const {
  int64_t n = 0;
  return absl::SimpleAtoi(PQcmdTuples(result_), &n) ? n : 0;
}

bool PgResult::IsNull(int row, int col) const { return PQgetisnull(result_, row, col) != 0; }

std::string PgResult::Text(int row, int col) const {
  return std::string(PQgetvalue(result_, row, col), PQgetlength(result_, row, col));
}

absl::StatusOr<std::string> PgResult::Bytes(int row, int col) const {
  size_t length = 0;
  unsigned char* bytes = PQunescapeBytea(
      reinterpret_cast<const unsigned char*>(PQgetvalue(result_, row, col)), &length);
  if (bytes == nullptr) return absl::DataLossError("a bytea value does not decode");
  std::string out(reinterpret_cast<const char*>(bytes), length);
  PQfreemem(bytes);
  return out;
}

absl::StatusOr<int64_t> PgResult::Int(int row, int col) const {
  int64_t v = 0;
  if (!absl::SimpleAtoi(Text(row, col), &v)) {
    return absl::DataLossError(absl::StrCat("'", Text(row, col), "' is not an integer"));
  }
  return v;
}

absl::StatusOr<uint64_t> PgResult::Uint(int row, int col) const {
  uint64_t v = 0;
  if (!absl::SimpleAtoi(Text(row, col), &v)) {
    return absl::DataLossError(absl::StrCat("'", Text(row, col), "' is not an unsigned integer"));
  }
  return v;
}

PgPool::Connection::~Connection() {
  if (conn_ != nullptr) pool_->Give(conn_);
}

absl::StatusOr<PgResult> PgPool::Connection::Exec(const std::string& sql,
                                                  const std::vector<PgParam>& params) {
  std::vector<const char*> values;
  std::vector<int> lengths, formats;
  for (const PgParam& p : params) {
    values.push_back(p.null ? nullptr : p.value.data());
    lengths.push_back(static_cast<int>(p.value.size()));
    formats.push_back(p.binary ? 1 : 0);
  }
  for (int attempt = 0;; ++attempt) {
    if (PQstatus(conn_) != CONNECTION_OK) {
      absl::StatusOr<PGconn*> fresh = pool_->Connect();
      if (!fresh.ok()) return fresh.status();
      PQfinish(conn_);
      conn_ = *fresh;
    }
    // Without parameters, the simple protocol: it also runs several statements (the schema).
    PGresult* raw = params.empty()
                        ? PQexec(conn_, sql.c_str())
                        : PQexecParams(conn_, sql.c_str(), static_cast<int>(params.size()), nullptr,
                                       values.data(), lengths.data(), formats.data(), 0);
    PgResult result(raw);
    const ExecStatusType status = raw == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(raw);
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return result;
    if (PQstatus(conn_) != CONNECTION_OK) {
      // The connection broke. Retry once on a fresh one only if nothing could have run:
      // a statement may have committed before the break, so writes are the caller's call.
      if (attempt == 0 && PQtransactionStatus(conn_) == PQTRANS_UNKNOWN &&
          sql.rfind("SELECT", 0) == 0) {
        continue;
      }
      return absl::UnavailableError(
          absl::StrCat("PostgreSQL at ", pool_->where(), ": ", ErrorOf(conn_)));
    }
    std::string message = raw != nullptr ? PQresultErrorMessage(raw) : ErrorOf(conn_);
    const char* state = raw != nullptr ? PQresultErrorField(raw, PG_DIAG_SQLSTATE) : nullptr;
    const std::string code = state != nullptr ? state : "";
    // Lock timeouts, cancellations, serialization failures, deadlocks, shutdowns and
    // connection trouble pass; a retry may succeed.
    const bool transient = code == "55P03" || code == "57014" || code == "40001" ||
                           code == "40P01" || code.rfind("57P", 0) == 0 || code.rfind("08", 0) == 0;
    const std::string text = absl::StrCat("PostgreSQL at ", pool_->where(), ": ",
                                          absl::StripTrailingAsciiWhitespace(message));
    return transient ? absl::UnavailableError(text) : absl::InternalError(text);
  }
}

absl::StatusOr<std::unique_ptr<PgPool>> PgPool::Open(const std::string& conninfo, int size,
                                                     absl::Duration lock_timeout) {
  // Name the server in messages without any password the URI holds.
  std::string where = "the --store database";
  if (PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), nullptr)) {
    std::string host = "localhost", port = "5432", db;
    for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
      if (o->val == nullptr) continue;
      if (std::string(o->keyword) == "host" || std::string(o->keyword) == "hostaddr") host = o->val;
      if (std::string(o->keyword) == "port") port = o->val;
      if (std::string(o->keyword) == "dbname") db = o->val;
    }
    PQconninfoFree(options);
    where = absl::StrCat(host, ":", port, "/", db);
  } else {
    return absl::InvalidArgumentError("--store: not a PostgreSQL connection URI or string");
  }
  auto pool = std::unique_ptr<PgPool>(new PgPool(conninfo, where, lock_timeout));
  for (int i = 0; i < size; ++i) {
    absl::StatusOr<PGconn*> conn = pool->Connect();
    if (!conn.ok()) return conn.status();
    absl::MutexLock lock(&pool->mu_);
    pool->idle_.push_back(*conn);
  }
  return pool;
}

absl::StatusOr<PGconn*> PgPool::Connect() const {
  // connect_timeout first: a value in the URI itself overrides it.
  const char* keys[] = {"connect_timeout", "dbname", nullptr};
  const char* values[] = {"5", conninfo_.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) {
    absl::Status status =
        absl::UnavailableError(absl::StrCat("cannot connect to PostgreSQL at ", where_, ": ",
                                            conn == nullptr ? "out of memory" : ErrorOf(conn)));
    if (conn != nullptr) PQfinish(conn);
    return status;
  }
  const int64_t ms = absl::ToInt64Milliseconds(lock_timeout_);
  const std::string set =
      absl::StrCat("SET idle_in_transaction_session_timeout = ", ms, "; SET lock_timeout = ", ms,
                   "; SET client_min_messages = warning");
  PGresult* r = PQexec(conn, set.c_str());
  const bool ok = r != nullptr && PQresultStatus(r) == PGRES_COMMAND_OK;
  if (r != nullptr) PQclear(r);
  if (!ok) {
    absl::Status status = absl::UnavailableError(
        absl::StrCat("PostgreSQL at ", where_, ": setting timeouts: ", ErrorOf(conn)));
    PQfinish(conn);
    return status;
  }
  return conn;
}

PgPool::~PgPool() {
  absl::MutexLock lock(&mu_);
  for (PGconn* conn : idle_) PQfinish(conn);
}

PgPool::Connection PgPool::Take() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](std::vector<PGconn*>* idle) { return !idle->empty(); }, &idle_));
  PGconn* conn = idle_.back();
  idle_.pop_back();
  return Connection(this, conn);
}

void PgPool::Give(PGconn* conn) {
  absl::MutexLock lock(&mu_);
  idle_.push_back(conn);
}

}  // namespace infmem::store
