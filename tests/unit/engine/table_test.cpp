// engine/table: TableStep's lookups through its row cache agree with RocksDB — after writes,
// tombstones, restarts, and partitions moving between workers that share the state.
#include "engine/table.h"

#include <catch2/catch.hpp>
#include <memory>
#include <optional>
#include <string>

#include "codec/json_record.h"
#include "state/state_db.h"
#include "support/temp_dir.h"

namespace eddy::engine {
namespace {

using eddy::testing::TempDir;

class NoStreamTime final : public FlushContext {
 public:
  int64_t StreamTime(int32_t) const override { return INT64_MIN; }
};

config::StepConfig TableConfig(int64_t cache_mib = 256) {
  config::StepConfig step;
  step.name = "rows";
  step.table_cache_mib = cache_mib;
  return step;
}

// Upserts `key` with the JSON `value` as a record of the table's topic would.
void Upsert(TableStep& table, const std::string& key, const std::string& value) {
  codec::JsonRecordDecoder decoder;
  REQUIRE(decoder.Parse(value).ok());
  const Event event{0, 0, 0, key, decoder, nullptr, value};
  REQUIRE(table.Prepare(event, PartitionContext{}).ok());
  REQUIRE(table.Apply(event).ok());
}

void Commit(TableStep& table, state::StateDb& db) {
  state::WriteBatch batch;
  REQUIRE(table.FlushTo(batch, NoStreamTime{}).ok());
  REQUIRE(db.Write(batch).ok());
}

std::optional<std::string> Row(const TableStep& table, const std::string& key) {
  Result<std::optional<std::string>> row = table.Lookup(key);
  REQUIRE(row.ok());
  return *row;
}

TEST_CASE("table lookups see pending, committed and deleted rows, and rows from before a restart",
          "[engine][table]") {
  const int64_t cache_mib = GENERATE(0, 256);  // 0: no row cache
  INFO("cache_mib " << cache_mib);
  TempDir dir;
  {
    Result<std::unique_ptr<state::StateDb>> db = state::StateDb::Open(dir.path(), {});
    REQUIRE(db.ok());
    TableStep table("t.rows", TableConfig(cache_mib), **db);
    table.EnableRowCache();                  // as for a joined table
    CHECK(Row(table, "a") == std::nullopt);  // cached as absent
    Upsert(table, "a", R"({"v":1})");
    CHECK(Row(table, "a") == R"({"v":1})");  // pending
    Commit(table, **db);
    CHECK(Row(table, "a") == R"({"v":1})");  // cached by the commit
    Upsert(table, "a", R"({"v":2})");
    Upsert(table, "b", R"({"v":3})");
    Commit(table, **db);
    CHECK(Row(table, "a") == R"({"v":2})");
    table.ApplyTombstone("b");
    Commit(table, **db);
    CHECK(Row(table, "b") == std::nullopt);
  }
  Result<std::unique_ptr<state::StateDb>> db = state::StateDb::Open(dir.path(), {});
  REQUIRE(db.ok());
  TableStep table("t.rows", TableConfig(cache_mib), **db);
  table.EnableRowCache();
  CHECK(Row(table, "a") == R"({"v":2})");
  CHECK(Row(table, "b") == std::nullopt);
}

TEST_CASE("a worker's cached rows are forgotten when its partitions move", "[engine][table]") {
  // Two workers of a co-partitioned join share the state; worker one looks a key up, the
  // key's partition moves to worker two, which changes the row, and moves back.
  TempDir dir;
  Result<std::unique_ptr<state::StateDb>> db = state::StateDb::Open(dir.path(), {});
  REQUIRE(db.ok());
  TableStep one("t.rows", TableConfig(), **db);
  TableStep two("t.rows", TableConfig(), **db);
  one.EnableRowCache();
  two.EnableRowCache();
  Upsert(one, "k", R"({"v":"old"})");
  Commit(one, **db);
  CHECK(Row(one, "k") == R"({"v":"old"})");
  CHECK(Row(one, "gone") == std::nullopt);

  one.DropPartition(0);                              // revoked from worker one ...
  REQUIRE(two.RestorePartition(0, INT64_MIN).ok());  // ... assigned to worker two
  Upsert(two, "k", R"({"v":"new"})");
  Upsert(two, "gone", R"({"v":"here now"})");
  Commit(two, **db);
  two.DropPartition(0);
  REQUIRE(one.RestorePartition(0, INT64_MIN).ok());  // and back
  CHECK(Row(one, "k") == R"({"v":"new"})");
  CHECK(Row(one, "gone") == R"({"v":"here now"})");
}

}  // namespace
}  // namespace eddy::engine
