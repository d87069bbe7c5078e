// Bindings of the log-prob kernels' CPU feature selection and the fused op's default block size. The
// log-prob, loss and selection ops themselves are torch.ops.cotnpot.* (registered by libcotnpot), not
// pybind11 functions.
#include <torch/extension.h>

#include "bindings.h"
#include "cotnpot/logprob/detail/row_kernels.h"
#include "cotnpot/logprob/fused_linear_logprob.h"

namespace py = pybind11;

namespace cotnpot::bindings {

void bind_logprob(py::module_& m) {
  m.def("cpu_isa", [] { return std::string(logprob::detail::row_kernels().isa); });
  m.attr("FUSED_VOCAB_BLOCK") = logprob::kDefaultVocabBlock;  // the CPU's
  m.def("has_cuda_fused_form", &logprob::has_cuda_fused_form);
}

}  // namespace cotnpot::bindings
