// Picks the row kernels for the CPU the library runs on, once.
#include <cstdlib>
#include <string_view>

#include "row_kernels.h"

namespace cotnpot::logprob::detail {

const RowKernels* row_kernels_for(std::string_view isa) {
  if (isa == "generic") return &row_kernels_generic();
#if defined(COTNPOT_HAVE_X86_KERNELS)
  __builtin_cpu_init();
  if (isa == "avx2" && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      __builtin_cpu_supports("f16c"))
    return &row_kernels_avx2();
  if (isa == "avx512" && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
    return &row_kernels_avx512();
#endif
  return nullptr;
}

const RowKernels& row_kernels() {
  static const RowKernels& chosen = [&]() -> const RowKernels& {
    if (const char* wanted = std::getenv("COTNPOT_CPU_ISA")) {
      if (const RowKernels* k = row_kernels_for(wanted)) return *k;
    }
    for (const char* isa : {"avx512", "avx2"}) {
      if (const RowKernels* k = row_kernels_for(isa)) return *k;
    }
    return row_kernels_generic();
  }();
  return chosen;
}

}  // namespace cotnpot::logprob::detail
