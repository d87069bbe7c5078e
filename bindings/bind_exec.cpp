// Bindings of cotnpot/exec/executor.h. run() releases the GIL; the callback after each job retakes it (Ctrl-C,
// progress), and an exception it raises cancels the batch and comes back to the caller.
#include <torch/extension.h>

#include <atomic>
#include <functional>

#include "bindings.h"
#include "cotnpot/exec/executor.h"
#include "interruptible.h"

namespace py = pybind11;

namespace cotnpot::bindings {

namespace {

py::str text(const std::string& s) {
  return py::reinterpret_steal<py::str>(PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "replace"));
}
}  // namespace

void bind_exec(py::module_& m) {
  py::class_<exec::Job>(m, "Job")
      .def(py::init([](const std::string& code, const std::string& kind, const std::string& answer,
                       const std::string& variable, const std::string& prelude, const std::string& tests,
                       double timeout, int memory_mb) {
             exec::Job j;
             j.code = code, j.kind = kind, j.answer = answer, j.variable = variable, j.prelude = prelude;
             j.tests = tests, j.timeout_s = timeout, j.memory_mb = memory_mb;
             return j;
           }),
           py::arg("code"), py::arg("kind") = "program", py::arg("answer") = "print", py::arg("variable") = "ans",
           py::arg("prelude") = "", py::arg("tests") = "", py::arg("timeout") = 0.0, py::arg("memory_mb") = 0)
      .def_readwrite("kind", &exec::Job::kind)
      .def_readwrite("answer", &exec::Job::answer)
      .def_readwrite("timeout", &exec::Job::timeout_s)
      .def_readwrite("memory_mb", &exec::Job::memory_mb);

  py::class_<exec::Result>(m, "ExecResult")
      .def_readonly("status", &exec::Result::status)
      .def_property_readonly("answer", [](const exec::Result& r) { return text(r.answer); })
      .def_readonly("passed", &exec::Result::passed)
      // the job's own words (an exception type name it may have forged as invalid UTF-8): decoded leniently
      .def_property_readonly("error_type", [](const exec::Result& r) { return text(r.error_type); })
      .def_property_readonly("error_message", [](const exec::Result& r) { return text(r.error_message); })
      .def_property_readonly("failing_test", [](const exec::Result& r) { return text(r.failing_test); })
      .def_readonly("exit_code", &exec::Result::exit_code)
      .def_readonly("signal", &exec::Result::signal)
      .def_property_readonly("stdout", [](const exec::Result& r) { return text(r.stdout_text); })
      .def_property_readonly("stderr", [](const exec::Result& r) { return text(r.stderr_text); })
      .def_readonly("stdout_truncated", &exec::Result::stdout_truncated)
      .def_readonly("stderr_truncated", &exec::Result::stderr_truncated)
      .def_readonly("wall_s", &exec::Result::wall_s)
      .def_readonly("cpu_s", &exec::Result::cpu_s)
      .def_readonly("peak_rss_kb", &exec::Result::peak_rss_kb)
      .def("__repr__", [](const exec::Result& r) {
        // Every field a job wrote through its repr of the lenient text: raw bytes (error_type b"\xff\xfe") made
        // the repr itself raise UnicodeDecodeError (found by a breaker).
        return "ExecResult(status=" + std::string(py::repr(text(r.status))) + ", answer=" +
               std::string(py::repr(text(r.answer))) +
               (r.error_type.empty() ? "" : ", error_type=" + std::string(py::repr(text(r.error_type)))) + ")";
      });

  m.attr("ISOLATION_FEATURES") = py::tuple(py::cast(exec::kIsolationFeatures));
  py::class_<exec::Executor>(m, "Executor")
      .def("cancel", &exec::Executor::cancel, "Stops the running batch: no new job starts, the running ones end with their workers (close()).")
      .def(py::init([](int workers, const std::string& python, std::vector<std::string> preload, double timeout,
                       int memory_mb, int64_t output_limit, const std::string& warmup, bool job_namespaces,
                       std::vector<std::string> isolation_off, double worker_grace) {
             exec::ExecutorOptions o;
             o.workers = workers, o.python = python, o.preload = std::move(preload), o.timeout_s = timeout;
             o.memory_mb = memory_mb, o.output_limit = output_limit, o.warmup = warmup;
             o.job_namespaces = job_namespaces, o.isolation_off = std::move(isolation_off);
             o.worker_grace_s = worker_grace;
             // Ctrl-C answered while the workers start (their preloads and warmup may take a while)
             return run_interruptibly<std::unique_ptr<exec::Executor>>(
                 [&](const std::atomic<bool>& stop) { return std::make_unique<exec::Executor>(o, &stop); });
           }),
           py::arg("workers"), py::arg("python"), py::arg("preload"), py::arg("timeout"), py::arg("memory_mb"),
           py::arg("output_limit"), py::arg("warmup") = "", py::arg("job_namespaces") = true,
           py::arg("isolation_off") = std::vector<std::string>(), py::arg("worker_grace") = 30.0)
      .def(
          "run",
          [](exec::Executor& ex, const std::vector<exec::Job>& jobs, py::object progress, py::object on_result) {
            // The batch runs on its own thread and Ctrl-C stops it (interruptible.h). The callbacks run
            // after each job with the GIL; if one raises, the batch is cancelled and the exception comes
            // back here.
            std::function<void(size_t)> callback;
            if (!progress.is_none())
              callback = [&progress](size_t done) {
                py::gil_scoped_acquire acquire;
                progress(done);
              };
            std::function<void(size_t, const exec::Result&)> each;
            if (!on_result.is_none())
              each = [&on_result](size_t i, const exec::Result& r) {
                py::gil_scoped_acquire acquire;
                on_result(i, r);
              };
            // Checked here, on the caller's thread: the batch below runs on a thread of its own, which carries
            // the caller's chain of running callbacks (re-entry through another pool's batch is seen too).
            ex.check_not_in_own_callback();
            const exec::CallbackChain chain = exec::callback_chain();
            return run_interruptibly<std::vector<exec::Result>>([&](const std::atomic<bool>& stop) {
              const exec::CallbackChainScope scope(chain);
              return ex.run(jobs, callback, &stop, each);
            });
          },
          py::arg("jobs"), py::arg("progress") = py::none(), py::arg("on_result") = py::none())
      .def_property_readonly("network_isolated", &exec::Executor::network_isolated)
      .def_property_readonly("uid_isolated", &exec::Executor::uid_isolated)
      .def_property_readonly("user_namespace", &exec::Executor::user_namespace)
      .def_property_readonly("landlock_abi", &exec::Executor::landlock_abi)
      .def_property_readonly("filesystem_isolated", &exec::Executor::filesystem_isolated)
      .def_property_readonly("pid_isolated", &exec::Executor::pid_isolated)
      .def_property_readonly("memory_isolated", &exec::Executor::memory_isolated);
}

}  // namespace cotnpot::bindings
