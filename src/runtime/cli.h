// The eddy command line: `eddy run`, `eddy validate`, --help, --version.
//
// Exit codes (documented in docs/cli.md):
//   0  success / clean shutdown
//   1  runtime failure (state or Kafka error while running)
//   2  usage error (unknown command or flag)
//   3  invalid configuration
#pragma once

namespace eddy::runtime {

int Main(int argc, char** argv);

}  // namespace eddy::runtime
