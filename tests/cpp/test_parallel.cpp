#include <doctest/doctest.h>

#include <ATen/Parallel.h>

#include <thread>

#include "cotnpot/detail/parallel.h"

// Regression: libcotnpot was once built without -fopenmp, and every at::parallel_for in it ran on one
// thread while the tests still passed.
TEST_CASE("at::parallel_for inside the library uses every thread torch is given") {
  if (std::thread::hardware_concurrency() < 2) return;
  const int before = at::get_num_threads();
  at::set_num_threads(2);
  CHECK(cotnpot::detail::threads_used_by_parallel_for() == 2);
  at::set_num_threads(1);
  CHECK(cotnpot::detail::threads_used_by_parallel_for() == 1);
  at::set_num_threads(before);
}
