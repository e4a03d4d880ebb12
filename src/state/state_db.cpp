#include "state/state_db.h"

#include <rocksdb/cache.h>
#include <rocksdb/compaction_filter.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/perf_level.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/statistics.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <filesystem>
#include <system_error>

#include "state/key_encoding.h"
#include "state/window_retention.h"

namespace eddy::state {
namespace {

Status FromRocks(const rocksdb::Status& status, std::string_view what) {
  if (status.ok()) return Status::Ok();
  return Status::IoError(std::string(what) + ": " + status.ToString());
}

// Why RocksDB could not open `path`, in words an operator can act on, keeping RocksDB's
// own text at the end for the details.
Status OpenError(const rocksdb::Status& status, const std::string& path) {
  const std::string raw = status.ToString();
  std::string cause;
  if (raw.find("LOCK") != std::string::npos &&
      (raw.find("temporarily unavailable") != std::string::npos ||
       raw.find("lock hold") != std::string::npos)) {
    cause = "it is locked by another process (is another eddy running with the same state.dir?)";
  } else if (status.IsCorruption()) {
    cause =
        "it is corrupt; restore state.dir from a backup, or move it away to start with empty "
        "state";
  } else if (status.IsNoSpace() || raw.find("No space left") != std::string::npos) {
    cause = "no space left on the device";
  } else if (raw.find("Read-only file system") != std::string::npos) {
    cause = "the file system is read-only";
  } else if (raw.find("Permission denied") != std::string::npos) {
    cause = "permission denied (eddy needs to read and write state.dir)";
  } else if (raw.find("not a directory") != std::string::npos) {
    cause = "it exists but is not a directory";
  } else {
    cause = "RocksDB error";
  }
  return Status::IoError("cannot open the state database " + path + ": " + cause + " (" + raw +
                         ")");
}

rocksdb::Slice ToSlice(std::string_view bytes) {
  return {bytes.data(), bytes.size()};
}

}  // namespace

WriteBatch::WriteBatch() : rep_(std::make_unique<rocksdb::WriteBatch>()) {}
WriteBatch::~WriteBatch() = default;
WriteBatch::WriteBatch(WriteBatch&&) noexcept = default;
WriteBatch& WriteBatch::operator=(WriteBatch&&) noexcept = default;

void WriteBatch::Put(std::string_view key, std::string_view value) {
  // WriteBatch::Put only fails on size overflow (> 4 GiB batches), which commit intervals
  // keep far away; treat it as an invariant.
  rep_->Put(ToSlice(key), ToSlice(value)).PermitUncheckedError();
}
void WriteBatch::Delete(std::string_view key) {
  rep_->Delete(ToSlice(key)).PermitUncheckedError();
}
void WriteBatch::DeleteRange(std::string_view begin, std::string_view end) {
  rep_->DeleteRange(ToSlice(begin), ToSlice(end)).PermitUncheckedError();
}
size_t WriteBatch::Count() const {
  return static_cast<size_t>(rep_->Count());
}
void WriteBatch::Clear() {
  rep_->Clear();
}

std::string PrefixSuccessor(std::string_view prefix) {
  std::string out(prefix);
  while (!out.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(out.back());
    if (last != 0xFF) {
      ++last;
      return out;
    }
    out.pop_back();
  }
  return out;
}

// Drops window keys that WindowRetention reports as expired. Called from RocksDB's
// compaction threads; WindowRetention is thread-safe.
class StateDb::RetentionFilter final : public rocksdb::CompactionFilter {
 public:
  explicit RetentionFilter(const WindowRetention& retention) : retention_(retention) {}
  bool Filter(int /*level*/, const rocksdb::Slice& key, const rocksdb::Slice& value,
              std::string* /*new_value*/, bool* /*value_changed*/) const override {
    // Every key of every compaction passes here: PeekWindowKey copies nothing.
    std::optional<WindowKeyView> window = PeekWindowKey({key.data(), key.size()});
    return window && retention_.Expired(window->store, window->partition, window->window_start_ms,
                                        {value.data(), value.size()});
  }
  const char* Name() const override { return "eddy.WindowRetention"; }

