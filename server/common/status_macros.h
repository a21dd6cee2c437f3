// Status propagation macros. This Abseil (20220623) ships no RETURN_IF_ERROR or
// ASSIGN_OR_RETURN, so the project defines them here, once.
#ifndef INFMEM_SERVER_COMMON_STATUS_MACROS_H_
#define INFMEM_SERVER_COMMON_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Evaluates `expr` (an absl::Status); returns it from the enclosing function when not OK.
#define RETURN_IF_ERROR(expr)                        \
  do {                                               \
    ::absl::Status infmem_status_ = (expr);          \
    if (!infmem_status_.ok()) return infmem_status_; \
  } while (false)

#define INFMEM_CONCAT_INNER_(a, b) a##b
#define INFMEM_CONCAT_(a, b) INFMEM_CONCAT_INNER_(a, b)

// Evaluates `rexpr` (an absl::StatusOr<T>); returns its status when not OK, otherwise moves
// the value into `lhs` (which may be a declaration, e.g. `auto x`).
#define ASSIGN_OR_RETURN(lhs, rexpr) \
  INFMEM_ASSIGN_OR_RETURN_IMPL_(INFMEM_CONCAT_(infmem_statusor_, __LINE__), lhs, rexpr)

#define INFMEM_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                  \
  if (!statusor.ok()) return std::move(statusor).status();  \
  lhs = std::move(statusor).value()

#endif  // INFMEM_SERVER_COMMON_STATUS_MACROS_H_
