#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <csignal>

#include <filesystem>

#include "test_support.h"
#include "util/dir_lock.h"
#include "util/error.h"

using namespace plinth;
namespace fs = std::filesystem;

TEST_CASE("dir lock: one holder at a time, named in the refusal - released with its holder", "[util]") {
  test::TempDir dir;
  const fs::path run = dir / "run";
  {
    DirLock first(run, "pretrain");
    CHECK(fs::exists(run / ".lock"));
    // flock() locks belong to an open file: a second open, even in this process, is refused.
    CHECK_THROWS_AS(DirLock(run, "finetune"), BadInput);
    CHECK_THROWS_WITH(DirLock(run, "finetune"),
                      Catch::Contains(run.string() + " is in use by another plinth process") &&
                          Catch::Contains("pid " + std::to_string(::getpid()) + ", plinth pretrain"));
  }
  DirLock again(run, "finetune");  // the first holder is gone: free
}

TEST_CASE("dir lock: a killed holder leaves nothing stuck, and its temporary files go", "[util]") {
  test::TempDir dir;
  const fs::path run = dir / "run";
  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    DirLock held(run, "pretrain");
    if (::write(ready[1], "x", 1) != 1) ::_exit(1);
    ::pause();  // killed below while holding the lock
    ::_exit(0);
  }
  char c;
  REQUIRE(::read(ready[0], &c, 1) == 1);
  ::close(ready[0]);
  ::close(ready[1]);
  CHECK_THROWS_AS(DirLock(run, "probe"), BadInput);
  // What the holder was writing when it was killed:
  dir.write("run/checkpoints/step-000004.ckpt.tmp.4242", "half a checkpoint");
  dir.write("run/metrics.jsonl.tmp.17", "half");
  dir.write("run/checkpoints/step-000002.ckpt", "kept");
  dir.write("run/notes.tmp.txt", "not a temporary of ours: kept");
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  DirLock mine(run, "pretrain");
  CHECK_FALSE(fs::exists(run / "checkpoints/step-000004.ckpt.tmp.4242"));
  CHECK_FALSE(fs::exists(run / "metrics.jsonl.tmp.17"));
  CHECK(fs::exists(run / "checkpoints/step-000002.ckpt"));
  CHECK(fs::exists(run / "notes.tmp.txt"));
}
