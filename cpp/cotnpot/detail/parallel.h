#pragma once
// How many threads at::parallel_for really uses inside libcotnpot: a check that the library was built
// with the threading flags of the ATen it runs on (OpenMP's pragmas vanish silently without -fopenmp).
//
// Example:
//   at::set_num_threads(2);
//   assert(cotnpot::detail::threads_used_by_parallel_for() == 2);
namespace cotnpot::detail {
int threads_used_by_parallel_for();
}  // namespace cotnpot::detail
