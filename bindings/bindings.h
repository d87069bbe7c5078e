#pragma once
// One bind_<area> per core area, each defined in bind_<area>.cpp.
#include <pybind11/pybind11.h>

namespace cotnpot::bindings {
void bind_answer(pybind11::module_& m);
void bind_exec(pybind11::module_& m);
void bind_logprob(pybind11::module_& m);
void bind_metrics(pybind11::module_& m);
}  // namespace cotnpot::bindings
