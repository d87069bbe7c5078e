#pragma once
// Checks on tensor *values* (label ranges, positive lengths), which read the data: on real CPU tensors a
// TORCH_CHECK whose message shows the offending value; on other devices an asynchronous device-side
// assert (no host sync), and while tracing (FakeTensor, torch.compile, meta) the same assert recorded in
// the graph instead of a data-dependent branch the tracer cannot follow.
#include <ATen/core/Tensor.h>

#include <functional>
#include <string>

namespace cotnpot::detail {

// `t` is a tensor, not an undefined one (a C++ caller's at::Tensor()): op's message names it. An undefined
// tensor's dim() is 1, so without this a shape check said "got 1-D with shape [0]".
void check_defined(const char* op, const char* name, const at::Tensor& t);

// True for tensors that carry no real data here: meta, fake or functional (traced) tensors.
bool is_traced(const at::Tensor& t);

// `ok` is a bool tensor that must be all true. `message` is what an assert says (no value: it cannot
// be read without a sync); `message_with_value` is called on CPU only, to name the value seen.
void check_all(const at::Tensor& ok, const std::string& message,
               const std::function<std::string()>& message_with_value);

}  // namespace cotnpot::detail
