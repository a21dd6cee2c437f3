// WorkQueue: a fixed set of threads that run blocking work (disk reads, fsyncs, session
// loads) off gRPC's callback threads and the scheduler's loop. Owned by the Server; tasks
// run in FIFO order on whichever thread is free. Thread-safe.
#ifndef INFMEM_SERVER_COMMON_WORK_QUEUE_H_
#define INFMEM_SERVER_COMMON_WORK_QUEUE_H_

#include <deque>
#include <functional>
#include <optional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"

namespace infmem {

class WorkQueue {
 public:
  explicit WorkQueue(int threads);
  // Runs every task already scheduled, then joins the threads.
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  // Queues `task` to run on one of the threads.
  void Schedule(std::function<void()> task);

  // Runs `f` on one of the threads and waits for what it returns. For callers whose own
  // stack is small (CivetWeb's HTTP workers: a BLAS kernel in a session load overflows it).
  // Never call it from a queue thread (every thread could end up waiting on itself).
  template <typename F>
  auto RunAndWait(F&& f) -> decltype(f()) {
    std::optional<decltype(f())> result;
    absl::Notification done;
    Schedule([&] {
      result.emplace(f());
      done.Notify();
    });
    done.WaitForNotification();
    return *std::move(result);
  }

 private:
  void Run();

  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace infmem

#endif  // INFMEM_SERVER_COMMON_WORK_QUEUE_H_
