// The row kernels compiled for avx2 (see row_kernels_impl.h); CMake sets this file's -m flags.
#define COTNPOT_ROW_ISA avx2
#define COTNPOT_ROW_ISA_NAME "avx2"
#define COTNPOT_SIMD_BYTES 32
#include "row_kernels_impl.h"

namespace cotnpot::logprob::detail {
const RowKernels& row_kernels_avx2() { return avx2::kRowKernels; }
}  // namespace cotnpot::logprob::detail
