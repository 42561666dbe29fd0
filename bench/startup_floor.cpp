// The least time and memory any program linked to LibTorch's CPU library takes to start: it loads
// libtorch_cpu and c10 (their static initializers register every ATen operator with the dispatcher)
// and exits. `ddim-generate --version` minus this is what ddim and the other libraries it loads at
// start (libtorch_cuda, where the tools link it) add.
//
//   /usr/bin/time -f "%e s %M KB" build/bin/startup_floor
//
// The address of a libtorch_cpu function is taken but never called, so that the linker keeps the
// library even under --as-needed, and no thread pool or allocator is started.
#include <ATen/Parallel.h>

#include <cstdio>

int main() {
  int (*volatile keep)() = &at::get_num_threads;
  std::printf("LibTorch CPU library loaded (%s)\n", keep != nullptr ? "linked" : "missing");
  return 0;
}
