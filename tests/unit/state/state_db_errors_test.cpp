// StateDb against a hostile disk: every way the state directory can be unusable at start is
// one clear error naming the path and the cause; a full disk while running fails the write
// (nothing half-applied), and after space is freed Resume + the same write succeed and the
// database reopens with exactly the committed data.
//
// The read-only and disk-full cases mount a small tmpfs and so need root; without it they
// are skipped with a warning.
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "state/state_db.h"
#include "support/temp_dir.h"

namespace eddy::state {
namespace {

using eddy::testing::TempDir;

std::string OpenError(const std::string& dir) {
  Result<std::unique_ptr<StateDb>> db = StateDb::Open(dir, {});
  REQUIRE_FALSE(db.ok());
  return db.status().ToString();
}

// A tmpfs of `size` mounted on a fresh directory for the test's lifetime.
class SmallTmpfs {
 public:
  SmallTmpfs(const std::string& size, bool read_only) {
    if (geteuid() != 0) return;
    const std::string options = "size=" + size;
    if (mount("tmpfs", dir_.path().c_str(), "tmpfs", read_only ? MS_RDONLY : 0, options.c_str()) ==
        0) {
      mounted_ = true;
    }
  }
  ~SmallTmpfs() {
    if (mounted_) umount2(dir_.path().c_str(), MNT_DETACH);
  }
  SmallTmpfs(const SmallTmpfs&) = delete;
  SmallTmpfs& operator=(const SmallTmpfs&) = delete;
  bool mounted() const { return mounted_; }
  const std::string& path() const { return dir_.path(); }