 private:
  const WindowRetention& retention_;
};

namespace {

// A state directory is read only in the key format it was written in (key_encoding.cpp). An
// empty one gets the current format; one with keys but no format entry is format 1.
Status CheckKeyFormat(rocksdb::DB& db, const std::string& path) {
  std::string format;
  const std::string format_key = EncodeFormatKey();
  rocksdb::Status status = db.Get(rocksdb::ReadOptions(), format_key, &format);
  if (status.ok()) {
    if (format == kKeyFormat) return Status::Ok();
  } else if (!status.IsNotFound()) {
    return FromRocks(status, "RocksDB get");
  } else {
    rocksdb::ReadOptions scan;
    scan.total_order_seek = true;
    std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(scan));
    it->SeekToFirst();
    if (!it->status().ok()) return FromRocks(it->status(), "RocksDB scan");
    if (!it->Valid()) {
      return FromRocks(db.Put(rocksdb::WriteOptions(), format_key, std::string(kKeyFormat)),
                       "RocksDB write to " + path);
    }
    format = "1";
  }
  return Status::InvalidArgument("the state in " + path + " is in key format " + format +
                                 ", this eddy reads format " + std::string(kKeyFormat) +
                                 " only: run the eddy version that wrote it, or delete the state "
                                 "directory and start with a new group.id to rebuild the state "
                                 "from the topics");
}

}  // namespace

// The prefix of a window key that identifies one user key's windows in one partition of a
// store: everything but the trailing 8-byte window start (key_encoding.cpp). Feeds the prefix
// bloom filters that ScanUserKeyWindows uses. Every other read is a total-order seek
// (ReadOptionsFor), which ignores prefixes: their targets are not window keys, and a
// prefix seek on them would skip files wrongly.
class WindowKeyPrefix final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "eddy.WindowKeyPrefix.1"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return rocksdb::Slice(key.data(), key.size() - kWindowStartBytes);
  }
  bool InDomain(const rocksdb::Slice& key) const override {
    return key.size() > kWindowStartBytes + 1 && key[0] == 'W';
  }

 private:
  static constexpr size_t kWindowStartBytes = 8;
};

Result<std::unique_ptr<StateDb>> StateDb::Open(const std::string& dir, StateDbOptions options) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return Status::IoError("cannot create the state directory " + dir + ": " + error.message() +
                           (error == std::errc::not_a_directory
                                ? " (a file is in the way of the state directory path)"
                                : ""));
  }

  rocksdb::Options db_options;
  db_options.create_if_missing = true;
  db_options.IncreaseParallelism(2);
  // Level compaction tuned for a memtable budget of four write buffers (compaction
  // triggers and level sizes follow from it); then flushes one full memtable at a time
  // instead of waiting for two, and caps their number: see kWriteBufferBytes.
  db_options.OptimizeLevelStyleCompaction(4 * kWriteBufferBytes);
  db_options.write_buffer_size = kWriteBufferBytes;
  db_options.min_write_buffer_number_to_merge = 1;
  db_options.max_write_buffer_number = kMaxWriteBuffers;
  // Compact L0 into L1 once four flushed memtables wait there, not two: state keys are
  // spread over the whole key space, so every L0 -> L1 compaction rewrites all of L1, and
  // waiting for twice the data halves how often it does. Compaction took 15-25% of the
  // 2-core machine in the benchmarks; with 4: (b) 16.4-18.2 -> 15.6 CPU s per 3M events,
  // at the cost of a bloom probe in up to two more L0 files per read.
  db_options.level0_file_num_compaction_trigger = 4;
  db_options.compression = rocksdb::kLZ4Compression;
  // Bloom filters on whole keys, in every SST file and in the memtables. Most point reads
  // are misses: the first record of a key in a new window, session or dedup id looks up a
  // state that does not exist yet. Without filters each miss searches every memtable and
  // probes every level's index; with them it costs a few hashes (10 bits per key: ~1% false
  // positives, ~1.2 MiB of filter per million keys).
  rocksdb::BlockBasedTableOptions table_options;
  table_options.block_cache = rocksdb::NewLRUCache(kBlockCacheBytes);
  table_options.whole_key_filtering = true;
  table_options.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  db_options.prefix_extractor = std::make_shared<WindowKeyPrefix>();
  db_options.memtable_whole_key_filtering = true;
  db_options.memtable_prefix_bloom_size_ratio = 0.02;
  db_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table_options));
  db_options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  // Tickers only (block cache hits, stall time): histograms and timers cost clock reads on
  // every operation, tickers a per-core counter increment.
  db_options.statistics = rocksdb::CreateDBStatistics();
  db_options.statistics->set_stats_level(rocksdb::StatsLevel::kExceptHistogramOrTimers);
  db_options.keep_log_file_num = 3;
  std::unique_ptr<RetentionFilter> filter;
  if (options.window_retention != nullptr) {
    filter = std::make_unique<RetentionFilter>(*options.window_retention);
    db_options.compaction_filter = filter.get();
  }

  const std::string path = (std::filesystem::path(dir) / "db").string();
  rocksdb::DB* raw = nullptr;
  rocksdb::Status status = rocksdb::DB::Open(db_options, path, &raw);
  if (!status.ok()) return OpenError(status, path);
  std::unique_ptr<rocksdb::DB> db(raw);
  EDDY_RETURN_IF_ERROR(CheckKeyFormat(*db, path));
  return std::unique_ptr<StateDb>(
      new StateDb(std::move(db), std::move(filter), db_options.statistics, path, options));
}

