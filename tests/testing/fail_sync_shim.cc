// fail_sync_shim: an LD_PRELOAD library for tests. While the file named by the environment
// variable INFMEM_FAIL_SYNC_IF_EXISTS exists, fdatasync and fsync fail with EIO (a disk that
// stopped taking writes); otherwise they do what libc does.
#include <dlfcn.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace {

bool Failing() {
  const char* flag = std::getenv("INFMEM_FAIL_SYNC_IF_EXISTS");
  return flag != nullptr && access(flag, F_OK) == 0;
}

using SyncFn = int (*)(int);

int Call(const char* name, int fd) {
  if (Failing()) {
    errno = EIO;
    return -1;
  }
  auto real = reinterpret_cast<SyncFn>(dlsym(RTLD_NEXT, name));
  return real(fd);
}

}  // namespace

extern "C" int fdatasync(int fd) { return Call("fdatasync", fd); }
extern "C" int fsync(int fd) { return Call("fsync", fd); }
