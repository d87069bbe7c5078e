#pragma once
// Running a long C++ call so that Ctrl-C stops it: the work runs on a thread of its own, the GIL released,
// while the caller's thread checks for signals every 50 ms (Python handles them only in the main thread)
// and on one sets `stop`, which the work polls. Used by Executor.run, the subset-vote metrics, and the
// grader's grade and group_answers over many answers.
#include <torch/extension.h>

#include <cxxabi.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

namespace cotnpot::bindings {

inline bool interpreter_finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing() != 0;
#else
  return _Py_IsFinalizing() != 0;
#endif
}

// Releases the GIL for a long call. Taking it back while the interpreter shuts down would end the thread
// from inside this destructor (an abort): then the thread waits for the process to end instead, as Python
// 3.14 does with daemon threads.
struct ReleaseGil {
  PyThreadState* state = PyEval_SaveThread();
  ReleaseGil() = default;
  ReleaseGil(const ReleaseGil&) = delete;
  ReleaseGil& operator=(const ReleaseGil&) = delete;
  ~ReleaseGil() {
    if (interpreter_finalizing())
      for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
    PyEval_RestoreThread(state);
  }
};

// work(stop) on its own thread; called with the GIL held. A signal whose Python handler raises (Ctrl-C's
// KeyboardInterrupt) sets stop, and once the work has returned or thrown, that exception is raised here;
// otherwise the work's exception, or its result.
template <class R>
R run_interruptibly(const std::function<R(const std::atomic<bool>& stop)>& work) {
  std::atomic<bool> stop{false};
  std::optional<pybind11::error_already_set> interrupted;
  std::optional<R> result;
  std::exception_ptr failure;
  {
    ReleaseGil release;
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    std::thread worker([&] {
      try {
        result.emplace(work(stop));
      } catch (...) {
        failure = std::current_exception();
      }
      {
        std::lock_guard<std::mutex> lock(m);
        done = true;
      }
      cv.notify_all();
    });
    try {
      std::unique_lock<std::mutex> lock(m);
      while (!cv.wait_for(lock, std::chrono::milliseconds(50), [&] { return done; })) {
        lock.unlock();
        {
          pybind11::gil_scoped_acquire acquire;
          if (!interrupted && PyErr_CheckSignals() != 0) {
            interrupted.emplace();
            stop.store(true);
          }
        }
        lock.lock();
      }
    } catch (abi::__forced_unwind&) {
      // The interpreter is shutting down and ends this (daemon) thread as it waits for the GIL: stop the
      // work and wait for it (a joinable std::thread must not be destroyed), then let the unwind go on
      // (ReleaseGil then waits for the process to end).
      stop.store(true);
      worker.join();
      throw;
    }
    worker.join();
  }
  if (interrupted) throw *interrupted;
  if (failure) std::rethrow_exception(failure);
  return std::move(*result);
}

}  // namespace cotnpot::bindings
