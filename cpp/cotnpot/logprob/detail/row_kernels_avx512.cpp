// The row kernels compiled for avx512 (see row_kernels_impl.h); CMake sets this file's -m flags.
#define COTNPOT_ROW_ISA avx512
#define COTNPOT_ROW_ISA_NAME "avx512"
#define COTNPOT_SIMD_BYTES 64
#include "row_kernels_impl.h"

namespace cotnpot::logprob::detail {
const RowKernels& row_kernels_avx512() { return avx512::kRowKernels; }
}  // namespace cotnpot::logprob::detail
