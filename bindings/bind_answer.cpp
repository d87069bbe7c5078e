// Bindings of cotnpot/answer/*.h. Strings cross as UTF-8 (str) or raw bytes; long calls release the GIL, and
// grade/group_answers over many answers also answer Ctrl-C within their call (interruptible.h).
#include <torch/extension.h>

#include "bindings.h"
#include "cotnpot/answer/equiv.h"
#include "cotnpot/answer/grade.h"
#include "cotnpot/answer/extract.h"
#include "cotnpot/answer/limits.h"
#include "cotnpot/answer/normalize.h"
#include "interruptible.h"

namespace py = pybind11;

namespace cotnpot::bindings {

namespace {
// Answers cut from invalid UTF-8 come back with U+FFFD in place of the bad bytes, never an exception.
py::str to_python(const std::string& s) {
  return py::reinterpret_steal<py::str>(PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "replace"));
}

// From this many answers on, grade and group_answers run on a thread of their own that Ctrl-C stops; fewer
// are at most that many answers' bounded work (kMaxSteps each), and voting calls group_answers once per
// problem, where starting the thread (and its OpenMP team: ~0.2 ms a call on 2 cores, against ~0.27 ms to
// grade 64 simple pairs) would cost about as much as the grading.
constexpr size_t kInterruptibleFrom = 64;

answer::EquivOptions options(double rel_tol, bool percent, bool set_relation) {
  answer::EquivOptions o;
  o.rel_tol = rel_tol;
  o.percent = percent;
  o.set_relation = set_relation;
  return o;
}
}  // namespace

void bind_answer(py::module_& m) {
  m.def(
      "extract_answer",
      [](const std::string& text, const std::string& mode, bool last_number_fallback) {
        answer::ExtractOptions o;
        o.mode = mode;
        o.last_number_fallback = last_number_fallback;
        const answer::Extraction e = answer::extract_answer(text, o);
        return py::make_tuple(to_python(e.answer), e.rule);
      },
      py::arg("text"), py::arg("mode") = "cot", py::arg("last_number_fallback") = true);
  m.def("normalize_answer", [](const std::string& a) { return to_python(answer::normalize(a)); }, py::arg("answer"));
  m.def(
      "is_equiv",
      [](const std::string& gold, const std::string& pred, double rel_tol, bool percent, bool set_relation) {
        return answer::is_equiv(gold, pred, options(rel_tol, percent, set_relation));
      },
      py::arg("gold"), py::arg("pred"), py::arg("rel_tol") = 1e-6, py::arg("percent") = false, py::arg("set_relation") = false,
      py::call_guard<ReleaseGil>());
  m.def(
      "grading_steps",
      [](const std::string& gold, const std::string& pred) { return answer::grading_steps(gold, pred); },
      py::arg("gold"), py::arg("pred"), py::call_guard<ReleaseGil>());
  m.def("max_grading_steps", [] { return answer::kMaxSteps; });
  m.def("has_quad_precision", &answer::has_quad_precision);
  m.def(
      "verify",
      [](const std::string& gold, const std::string& pred, double rel_tol, bool percent, bool set_relation) {
        return answer::verify(gold, pred, options(rel_tol, percent, set_relation));
      },
      py::arg("gold_text"), py::arg("pred_text"), py::arg("rel_tol") = 1e-6, py::arg("percent") = false, py::arg("set_relation") = false,
      py::call_guard<ReleaseGil>());
  m.def(
      "grade",
      [](const std::vector<std::string>& golds, const std::vector<std::string>& preds, double rel_tol, bool percent, bool set_relation) {
        const answer::EquivOptions o = options(rel_tol, percent, set_relation);
        if (golds.size() < kInterruptibleFrom) {
          ReleaseGil release;
          return answer::grade(golds, preds, o);
        }
        return run_interruptibly<at::Tensor>(
            [&](const std::atomic<bool>& stop) { return answer::grade(golds, preds, o, &stop); });
      },
      py::arg("golds"), py::arg("preds"), py::arg("rel_tol") = 1e-6, py::arg("percent") = false, py::arg("set_relation") = false);
  m.def(
      "group_answers",
      [](const std::vector<std::string>& answers, double rel_tol, bool percent, bool set_relation) {
        const answer::EquivOptions o = options(rel_tol, percent, set_relation);
        if (answers.size() < kInterruptibleFrom) {
          ReleaseGil release;
          return answer::group_answers(answers, o);
        }
        return run_interruptibly<at::Tensor>(
            [&](const std::atomic<bool>& stop) { return answer::group_answers(answers, o, &stop); });
      },
      py::arg("answers"), py::arg("rel_tol") = 1e-6, py::arg("percent") = false, py::arg("set_relation") = false);
}

}  // namespace cotnpot::bindings
