// Bindings of cotnpot/logprob/sequence_logprob.h and the row-kernel selection.
#include <torch/extension.h>

#include "bindings.h"
#include "cotnpot/logprob/detail/row_kernels.h"
#include "cotnpot/logprob/sequence_logprob.h"

namespace py = pybind11;

namespace cotnpot::bindings {

void bind_logprob(py::module_& m) {
  m.def("sequence_logprob", &logprob::sequence_logprob, py::arg("logits"), py::arg("labels"),
        py::arg("ignore_index") = -100, py::arg("reduction") = "sum", py::arg("shift") = false,
        py::call_guard<py::gil_scoped_release>());
  m.def("token_logprob", &logprob::token_logprob, py::arg("logits"), py::arg("labels"),
        py::arg("ignore_index") = -100, py::arg("shift") = false, py::call_guard<py::gil_scoped_release>());
  m.def("cpu_isa", [] { return std::string(logprob::detail::row_kernels().isa); });
}

}  // namespace cotnpot::bindings
