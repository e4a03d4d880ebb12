// StateDb: eddy's one RocksDB database (state.dir/db), on real disk.
//
// Contract:
// - Writes go through Write(WriteBatch): a batch is applied atomically, which is how a
//   partition's state and its progress (offset, stream time) always land together.
// - Reads (Get, ScanPrefix) see the latest committed batch. They are what HTTP queries
//   use, so a view shows exactly the state whose offsets are committed.
//
// Thread-safety: all methods are thread-safe (RocksDB's DB is). In practice one
// processing thread writes and the HTTP threads read.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace rocksdb {
class DB;
class Iterator;
class Snapshot;
class Statistics;
class WriteBatch;
}  // namespace rocksdb

namespace eddy::state {

class WindowRetention;

// RocksDB's own view of the database, for the eddy_state_* metrics. Sizes in bytes.
struct StateDbStats {
  uint64_t live_data_bytes = 0;           // rocksdb.estimate-live-data-size
  uint64_t sst_files_bytes = 0;           // rocksdb.total-sst-files-size
  uint64_t memtable_bytes = 0;            // rocksdb.cur-size-all-mem-tables
  uint64_t estimated_keys = 0;            // rocksdb.estimate-num-keys
  uint64_t pending_compaction_bytes = 0;  // rocksdb.estimate-pending-compaction-bytes
  uint64_t running_compactions = 0;       // rocksdb.num-running-compactions
  uint64_t delayed_write_rate = 0;        // rocksdb.actual-delayed-write-rate, bytes/s; 0: no delay
  bool write_stopped = false;             // rocksdb.is-write-stopped
  uint64_t block_cache_usage_bytes = 0;   // rocksdb.block-cache-usage
  // Statistics tickers, monotonic since Open.
  uint64_t stall_micros = 0;  // STALL_MICROS: time writes waited on a delay or stop
  uint64_t block_cache_hits = 0;
  uint64_t block_cache_misses = 0;
};

struct StateDbOptions {
  bool sync_writes = false;  // fsync the WAL on each Write: survive power loss, not just crashes
  // If set, compactions drop window keys it says are expired. Must outlive the StateDb.
  const WindowRetention* window_retention = nullptr;
};

// A set of puts and deletes applied atomically by StateDb::Write. Owned by one thread.
class WriteBatch {
 public:
  WriteBatch();
  ~WriteBatch();
  WriteBatch(WriteBatch&&) noexcept;
  WriteBatch& operator=(WriteBatch&&) noexcept;

  void Put(std::string_view key, std::string_view value);
  void Delete(std::string_view key);
  // Deletes every key in [begin, end).
  void DeleteRange(std::string_view begin, std::string_view end);
  size_t Count() const;
  void Clear();

  rocksdb::WriteBatch& rep() { return *rep_; }

 private:
  std::unique_ptr<rocksdb::WriteBatch> rep_;
};

class StateDb;

// A consistent point-in-time view of the database (a RocksDB snapshot): reads through it see
// exactly the batches written before it was taken, however many follow. Held for one HTTP
// request, so that everything a response reads comes from one commit. Released on
// destruction; must not outlive its StateDb. Thread-safe to read from.
class ReadSnapshot {
 public:
  ~ReadSnapshot();
  ReadSnapshot(const ReadSnapshot&) = delete;
  ReadSnapshot& operator=(const ReadSnapshot&) = delete;

 private:
  friend class StateDb;
  friend class WindowScanner;
  ReadSnapshot(rocksdb::DB& db, const rocksdb::Snapshot* snapshot) : db_(db), snapshot_(snapshot) {}
  rocksdb::DB& db_;
  const rocksdb::Snapshot* const snapshot_;
};
// RocksDB's memory for writes (docs/error-handling.md#memory-bound). Memtables hold
// kWriteBufferBytes each; at most kMaxWriteBuffers exist at once (one taking writes, the
// others full and waiting for their flush to disk). When all are full RocksDB stalls the
// next write until a flush finishes: the commit waits, and so does consumption, rather than
// memory growing. RocksDB's own default (512 MiB budget: 128 MiB memtables, flushed two at
// a time, up to six) let memtables grow past 256 MiB before the first flush.
inline constexpr uint64_t kWriteBufferBytes = 16u << 20;
inline constexpr int kMaxWriteBuffers = 4;
// RocksDB's cache of uncompressed SST blocks, shared by every read: view lookups, table
// rows for joins, state the window cache dropped. RocksDB's default (8 MiB) made most view
// lookups read and decompress a block from the file (benchmarks/compare's lookups: ~8,500
// requests/s, a third of the time in block reads).
inline constexpr size_t kBlockCacheBytes = 64u << 20;

class StateDb {
 public:
  // Opens (creating if missing) the database under `dir` (the directory is created too).
  static Result<std::unique_ptr<StateDb>> Open(const std::string& dir, StateDbOptions options);
  ~StateDb();
  StateDb(const StateDb&) = delete;
  StateDb& operator=(const StateDb&) = delete;

  Status Write(WriteBatch& batch);
  // A snapshot of the database as of now, for reads that must agree with each other.
  std::unique_ptr<ReadSnapshot> Snapshot() const;

