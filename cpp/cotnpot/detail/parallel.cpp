#include "cotnpot/detail/parallel.h"

#include <ATen/Parallel.h>

#include <atomic>

namespace cotnpot::detail {

int threads_used_by_parallel_for() {
  const int threads = at::get_num_threads();
  std::atomic<uint64_t> seen{0};
  at::parallel_for(0, 64 * threads, 1, [&](int64_t, int64_t) {
    seen.fetch_or(uint64_t{1} << (at::get_thread_num() % 64));
  });
  return __builtin_popcountll(seen.load());
}

}  // namespace cotnpot::detail
