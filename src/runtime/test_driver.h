// The offline test driver behind `eddy test FILE...`: runs a config's topologies over input
// fixtures — no Kafka, a throwaway RocksDB — and checks the views and sink outputs that a
// YAML test file expects. docs/testing.md describes the test file format.
//
// It runs the same engine as `eddy run` (Topology, Pipeline, views) with the fixture
// implementations of Source and Sink, so what passes here is what the daemon computes.
//
// Thread-safety: one call at a time; it runs the pipeline on the calling thread.
#pragma once

#include <string>
#include <vector>

namespace eddy::runtime {

struct TestFileResult {
  std::string file;
  bool passed = false;
  // Problems with the test file or config itself (file:line:column: error: ...).
  std::vector<std::string> errors;
  // Expectations that did not hold, each with an expected/actual diff.
  std::vector<std::string> failures;
  int checks = 0;  // expectations evaluated
};

TestFileResult RunTestFile(const std::string& path);

}  // namespace eddy::runtime
