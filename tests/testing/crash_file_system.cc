#include "tests/testing/crash_file_system.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace infmem::testing {
namespace {

bool Under(const std::string& path, const std::string& dir) {
  return path == dir || absl::StartsWith(path, dir + "/");
}

}  // namespace

class CrashFileSystem::File : public store::AppendFile {
 public:
  File(CrashFileSystem* fs, int inode) : fs_(fs), inode_(inode) {}
  absl::Status Append(absl::string_view data) override {
    std::string& bytes = fs_->state_.inodes[inode_].data;
    absl::Status status = fs_->Check(Op::kAppend);
    if (!status.ok()) data = data.substr(0, data.size() / 2);  // a full disk: part written
    bytes.append(data.data(), data.size());
    fs_->Record();
    return status;
  }
  absl::Status Truncate(int64_t size) override {
    fs_->state_.inodes[inode_].data.resize(static_cast<size_t>(size));
    fs_->Record();
    return absl::OkStatus();
  }
  absl::Status Sync() override {
    if (absl::Status status = fs_->Check(Op::kSync); !status.ok()) return status;
    Inode& inode = fs_->state_.inodes[inode_];
    inode.synced = inode.data;
    fs_->Record();
    return absl::OkStatus();
  }
  int64_t Size() const override {
    return static_cast<int64_t>(fs_->state_.inodes[inode_].data.size());
  }

 private:
  CrashFileSystem* fs_;
  int inode_;
};

CrashFileSystem::CrashFileSystem() { Record(); }

void CrashFileSystem::FailNext(Op op, absl::Status status) { failures_[op] = std::move(status); }

absl::Status CrashFileSystem::Check(Op op) {
  auto it = failures_.find(op);
  if (it == failures_.end()) return absl::OkStatus();
  absl::Status status = std::move(it->second);
  failures_.erase(it);
  return status;
}

void CrashFileSystem::Apply(Names& names, const Change& change) {
  std::vector<std::pair<std::string, int>> moved;
  for (auto it = names.begin(); it != names.end();) {
    if (!change.from.empty() && Under(it->first, change.from)) {
      moved.emplace_back(change.to + it->first.substr(change.from.size()), it->second);
      it = names.erase(it);
    } else if (!change.from.empty() && !change.to.empty() && Under(it->first, change.to)) {
      it = names.erase(it);  // replaced by the rename
    } else {
      ++it;
    }
  }
  if (change.to.empty()) return;  // removed
  if (change.from.empty()) {
    names[change.to] = change.inode;  // created
    return;
  }
  for (auto& [path, inode] : moved) names[path] = inode;
}

void CrashFileSystem::Change_(Change change) {
  change.dir = store::ParentDir(change.to.empty() ? change.from : change.to);
  change.from_dir = change.from.empty() ? change.dir : store::ParentDir(change.from);
  Apply(state_.names, change);
  state_.pending.push_back(std::move(change));
  Record();
}

absl::StatusOr<std::unique_ptr<store::AppendFile>> CrashFileSystem::OpenAppend(
    const std::string& path, bool* created) {
  auto it = state_.names.find(path);
  *created = it == state_.names.end();
  if (!*created) {
    if (state_.inodes[it->second].dir) return absl::InternalError(path + " is a directory");
    return std::unique_ptr<store::AppendFile>(new File(this, it->second));
  }
  if (!IsDirectory(store::ParentDir(path))) return absl::NotFoundError("opening " + path);
  state_.inodes.push_back({});
  const int inode = static_cast<int>(state_.inodes.size()) - 1;
  Change_({"", path, inode, "", ""});
  return std::unique_ptr<store::AppendFile>(new File(this, inode));
}

absl::StatusOr<std::string> CrashFileSystem::ReadFile(const std::string& path) {
  auto it = state_.names.find(path);
  if (it == state_.names.end()) return absl::NotFoundError(absl::StrCat(path, " not found"));
  if (state_.inodes[it->second].dir) return absl::InternalError(path + " is a directory");
  return state_.inodes[it->second].data;
}

absl::Status CrashFileSystem::Rename(const std::string& from, const std::string& to) {
  if (absl::Status status = Check(Op::kRename); !status.ok()) return status;
  if (!Exists(from)) return absl::NotFoundError(absl::StrCat("renaming ", from, ": not found"));
  for (const auto& [path, inode] : state_.names) {
    if (path != to && Under(path, to)) {
      return absl::AlreadyExistsError(absl::StrCat("renaming to ", to, ": not empty"));
    }
  }
  Change_({from, to, state_.names[from], "", ""});
  return absl::OkStatus();
}

