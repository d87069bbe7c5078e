// Every operator of torch.ops.cotnpot, in one place: the schemas and their tags. The kernels are
// registered per dispatch key beside their code:
//   _token_logprob_forward/_backward  CPU (fused row kernels), CompositeExplicitAutograd (ATen composite:
//                                     CUDA and every other device); fake (shape) kernels in Python
//                                     (cotnpot/_fake.py, torch.library.register_fake)
//   _token_logprob                    Autograd (saves lse, recomputes softmax), CompositeExplicitAutograd
//   token_logprob, sequence_logprob   CompositeImplicitAutograd: input checks once, then _token_logprob
//   simpo_loss, dpo_loss, orm_loss,   CompositeImplicitAutograd: ATen composites, autograd and tracing
//   orm_score                         go through the ATen ops they are made of
//   best_of_n, vote                   CompositeExplicitAutograd; Autograd: run below it (not differentiable,
//                                     no grad_fn on their outputs); fakes in Python
//   _fused_linear_logprob_forward/    CompositeExplicitAutograd (blocks of ATen ops); the forward's autograd
//   _backward                         formula and both fakes in Python (cotnpot/fused.py, cotnpot/_fake.py)
//   _fused_linear_logprob_frozen_     the same, for a frozen lm_head: the forward also returns each row's
//   weight_forward/_backward          log-prob's gradient in its hidden state, the backward scales it (no GEMM)
// pt2_compliant_tag: each op passes torch.library.opcheck and traces under torch.compile(fullgraph=True)
// (tests/python/test_ops.py): no data-dependent branch on the traced path; value checks run inside the
// kernels (device-side asserts off the CPU).
#include <torch/library.h>

namespace {
const std::vector<at::Tag> kCompliant = {at::Tag::pt2_compliant_tag};
}

TORCH_LIBRARY(cotnpot, m) {
  // log-probs
  m.def("_token_logprob_forward(Tensor logits, Tensor labels, int ignore_index, bool shift) -> (Tensor, Tensor)",
        kCompliant);
  m.def(
      "_token_logprob_backward(Tensor grad, Tensor logits, Tensor labels, Tensor lse, int ignore_index, "
      "bool shift) -> Tensor",
      kCompliant);
  m.def("_token_logprob(Tensor logits, Tensor labels, int ignore_index, bool shift) -> Tensor", kCompliant);
  m.def("token_logprob(Tensor logits, Tensor labels, int ignore_index=-100, bool shift=False) -> Tensor",
        kCompliant);
  m.def(
      "sequence_logprob(Tensor logits, Tensor labels, int ignore_index=-100, str reduction=\"sum\", "
      "bool shift=False) -> Tensor",
      kCompliant);
  m.def(
      "_fused_linear_logprob_forward(Tensor hidden, Tensor weight, Tensor labels, Tensor? bias, int ignore_index, "
      "int row_block, int vocab_block) -> (Tensor, Tensor)",
      kCompliant);
  m.def(
      "_fused_linear_logprob_backward(Tensor grad, Tensor hidden, Tensor weight, Tensor labels, Tensor lse, "
      "Tensor? bias, int ignore_index, int row_block, int vocab_block, bool[3] output_mask) "
      "-> (Tensor, Tensor, Tensor)",
      kCompliant);
  m.def(
      "_fused_linear_logprob_frozen_weight_forward(Tensor hidden, Tensor weight, Tensor labels, Tensor? bias, "
      "int ignore_index, int row_block, int vocab_block) -> (Tensor, Tensor, Tensor)",
      kCompliant);
  m.def(
      "_fused_linear_logprob_frozen_weight_backward(Tensor grad, Tensor dlogp_dhidden, ScalarType dtype) -> Tensor",
      kCompliant);
  // losses
  m.def(
      "simpo_loss(Tensor chosen_logps, Tensor rejected_logps, float beta=2.0, float? gamma=None, "
      "float gamma_beta_ratio=0.25, float label_smoothing=0.0, str loss_type=\"sigmoid\", float sft_weight=0.0) "
      "-> (Tensor, Tensor, Tensor)",
      kCompliant);
  m.def(
      "dpo_loss(Tensor chosen_logps, Tensor rejected_logps, Tensor ref_chosen_logps, Tensor ref_rejected_logps, "
      "float beta=0.1, float label_smoothing=0.0, str loss_type=\"sigmoid\", Tensor? chosen_lengths=None, "
      "Tensor? rejected_lengths=None, bool ipo_length_normalize=True, Tensor? bco_delta=None, "
      "bool ipo_rewards_on_sums=False) "
      "-> (Tensor, Tensor, Tensor)",
      kCompliant);
  m.def("orm_loss(Tensor scores, Tensor labels, Tensor mask, str reduction=\"mean\") -> Tensor", kCompliant);
  m.def("orm_score(Tensor scores, Tensor mask, str mode=\"last\") -> Tensor", kCompliant);
  // selection
  m.def("best_of_n(Tensor scores, Tensor? valid=None, Tensor? keep=None, str fallback=\"all\") -> Tensor",
        kCompliant);
  m.def(
      "vote(Tensor classes, Tensor? valid=None, Tensor? weights=None, Tensor? keep=None, str fallback=\"all\") "
      "-> (Tensor answer_class, Tensor index, Tensor support)",
      kCompliant);
}
