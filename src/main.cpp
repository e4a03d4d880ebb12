#include <cstdio>
int main() { std::puts("eddy " EDDY_VERSION); return 0; }
