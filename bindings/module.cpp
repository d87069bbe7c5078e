// cotnpot._C: the Python face of the core library. Importing it loads libcotnpot, whose static
// initializers register the torch.ops.cotnpot.* operators.
#include <torch/extension.h>
#include <torch/version.h>

#include <string>

#include "bindings.h"
#include "cotnpot/version.h"

PYBIND11_MODULE(_C, m) {
  m.doc() = "cotnpot's C++ core (see the cotnpot package for the documented API)";
  m.attr("__version__") = COTNPOT_VERSION;
  // The LibTorch headers the module was compiled against.
  m.attr("torch_version") = std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
                            std::to_string(TORCH_VERSION_PATCH);
  cotnpot::bindings::bind_answer(m);
  cotnpot::bindings::bind_exec(m);
  cotnpot::bindings::bind_logprob(m);
  cotnpot::bindings::bind_metrics(m);
}