 private:
  TempDir dir_{"eddy-tmpfs"};
  bool mounted_ = false;
};

TEST_CASE("a file where the state directory should be", "[state][disk]") {
  TempDir dir;
  const std::string file = dir.path() + "/not-a-dir";
  std::ofstream(file) << "x";
  CHECK(OpenError(file) == "I/O error: cannot create the state directory " + file +
                               ": Not a directory (a file is in the way of the state directory "
                               "path)");
  CHECK(OpenError(file + "/below")
            .find("cannot create the state directory " + file + "/below: Not a directory") !=
        std::string::npos);
  // state.dir exists, but its db is a file.
  std::ofstream(dir.path() + "/db") << "x";
  CHECK(OpenError(dir.path())
            .starts_with("I/O error: cannot open the state database " + dir.path() +
                         "/db: it exists but is not a directory ("));
}

TEST_CASE("a state database locked by another user", "[state][disk]") {
  TempDir dir;
  Result<std::unique_ptr<StateDb>> first = StateDb::Open(dir.path(), {});
  REQUIRE(first.ok());
  // In one process RocksDB reports its own lock ("lock hold by current process"); a second
  // eddy process gets EAGAIN on the LOCK file (checked by hand with two `eddy run`, see
  // docs/cli.md). Both map to the same message.
  CHECK(OpenError(dir.path())
            .starts_with("I/O error: cannot open the state database " + dir.path() +
                         "/db: it is locked by another process (is another eddy running with "
                         "the same state.dir?) ("));
}

TEST_CASE("a corrupt CURRENT file", "[state][disk]") {
  TempDir dir;
  {
    Result<std::unique_ptr<StateDb>> db = StateDb::Open(dir.path(), {});
    REQUIRE(db.ok());
  }
  std::ofstream(dir.path() + "/db/CURRENT", std::ios::trunc) << "garbage";
  CHECK(OpenError(dir.path())
            .starts_with("I/O error: cannot open the state database " + dir.path() +
                         "/db: it is corrupt; restore state.dir from a backup, or move it away "
                         "to start with empty state ("));
}

TEST_CASE("a read-only state directory", "[state][disk]") {
  SmallTmpfs tmpfs("1M", /*read_only=*/true);
  if (!tmpfs.mounted()) {
    WARN("skipped: mounting a tmpfs needs root");
    return;
  }
  const std::string error = OpenError(tmpfs.path() + "/state");
  CHECK(error == "I/O error: cannot create the state directory " + tmpfs.path() +
                     "/state: Read-only file system");
}

// Debian's librocksdb 7.8.3 is built with assertions on, and after a failed WAL append a
// RocksDB background thread aborts the process (writable_file_writer.h:
// "Assertion `sync_without_flush_called_' failed"). So the writer runs in a child process:
// whatever becomes of it (a failed write, or SIGABRT), the database must reopen, once space
// is free, with every acknowledged write whole and nothing else.
TEST_CASE("disk full while running: acknowledged writes survive, whole, after space is freed",
          "[state][disk]") {
  SmallTmpfs tmpfs("2M", /*read_only=*/false);
  if (!tmpfs.mounted()) {
    WARN("skipped: mounting a tmpfs needs root");
    return;
  }
  const std::string filler = tmpfs.path() + "/filler";
  std::ofstream(filler) << std::string(1 << 20, 'f');
  const std::string state_dir = tmpfs.path() + "/state";
  const std::string value(64 * 1024, 'v');
  int pipe_fds[2];
  REQUIRE(pipe(pipe_fds) == 0);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    std::signal(SIGABRT, SIG_DFL);  // not Catch's handler: the parent judges the outcome
    close(pipe_fds[0]);
    Result<std::unique_ptr<StateDb>> db = StateDb::Open(state_dir, {});
    if (!db.ok()) _exit(2);
    for (int i = 0; i < 100; ++i) {
      WriteBatch batch;
      batch.Put("k" + std::to_string(i), value);
      batch.Put("n" + std::to_string(i), std::to_string(i));
      Status written = (*db)->Write(batch);
      const std::string report =
          written.ok() ? "ok " + std::to_string(i) + "\n" : "error " + written.ToString() + "\n";
      if (write(pipe_fds[1], report.data(), report.size()) < 0) _exit(3);
      if (!written.ok()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // let RocksDB react
    _exit(0);
  }
  close(pipe_fds[1]);
  std::string reports;
  char buffer[4096];
  for (ssize_t n; (n = read(pipe_fds[0], buffer, sizeof buffer)) > 0;) {
    reports.append(buffer, static_cast<size_t>(n));
  }
  close(pipe_fds[0]);
  int wait_status = 0;
  REQUIRE(waitpid(child, &wait_status, 0) == child);
  INFO(reports);
  INFO("child: " << (WIFSIGNALED(wait_status)
                         ? "signal " + std::to_string(WTERMSIG(wait_status))
                         : "exit " + std::to_string(WEXITSTATUS(wait_status))));
  // Either the write reports the full disk, naming the database, or Debian's RocksDB 7.8
  // (built with assertions) aborts the process first (docs/cli.md, troubleshooting): a
  // crash, which must not cost any acknowledged write either.
  const bool aborted = WIFSIGNALED(wait_status) && WTERMSIG(wait_status) == SIGABRT;
  if (!aborted) {
    REQUIRE(reports.find("No space left on device") != std::string::npos);
    REQUIRE(reports.find(state_dir + "/db") != std::string::npos);
  }
  int acknowledged = 0;
  while (reports.find("ok " + std::to_string(acknowledged) + "\n") != std::string::npos) {
    ++acknowledged;
  }
  REQUIRE(acknowledged > 0);

  std::filesystem::remove(filler);
  Result<std::unique_ptr<StateDb>> db = StateDb::Open(state_dir, {});
  INFO(db.status().ToString());
  REQUIRE(db.ok());
  for (int i = 0; i < acknowledged; ++i) {
    Result<std::optional<std::string>> k = (*db)->Get("k" + std::to_string(i));
    Result<std::optional<std::string>> n = (*db)->Get("n" + std::to_string(i));
    REQUIRE((k.ok() && n.ok() && k->has_value() && n->has_value()));
    CHECK((*k)->size() == value.size());
    CHECK(**n == std::to_string(i));
  }
  // The unacknowledged batch is whole or absent, never half there. (After an abort it may
  // have reached the log before the process died.)
  Result<std::optional<std::string>> k_after = (*db)->Get("k" + std::to_string(acknowledged));
  Result<std::optional<std::string>> n_after = (*db)->Get("n" + std::to_string(acknowledged));
  REQUIRE((k_after.ok() && n_after.ok()));
  CHECK(k_after->has_value() == n_after->has_value());
  if (!aborted) CHECK_FALSE(k_after->has_value());
  // And it takes writes again.
  WriteBatch batch;
  batch.Put("after", "recovery");
  CHECK((*db)->Write(batch).ok());
}

}  // namespace
}  // namespace eddy::state