StateDb::StateDb(std::unique_ptr<rocksdb::DB> db, std::unique_ptr<RetentionFilter> filter,
                 std::shared_ptr<rocksdb::Statistics> statistics, std::string path,
                 StateDbOptions options)
    : filter_(std::move(filter)),
      db_(std::move(db)),
      statistics_(std::move(statistics)),
      path_(std::move(path)),
      options_(options) {}

StateDb::~StateDb() {
  if (db_) db_->Close().PermitUncheckedError();
}

Status StateDb::Write(WriteBatch& batch) {
  rocksdb::WriteOptions write_options;
  write_options.sync = options_.sync_writes;
  return FromRocks(db_->Write(write_options, &batch.rep()), "RocksDB write to " + path_);
}

ReadSnapshot::~ReadSnapshot() {
  db_.ReleaseSnapshot(snapshot_);
}

std::unique_ptr<ReadSnapshot> StateDb::Snapshot() const {
  return std::unique_ptr<ReadSnapshot>(new ReadSnapshot(*db_, db_->GetSnapshot()));
}

namespace {

rocksdb::ReadOptions ReadOptionsFor(const ReadSnapshot* snapshot,
                                    const rocksdb::Snapshot* rocks_snapshot) {
  rocksdb::ReadOptions options;
  options.total_order_seek = true;  // see WindowKeyPrefix
  if (snapshot != nullptr) options.snapshot = rocks_snapshot;
  return options;
}

}  // namespace

Result<std::optional<std::string>> StateDb::Get(std::string_view key,
                                                const ReadSnapshot* snapshot) const {
  std::string value;
  rocksdb::Status status = db_->Get(
      ReadOptionsFor(snapshot, snapshot ? snapshot->snapshot_ : nullptr), ToSlice(key), &value);
  if (status.IsNotFound()) return std::optional<std::string>();
  if (!status.ok()) return FromRocks(status, "RocksDB get");
  return std::optional<std::string>(std::move(value));
}

Status StateDb::ScanPrefix(std::string_view prefix, const Visitor& visit,
                           const ReadSnapshot* snapshot) const {
  return ScanRange(prefix, PrefixSuccessor(prefix), visit, snapshot);
}

Status StateDb::ScanUserKeyWindows(std::string_view windows_prefix, const Visitor& visit,
                                   const ReadSnapshot* snapshot) const {
  WindowScanner scanner(*this, snapshot);
  return scanner.Scan(windows_prefix, INT64_MIN, visit);
}

WindowScanner::WindowScanner(const StateDb& db, const ReadSnapshot* snapshot)
    : db_(db), snapshot_(snapshot) {}
WindowScanner::~WindowScanner() = default;

void WindowScanner::Release() {
  iterator_.reset();
}

Status WindowScanner::Scan(std::string_view windows_prefix, int64_t from_window_start_ms,
                           const StateDb::Visitor& visit) {
  if (iterator_ == nullptr) {
    rocksdb::ReadOptions read_options;
    read_options.prefix_same_as_start = true;  // stops at the end of the prefix
    if (snapshot_ != nullptr) read_options.snapshot = snapshot_->snapshot_;
    iterator_.reset(db_.db_->NewIterator(read_options));
  }
  seek_key_.assign(windows_prefix);
  AppendInt64Ordered(seek_key_, from_window_start_ms);
  rocksdb::Iterator& it = *iterator_;
  for (it.Seek(rocksdb::Slice(seek_key_)); it.Valid(); it.Next()) {
    const rocksdb::Slice key = it.key();
    if (!std::string_view(key.data(), key.size()).starts_with(windows_prefix)) break;
    const rocksdb::Slice value = it.value();
    if (!visit({key.data(), key.size()}, {value.data(), value.size()})) break;
  }
  Status status = FromRocks(it.status(), "RocksDB scan");
  // An iterator in error state stays so: the next scan starts a new one.
  if (!status.ok()) iterator_.reset();
  return status;
}