  // The reads: of the latest committed state, or of `snapshot` when given.
  // nullopt when the key is absent.
  Result<std::optional<std::string>> Get(std::string_view key,
                                         const ReadSnapshot* snapshot = nullptr) const;
  using Visitor = std::function<bool(std::string_view key, std::string_view value)>;
  // Calls visit(key, value) for each key starting with `prefix`, in key order, until visit
  // returns false.
  Status ScanPrefix(std::string_view prefix, const Visitor& visit,
                    const ReadSnapshot* snapshot = nullptr) const;
  // Calls visit(key, value) for each window of one user key in one partition of a store,
  // `windows_prefix` being its EncodeWindowKeyPrefix, in window order, until visit returns
  // false. The same as ScanPrefix(windows_prefix), but RocksDB's prefix bloom filters skip
  // every memtable and SST file without that user key: the point-read cost of a key with no
  // windows (dedup's new ids, a stream join's unmatched keys) instead of a seek per level.
  Status ScanUserKeyWindows(std::string_view windows_prefix, const Visitor& visit,
                            const ReadSnapshot* snapshot = nullptr) const;
  // Calls visit(key, value) for each key in [begin, end) ("" end: no bound), in key order,
  // until visit returns false.
  Status ScanRange(std::string_view begin, std::string_view end, const Visitor& visit,
                   const ReadSnapshot* snapshot = nullptr) const;
  // An estimate of the number of keys in [begin, end): exact for unflushed writes, estimated
  // from SST file sizes and their average entry size for the rest. Costs a few metadata
  // lookups, no data reads.
  uint64_t ApproximateKeys(std::string_view begin, std::string_view end) const;
  // After a failed Write (disk full, I/O error) RocksDB refuses further writes until it
  // recovers; this asks it to, e.g. once space is free again. Ok if there was nothing to do.
  Status Resume();
  // Flushes memtables to SST files (used at shutdown so the next start replays no WAL).
  Status Flush();
  // Flushes, then compacts the whole key space (runs the retention purge everywhere now).
  Status CompactAll();
  // RocksDB's estimate of the number of keys (cheap; exact only after CompactAll).
  uint64_t EstimatedKeys() const;
  // Bytes held by memtables: the one taking writes, full ones not yet flushed, and flushed
  // ones still pinned by a reader (RocksDB's rocksdb.size-all-mem-tables).
  uint64_t MemtableBytes() const;
  // In-memory properties and counters only (no I/O): cheap enough for every scrape, not
  // meant for the processing loop.
  StateDbStats Stats() const;
  const std::string& path() const { return path_; }

 private:
  friend class WindowScanner;
  class RetentionFilter;
  StateDb(std::unique_ptr<rocksdb::DB> db, std::unique_ptr<RetentionFilter> filter,
          std::shared_ptr<rocksdb::Statistics> statistics, std::string path,
          StateDbOptions options);
  // Declared before db_ so it is destroyed after the DB that uses it.
  std::unique_ptr<RetentionFilter> filter_;
  std::unique_ptr<rocksdb::DB> db_;
  const std::shared_ptr<rocksdb::Statistics> statistics_;  // thread-safe; the DB's too
  const std::string path_;
  const StateDbOptions options_;
};

// ScanUserKeyWindows for a step that scans on every record: it keeps one RocksDB iterator
// between scans, because creating one (a superversion reference, a merging iterator over
// every memtable and file) costs about as much as the seek itself.
//
// Contract: a scan sees the committed state as of the first scan after construction or
// Release(). Its owner must call Release() once state it needs to see was written since —
// the steps call it in FlushTo, i.e. before every commit of their own. A held iterator pins
// the memtables and files of that moment, which is why it lives no longer than a commit
// interval. Thread-safety: one thread at a time (the worker that owns the step).
class WindowScanner {
 public:
  // With `snapshot` (which must outlive the scanner), every scan reads that snapshot:
  // a reader of several partitions at one moment (a view lookup) creates one iterator.
  explicit WindowScanner(const StateDb& db, const ReadSnapshot* snapshot = nullptr);
  ~WindowScanner();
  WindowScanner(const WindowScanner&) = delete;
  WindowScanner& operator=(const WindowScanner&) = delete;

  // As StateDb::ScanUserKeyWindows, from window start `from_window_start_ms` on.
  Status Scan(std::string_view windows_prefix, int64_t from_window_start_ms,
              const StateDb::Visitor& visit);
  void Release();

 private:
  const StateDb& db_;
  const ReadSnapshot* const snapshot_;
  std::unique_ptr<rocksdb::Iterator> iterator_;
  std::string seek_key_;  // reused
};

// The smallest key greater than every key starting with `prefix` ("" if none exists).
std::string PrefixSuccessor(std::string_view prefix);

// RocksDB counts details of every operation in a thread-local perf context unless the
// thread says otherwise; eddy reads none of them. A thread that reads or writes state on
// every record (a worker) calls this once, first.
void DisablePerfCountersOnThisThread();

}  // namespace eddy::state
