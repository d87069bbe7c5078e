// Bindings of cotnpot/losses/*.h.
#include <torch/extension.h>

#include "bindings.h"
#include "cotnpot/losses/dpo_loss.h"
#include "cotnpot/losses/orm_loss.h"
#include "cotnpot/losses/simpo_loss.h"

namespace py = pybind11;

namespace cotnpot::bindings {

void bind_losses(py::module_& m) {
  m.def("simpo_loss", &losses::simpo_loss, py::arg("chosen_logps"), py::arg("rejected_logps"),
        py::arg("beta") = 2.0, py::arg("gamma") = py::none(), py::arg("gamma_beta_ratio") = 0.25,
        py::arg("label_smoothing") = 0.0, py::arg("loss_type") = "sigmoid", py::arg("sft_weight") = 0.0,
        py::call_guard<py::gil_scoped_release>());
  m.def("dpo_loss", &losses::dpo_loss, py::arg("chosen_logps"), py::arg("rejected_logps"),
        py::arg("ref_chosen_logps"), py::arg("ref_rejected_logps"), py::arg("beta") = 0.1,
        py::arg("label_smoothing") = 0.0, py::arg("loss_type") = "sigmoid", py::arg("chosen_lengths") = py::none(),
        py::arg("rejected_lengths") = py::none(), py::arg("ipo_length_normalize") = true,
        py::arg("bco_delta") = py::none(), py::call_guard<py::gil_scoped_release>());
  m.def("orm_loss", &losses::orm_loss, py::arg("scores"), py::arg("labels"), py::arg("mask"),
        py::arg("reduction") = "mean", py::call_guard<py::gil_scoped_release>());
  m.def("orm_score", &losses::orm_score, py::arg("scores"), py::arg("mask"), py::arg("mode") = "last",
        py::call_guard<py::gil_scoped_release>());
}

}  // namespace cotnpot::bindings