Status StateDb::ScanRange(std::string_view begin, std::string_view end, const Visitor& visit,
                          const ReadSnapshot* snapshot) const {
  rocksdb::Slice upper_slice(end.data(), end.size());
  rocksdb::ReadOptions read_options =
      ReadOptionsFor(snapshot, snapshot ? snapshot->snapshot_ : nullptr);
  if (!end.empty()) read_options.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options));
  for (it->Seek(ToSlice(begin)); it->Valid(); it->Next()) {
    const rocksdb::Slice key = it->key();
    const rocksdb::Slice value = it->value();
    if (!visit({key.data(), key.size()}, {value.data(), value.size()})) break;
  }
  return FromRocks(it->status(), "RocksDB scan");
}

uint64_t StateDb::ApproximateKeys(std::string_view begin, std::string_view end) const {
  const std::string upper = end.empty() ? std::string(1, '\xFF') : std::string(end);
  const rocksdb::Range range(ToSlice(begin), ToSlice(upper));
  uint64_t memtable_count = 0;
  uint64_t memtable_bytes = 0;
  db_->GetApproximateMemTableStats(range, &memtable_count, &memtable_bytes);
  uint64_t file_bytes = 0;
  rocksdb::SizeApproximationOptions size_options;
  size_options.include_memtables = false;
  size_options.include_files = true;
  if (!db_->GetApproximateSizes(size_options, db_->DefaultColumnFamily(), &range, 1, &file_bytes)
           .ok()) {
    file_bytes = 0;
  }
  if (file_bytes == 0) return memtable_count;
  // Average bytes per entry over the whole database's SST files.
  uint64_t live_bytes = 0;
  uint64_t file_keys = 0;
  db_->GetIntProperty("rocksdb.total-sst-files-size", &live_bytes);
  db_->GetIntProperty("rocksdb.estimate-num-keys", &file_keys);
  if (live_bytes == 0 || file_keys == 0) return memtable_count;
  const double bytes_per_key = static_cast<double>(live_bytes) / static_cast<double>(file_keys);
  return memtable_count + static_cast<uint64_t>(static_cast<double>(file_bytes) / bytes_per_key);
}

Status StateDb::CompactAll() {
  EDDY_RETURN_IF_ERROR(Flush());
  rocksdb::CompactRangeOptions options;
  options.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  return FromRocks(db_->CompactRange(options, nullptr, nullptr), "RocksDB compaction");
}

uint64_t StateDb::EstimatedKeys() const {
  uint64_t keys = 0;
  db_->GetIntProperty("rocksdb.estimate-num-keys", &keys);
  return keys;
}

uint64_t StateDb::MemtableBytes() const {
  uint64_t bytes = 0;
  db_->GetIntProperty("rocksdb.size-all-mem-tables", &bytes);
  return bytes;
}

StateDbStats StateDb::Stats() const {
  StateDbStats stats;
  auto property = [&](const std::string& name, uint64_t& out) {
    if (!db_->GetIntProperty(name, &out)) out = 0;
  };
  using Properties = rocksdb::DB::Properties;
  property(Properties::kEstimateLiveDataSize, stats.live_data_bytes);
  property(Properties::kTotalSstFilesSize, stats.sst_files_bytes);
  property(Properties::kCurSizeAllMemTables, stats.memtable_bytes);
  property(Properties::kEstimateNumKeys, stats.estimated_keys);
  property(Properties::kEstimatePendingCompactionBytes, stats.pending_compaction_bytes);
  property(Properties::kNumRunningCompactions, stats.running_compactions);
  property(Properties::kActualDelayedWriteRate, stats.delayed_write_rate);
  property(Properties::kBlockCacheUsage, stats.block_cache_usage_bytes);
  uint64_t stopped = 0;
  property(Properties::kIsWriteStopped, stopped);
  stats.write_stopped = stopped != 0;
  if (statistics_ != nullptr) {
    stats.stall_micros = statistics_->getTickerCount(rocksdb::STALL_MICROS);
    stats.block_cache_hits = statistics_->getTickerCount(rocksdb::BLOCK_CACHE_HIT);
    stats.block_cache_misses = statistics_->getTickerCount(rocksdb::BLOCK_CACHE_MISS);
  }
  return stats;
}

Status StateDb::Resume() {
  return FromRocks(db_->Resume(), "RocksDB resume");
}

Status StateDb::Flush() {
  return FromRocks(db_->Flush(rocksdb::FlushOptions()), "RocksDB flush");
}

void DisablePerfCountersOnThisThread() {
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
}

}  // namespace eddy::state
