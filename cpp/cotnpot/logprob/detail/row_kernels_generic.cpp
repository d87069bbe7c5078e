// The row kernels compiled for generic (see row_kernels_impl.h); CMake sets this file's -m flags.
#define COTNPOT_ROW_ISA generic
#define COTNPOT_ROW_ISA_NAME "generic"
#define COTNPOT_SIMD_BYTES 16
#include "row_kernels_impl.h"

namespace cotnpot::logprob::detail {
const RowKernels& row_kernels_generic() { return generic::kRowKernels; }
}  // namespace cotnpot::logprob::detail
