// One plinth process per run (or shards) directory. Two trainings resuming the same run would
// each write checkpoints the other then resumes from; a lock file stops the second at once.
// The lock is an flock() on <dir>/.lock: the kernel drops it when its process ends, however it
// ends (kill -9 included), so a killed run never leaves it stuck.
#pragma once

#include <filesystem>
#include <string>

namespace plinth {

class DirLock {
 public:
  // Creates `dir` if needed and takes its lock. `purpose` says what the holder does ("pretrain",
  // "prepare"); it is written into the lock file with the pid, for the message another process
  // gets: BadInput naming the directory, the holder's pid and purpose. Once held, temporary
  // files that killed writers left in `dir` and dir/checkpoints (*.tmp.<pid>) are removed.
  DirLock(const std::filesystem::path& dir, const std::string& purpose);
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace plinth
