#include "server/store/file_system.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "server/common/file_io.h"
#include "server/common/status_macros.h"

namespace infmem::store {
namespace {

namespace fs = std::filesystem;

absl::Status Errno(absl::string_view what, const std::string& path) {
  const int saved = errno;
  const std::string message = absl::StrCat(what, " ", path, ": ", std::strerror(saved));
  if (saved == ENOENT) return absl::NotFoundError(message);
  if (saved == ENOSPC || saved == EDQUOT) return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

absl::Status FromErrorCode(absl::string_view what, const std::string& path,
                           const std::error_code& ec) {
  const std::string message = absl::StrCat(what, " ", path, ": ", ec.message());
  if (ec == std::errc::no_such_file_or_directory) return absl::NotFoundError(message);
  if (ec == std::errc::file_exists || ec == std::errc::directory_not_empty) {
    return absl::AlreadyExistsError(message);
  }
  return absl::InternalError(message);
}

class PosixAppendFile : public AppendFile {
 public:
  PosixAppendFile(std::string path, int fd, int64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}
  ~PosixAppendFile() override { ::close(fd_); }

  absl::Status Append(absl::string_view data) override {
    for (size_t written = 0; written < data.size();) {
      const ssize_t n = ::write(fd_, data.data() + written, data.size() - written);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        if (n == 0) errno = EIO;
        size_ += static_cast<int64_t>(written);
        return Errno("writing", path_);
      }
      written += static_cast<size_t>(n);
    }
    size_ += static_cast<int64_t>(data.size());
    return absl::OkStatus();
  }
  absl::Status Truncate(int64_t size) override {
    if (::ftruncate(fd_, size) != 0) return Errno("truncating", path_);
    size_ = size;
    return absl::OkStatus();
  }
  absl::Status Sync() override {
    if (::fdatasync(fd_) != 0) return Errno("syncing", path_);
    return absl::OkStatus();
  }
  int64_t Size() const override { return size_; }

 private:
  std::string path_;
  int fd_;
  int64_t size_;
};

class PosixFileSystem : public FileSystem {
 public:
  absl::StatusOr<std::unique_ptr<AppendFile>> OpenAppend(const std::string& path,
                                                         bool* created) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    *created = false;
    if (fd < 0 && errno == ENOENT) {
      fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      *created = fd >= 0;
    }
    if (fd < 0) return Errno("opening", path);
    const off_t end = ::lseek(fd, 0, SEEK_END);
    if (end < 0) {
      const absl::Status status = Errno("seeking in", path);
      ::close(fd);
      return status;
    }
    return std::unique_ptr<AppendFile>(new PosixAppendFile(path, fd, end));
  }
  absl::StatusOr<std::string> ReadFile(const std::string& path) override {
    return infmem::ReadFile(path);
  }
  absl::Status Rename(const std::string& from, const std::string& to) override {
    std::error_code ec;
    fs::rename(from, to, ec);
    if (ec) return FromErrorCode("renaming " + from + " to", to, ec);
    return absl::OkStatus();
  }
  absl::Status Remove(const std::string& path) override {
    std::error_code ec;
    fs::remove(path, ec);
    if (ec) return FromErrorCode("removing", path, ec);
    return absl::OkStatus();
  }
  absl::Status RemoveAll(const std::string& path) override {
    std::error_code ec;
    fs::remove_all(path, ec);
    if (ec) return FromErrorCode("removing", path, ec);
    return absl::OkStatus();
  }
  absl::Status CreateDir(const std::string& path) override {
    std::error_code ec;
    if (!fs::create_directory(path, ec) && !ec) ec = std::make_error_code(std::errc::file_exists);
    if (ec) return FromErrorCode("creating", path, ec);
    return absl::OkStatus();
  }
  absl::Status CreateDirs(const std::string& path) override {
    std::error_code ec;
    fs::create_directories(path, ec);
    if (ec) return FromErrorCode("creating", path, ec);
    return absl::OkStatus();
  }
  absl::Status SyncDir(const std::string& dir) override {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return Errno("opening directory", dir);
    const int rc = ::fsync(fd);
    const int saved = errno;
    ::close(fd);
    errno = saved;
    if (rc != 0) return Errno("syncing directory", dir);
    return absl::OkStatus();
  }
  bool IsDirectory(const std::string& path) override {
    std::error_code ec;
    return fs::is_directory(path, ec);
  }
  bool Exists(const std::string& path) override {
    std::error_code ec;
    return fs::exists(path, ec);
  }
  absl::StatusOr<std::vector<DirEntry>> List(const std::string& dir) override {
    std::vector<DirEntry> out;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      out.push_back({entry.path().filename().string(), entry.is_directory(ec)});
    }
    if (ec) return FromErrorCode("listing", dir, ec);
    return out;
  }
};

}  // namespace

FileSystem& FileSystem::Default() {
  static PosixFileSystem* posix = new PosixFileSystem();
  return *posix;
}

std::string ParentDir(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

absl::Status WriteFileDurably(FileSystem& fs, const std::string& path, absl::string_view contents) {
  const std::string tmp = path + ".tmp";
  bool created = false;
  absl::Status status;
  {
    ASSIGN_OR_RETURN(std::unique_ptr<AppendFile> file, fs.OpenAppend(tmp, &created));
    status = file->Truncate(0);
    if (status.ok()) status = file->Append(contents);
    if (status.ok()) status = file->Sync();
  }
  if (status.ok()) status = fs.Rename(tmp, path);
  if (!status.ok()) {
    fs.Remove(tmp).IgnoreError();
    return status;
  }
  return fs.SyncDir(ParentDir(path));
}

}  // namespace infmem::store
