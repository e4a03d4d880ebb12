// eddy's entry point; the command line lives in runtime/cli.cpp.
#include "runtime/cli.h"

#if defined(EDDY_JEMALLOC)
// jemalloc's options for this binary, read when it initializes (the environment variable
// MALLOC_CONF, applied after these, can override them). One arena per CPU instead of four
// per CPU, and dirty pages handed back to the kernel after 1 s by a background thread
// instead of 10 s by whichever thread frees next: peak RSS of benchmark (b) 635 -> ~595 MiB,
// throughput unchanged (docs/architecture.md#throughput-design).
extern "C" {
const char* malloc_conf =
    "percpu_arena:percpu,background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0";
}
#endif

int main(int argc, char** argv) {
  return eddy::runtime::Main(argc, argv);
}
