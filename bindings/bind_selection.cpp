// Bindings of cotnpot/selection/select.h.
#include <torch/extension.h>

#include <optional>
#include <string>
#include <tuple>

#include "bindings.h"
#include "cotnpot/selection/select.h"

namespace py = pybind11;

namespace cotnpot::bindings {
namespace {
at::Tensor or_undefined(const std::optional<at::Tensor>& t) { return t ? *t : at::Tensor(); }
}  // namespace

void bind_selection(py::module_& m) {
  m.def(
      "best_of_n",
      [](const at::Tensor& scores, const std::optional<at::Tensor>& valid, const std::optional<at::Tensor>& keep,
         const std::string& fallback) {
        return selection::best_of_n(scores, or_undefined(valid), or_undefined(keep), fallback);
      },
      py::arg("scores"), py::arg("valid") = py::none(), py::arg("keep") = py::none(), py::arg("fallback") = "all",
      py::call_guard<py::gil_scoped_release>());
  m.def(
      "vote",
      [](const at::Tensor& classes, const std::optional<at::Tensor>& valid, const std::optional<at::Tensor>& weights,
         const std::optional<at::Tensor>& keep, const std::string& fallback) {
        auto v = selection::vote(classes, or_undefined(valid), or_undefined(weights), or_undefined(keep), fallback);
        return std::make_tuple(v.answer_class, v.index, v.support);
      },
      py::arg("classes"), py::arg("valid") = py::none(), py::arg("weights") = py::none(), py::arg("keep") = py::none(),
      py::arg("fallback") = "all", py::call_guard<py::gil_scoped_release>());
}

}  // namespace cotnpot::bindings
