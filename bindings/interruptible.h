#pragma once
// Running a long C++ call so that Ctrl-C stops it: the work runs on a thread of its own, the GIL released,
// while the caller's thread checks for signals every 50 ms (Python handles them only in the main thread)
// and on one sets `stop`, which the work polls. Used by Executor.run, the subset-vote metrics, and the
// grader's grade and group_answers over many answers. Ctrl-C reaches such a call only on the main thread:
// Python runs signal handlers there alone, so a call on another thread finishes its work first.
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

[[noreturn]] inline void wait_for_the_process_to_end() {
  for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}

// Releases the GIL for a call (every binding that does: also as py::call_guard<ReleaseGil>, in place of
// pybind11's gil_scoped_release). A thread taking the GIL back while the interpreter shuts down (a daemon
// thread) is ended by CPython with pthread_exit, a forced unwind; from this destructor, which may not throw,
// that was std::terminate, and the process ended in SIGABRT at its exit. Unwinding on instead would run
// destructors that drop Python references without the GIL. So the thread waits for the process to end, as
// Python 3.14 does with daemon threads: the unwind is caught and never finished. (A check for a shutdown
// already begun, before taking the GIL, had left a race -- a third of such exits still aborted, an audit --
// and made the thread that runs the shutdown wait too: a __del__ grading at exit hung, a reviewer.)
struct ReleaseGil {
  PyThreadState* state = PyEval_SaveThread();
  ReleaseGil() = default;
  ReleaseGil(const ReleaseGil&) = delete;
  ReleaseGil& operator=(const ReleaseGil&) = delete;
  ~ReleaseGil() {
    try {
      PyEval_RestoreThread(state);
    } catch (abi::__forced_unwind&) {
      wait_for_the_process_to_end();
    }
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
      } catch (abi::__forced_unwind&) {  // this thread ended by pthread_exit: swallowed, glibc aborts
        throw;
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