absl::Status CrashFileSystem::Remove(const std::string& path) {
  if (Exists(path)) Change_({path, "", -1, "", ""});
  return absl::OkStatus();
}

absl::Status CrashFileSystem::RemoveAll(const std::string& path) { return Remove(path); }

absl::Status CrashFileSystem::CreateDir(const std::string& path) {
  if (Exists(path)) return absl::AlreadyExistsError(path + " exists");
  if (!IsDirectory(store::ParentDir(path))) return absl::NotFoundError("creating " + path);
  state_.inodes.push_back({true, "", ""});
  Change_({"", path, static_cast<int>(state_.inodes.size()) - 1, "", ""});
  return absl::OkStatus();
}

absl::Status CrashFileSystem::CreateDirs(const std::string& path) {
  if (IsDirectory(path)) return absl::OkStatus();
  if (absl::Status parent = CreateDirs(store::ParentDir(path)); !parent.ok()) return parent;
  return CreateDir(path);
}

absl::Status CrashFileSystem::SyncDir(const std::string& dir) {
  if (absl::Status status = Check(Op::kSyncDir); !status.ok()) return status;
  for (auto it = state_.pending.begin(); it != state_.pending.end();) {
    if (it->dir == dir || it->from_dir == dir) {
      Apply(state_.durable, *it);
      it = state_.pending.erase(it);
    } else {
      ++it;
    }
  }
  Record();
  return absl::OkStatus();
}

bool CrashFileSystem::IsDirectory(const std::string& path) {
  if (path == "/" || path == ".") return true;
  auto it = state_.names.find(path);
  return it != state_.names.end() && state_.inodes[it->second].dir;
}

bool CrashFileSystem::Exists(const std::string& path) {
  return path == "/" || state_.names.count(path) > 0;
}

absl::StatusOr<std::vector<store::DirEntry>> CrashFileSystem::List(const std::string& dir) {
  if (!IsDirectory(dir)) return absl::NotFoundError("listing " + dir);
  std::vector<store::DirEntry> out;
  for (const auto& [path, inode] : state_.names) {
    if (store::ParentDir(path) == dir) {
      out.push_back({path.substr(dir.size() + 1), state_.inodes[inode].dir});
    }
  }
  return out;
}

std::vector<std::unique_ptr<CrashFileSystem>> CrashFileSystem::CrashStates(int k) const {
  const State& at = history_[static_cast<size_t>(k)];
  std::vector<std::unique_ptr<CrashFileSystem>> out;
  for (size_t survived = 0; survived <= at.pending.size(); ++survived) {
    Names names = at.durable;
    for (size_t i = 0; i < survived; ++i) Apply(names, at.pending[i]);
    // An entry whose directory did not survive is gone with it.
    for (auto it = names.begin(); it != names.end();) {
      const std::string parent = store::ParentDir(it->first);
      const bool orphan = parent != "/" && names.count(parent) == 0;
      it = orphan ? names.erase(it) : std::next(it);
    }
    // Contents: every file synced only, every file whole, or one file torn at each byte.
    std::vector<std::vector<std::string>> variants;
    std::vector<std::string> synced, whole;
    for (const Inode& inode : at.inodes) {
      synced.push_back(inode.synced);
      whole.push_back(inode.data);
    }
    variants.push_back(synced);
    if (whole != synced) variants.push_back(whole);
    for (const auto& [path, index] : names) {
      const Inode& inode = at.inodes[static_cast<size_t>(index)];
      if (inode.dir || !absl::StartsWith(inode.data, inode.synced)) continue;
      for (size_t len = inode.synced.size() + 1; len < inode.data.size(); ++len) {
        variants.push_back(synced);
        variants.back()[static_cast<size_t>(index)] = inode.data.substr(0, len);
      }
    }
    for (const auto& contents : variants) {
      auto state = std::make_unique<CrashFileSystem>();
      state->state_.inodes = at.inodes;
      for (size_t i = 0; i < contents.size(); ++i) {
        state->state_.inodes[i].data = state->state_.inodes[i].synced = contents[i];
      }
      state->state_.names = state->state_.durable = names;
      state->history_ = {state->state_};
      out.push_back(std::move(state));
    }
  }
  return out;
}

}  // namespace infmem::testing
