// eddy's entry point; the command line lives in runtime/cli.cpp.
#include "runtime/cli.h"

int main(int argc, char** argv) {
  return eddy::runtime::Main(argc, argv);
}
