// Bindings of cotnpot/metrics/subset_accuracy.h. Both release the GIL: they can take seconds at the
// paper's scale (thousands of problems x 64 samples), and Python callers chunk problems between calls.
// vote_accuracy also answers Ctrl-C within its call (interruptible.h): one problem may ask for 10^12 subsets.
#include <torch/extension.h>

#include "bindings.h"
#include "cotnpot/metrics/subset_accuracy.h"
#include "interruptible.h"

namespace py = pybind11;

namespace cotnpot::bindings {

namespace {
at::Tensor or_undefined(const c10::optional<at::Tensor>& t) { return t.value_or(at::Tensor()); }
}  // namespace

void bind_metrics(py::module_& m) {
  m.def(
      "majority_accuracy_exact",
      [](const at::Tensor& classes, const at::Tensor& correct, const c10::optional<at::Tensor>& valid) {
        return metrics::majority_accuracy_exact(classes, correct, or_undefined(valid));
      },
      py::arg("classes"), py::arg("correct"), py::arg("valid") = py::none(), py::call_guard<ReleaseGil>());
  m.def(
      "vote_accuracy",
      [](const at::Tensor& classes, const at::Tensor& correct, const c10::optional<at::Tensor>& valid,
         const c10::optional<at::Tensor>& weights, const c10::optional<at::Tensor>& keep, const std::string& fallback,
         const std::string& ties, int64_t k, int64_t samples, int64_t max_subsets, uint64_t seed) {
        using Out = std::tuple<at::Tensor, at::Tensor, at::Tensor>;
        return run_interruptibly<Out>([&](const std::atomic<bool>& stop) {
          const metrics::SubsetAccuracy r = metrics::vote_accuracy(classes, correct, or_undefined(valid),
                                                                   or_undefined(weights), or_undefined(keep), fallback,
                                                                   ties, k, samples, max_subsets, seed, &stop);
          return Out(r.mean, r.variance, r.exact);
        });
      },
      py::arg("classes"), py::arg("correct"), py::arg("valid") = py::none(), py::arg("weights") = py::none(),
      py::arg("keep") = py::none(), py::arg("fallback") = "all", py::arg("ties") = "fair", py::arg("k"),
      py::arg("samples") = 1000, py::arg("max_subsets") = 4096, py::arg("seed") = 0);
}

}  // namespace cotnpot::bindings
