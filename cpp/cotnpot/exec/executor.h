#pragma once
// A pool of sandboxed Python fork servers that run untrusted programs and unit tests.
//
// W worker processes (`python3 -c <embedded worker.py>`) pre-import a module list, then fork a fresh,
// confined child per job (own session and process group, rlimits on memory, CPU, processes, file size and
// open files, no core dumps, stdin from /dev/null, a private temporary directory, no network when a
// network namespace can be made, and as root a job-private unprivileged uid whose every process is
// killed when the job ends). Jobs are pulled by the workers one at a time (no unbounded queue); every job
// gets exactly one Result, also when its worker dies (the worker is replaced).
//
// Example:
//   cotnpot::exec::Executor ex({/*workers=*/2});
//   std::vector<cotnpot::exec::Job> jobs(1);
//   jobs[0].code = "print(6 * 7)";
//   auto results = ex.run(jobs);           // results[0].status == "ok", results[0].answer == "42"
#include <cstddef>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace cotnpot::exec {

struct ExecutorOptions {
  int workers = 2;
  std::string python = "/usr/bin/python3";
  // Modules each worker imports before its first fork, shared by every job; best effort: one that fails to
  // import is skipped (a job that needs it imports it, and meets its error, itself).
  std::vector<std::string> preload = {"math", "fractions", "itertools", "collections", "re"};
  // Python run once in each worker after the preloads, before any job: code whose lazy imports and caches
  // every job would otherwise build again in its own fresh fork (e.g. a first sympy.solve). A thread it
  // starts never runs again once the worker serves jobs (the job loop holds the GIL), and no job inherits it.
  std::string warmup;
  double timeout_s = 5.0;          // per job, wall clock
  int memory_mb = 512;             // per job, address space
  int64_t output_limit = 64 << 10; // bytes of stdout and of stderr each
  // As root: each job pid 1 of its own pid and IPC namespaces, with its own tmpfs directory. false:
  // the jobs of a worker share its namespaces and tmpfs (weaker; kept to measure what the isolation costs).
  bool job_namespaces = true;
  // Per-job protections switched off, to measure what each costs (benchmarks/bench_executor.py; never in
  // use): any of kIsolationFeatures. Jobs are then weaker than docs/executor.md says.
  std::vector<std::string> isolation_off;
  // How long past a job's timeout its worker may stay silent before it is taken for stuck: replaced, and
  // the job reported sandbox_error/WorkerDied. The worker ends every job at its timeout itself; this only
  // catches a worker that stopped answering.
  double worker_grace_s = 30.0;
};

// What isolation_off may name: "uid" (the job uid and the kill of its processes, as root), "memory_cgroup",
// "seccomp" (the job's filter and no_new_privs), "rlimits", "zeroing" (the worker's buffers after each job).
inline const std::vector<std::string> kIsolationFeatures = {"uid", "memory_cgroup", "seccomp", "rlimits", "zeroing"};

struct Job {
  std::string code;
  std::string kind = "program";   // "program" or "tests"
  // programs: "print" (the last line of stdout, split at \n or \r, that is not blank, trimmed of ASCII
  // whitespace), "solution" (str(solution())), "variable" (str of the variable)
  std::string answer = "print";
  std::string variable = "ans";   // the variable for answer = "variable"
  std::string prelude;            // code run before the program (e.g. a harness helper)
  std::string tests;              // test code for kind = "tests" (asserts)
  double timeout_s = 0.0;         // 0: the executor's
  int memory_mb = 0;              // 0: the executor's
};

struct Result {
  std::string status;             // ok | error | timeout | memory_limit | output_limit | disk_limit | killed | sandbox_error
  std::string answer;
  bool passed = false;            // tests: every assertion held
  std::string error_type, error_message;
  std::string failing_test;       // tests: the failing statement of the test code, as written (all its lines)
  int exit_code = -1;             // -1 when killed by a signal
  int signal = 0;
  std::string stdout_text, stderr_text;
  bool stdout_truncated = false, stderr_truncated = false;
  double wall_s = 0.0;
  double cpu_s = 0.0;             // CPU time of the job's process (with what it waited for), user and system
  int64_t peak_rss_kb = 0;
};

class Executor;

// The pools whose batch callbacks a thread is running, outermost first (run() checks its pool is not among
// them). A caller that hands run() to a thread of its own carries the chain across:
//   const auto chain = exec::callback_chain();            // on the calling thread
//   std::thread t([&] { exec::CallbackChainScope scope(chain); pool.run(jobs); });
using CallbackChain = std::vector<const Executor*>;
CallbackChain callback_chain();

// The calling thread's chain is `chain` until the scope ends.
class CallbackChainScope {
 public:
  explicit CallbackChainScope(CallbackChain chain);
  ~CallbackChainScope();
  CallbackChainScope(const CallbackChainScope&) = delete;
  CallbackChainScope& operator=(const CallbackChainScope&) = delete;

 private:
  CallbackChain previous_;
};

class Executor {
 public:
  // Starts the workers; `stop` (optional; another thread sets it: Ctrl-C) ends the wait for them, and the
  // constructor throws.
  explicit Executor(ExecutorOptions options = {}, const std::atomic<bool>* stop = nullptr);
  // Cancels the batches other threads are running (as cancel() does) and waits until every run() call
  // already in progress has returned (it throws there), then ends the workers. Not from a callback of this
  // pool's batch (it would wait for itself).
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Runs every job; results in job order. `progress` (optional) is called with the number finished.
  // Safe from several threads (batches take turns; one waiting its turn answers *stop and cancel() within
  // 20 ms); not from a callback of this pool's own batch, nor from
  // one of another pool's batch run by such a callback (it throws: the batch would wait for the callback, and
  // the callback for the batch), nor in a forked child of the process that made the pool (it throws: the
  // workers are the parent's; make a pool in the child). An exception from `progress` cancels the batch and
  // is rethrown here; setting *stop (another thread: Ctrl-C) stops it too -- no new job starts, running ones
  // are ended with their workers within ~100 ms and the worker's exit (sandbox_error, Cancelled), the next
  // batch starts fresh workers -- and run() throws. `on_result` (optional) is called with each job's index
  // and result as it finishes, before `progress`, also for the jobs ended by the stop, so a caller can keep
  // what a stopped batch finished (run() then throws and returns none of it); an exception
  // from it cancels the batch as one from `progress` does. The callbacks are called one at a time, from the
  // pool's threads. A callback that waits for a thread of its own which runs this pool waits forever, as
  // one holding a lock that thread needs would: the thread's batch waits for this one.
  std::vector<Result> run(const std::vector<Job>& jobs, const std::function<void(size_t)>& progress = {},
                          const std::atomic<bool>* stop = nullptr,
                          const std::function<void(size_t, const Result&)>& on_result = {});

  // Throws where the calling thread is running a callback of this pool's batch, directly or through a batch
  // of another pool that the callback ran (as run() does there); for callers that hand run() to another
  // thread (the Python binding does, to answer Ctrl-C): they also hand it callback_chain(), see below.
  void check_not_in_own_callback() const;

  // Another thread (closing the pool): the running batch, and every later one, starts no new job; running
  // ones are ended with their workers, and run() throws.
  void cancel() { cancelled_.store(true); }

  const ExecutorOptions& options() const { return options_; }
  bool network_isolated() const;  // the workers run in their own network namespace
  bool uid_isolated() const;      // jobs run as job-private unprivileged uids (needs root)
  // without root: the workers are root of user namespaces of their own (where the kernel allows it), which
  // gives them the network, mount and pid isolation root has; jobs run there with no capability
  bool user_namespace() const;
  // without root or a user namespace: the Landlock ABI version confining each job's files, signals and TCP
  // (0: none, the kernel lacks it, or the workers are isolated by namespaces instead)
  int landlock_abi() const;
  bool filesystem_isolated() const;  // jobs see every mount read-only but their directory (root, or a user namespace)
  bool pid_isolated() const;      // each job is pid 1 of its own pid and IPC namespaces (root, or a user namespace)
  bool memory_isolated() const;   // memory_mb is a total for a job's process tree (a cgroup; root, where allowed)

 private:
  struct Worker;
  static void forget_workers_in_child(void* pool);  // fork_guard.h
  ExecutorOptions options_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::timed_mutex run_mutex_;  // run() from several threads: one batch at a time
  std::atomic<uint64_t> next_job_id_{0};  // every job sent gets a new id, across batches
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> forked_{false};  // this is a forked child's copy: the workers are the parent's
  long owner_pid_ = 0;               // the process that made the pool
  // run() calls in progress, which the destructor waits for (it had freed the pool under a running batch,
  // which then restarted a worker of it: a crash, found by a C++ user)
  std::mutex calls_mutex_;
  std::condition_variable calls_done_;
  size_t calls_ = 0;
  struct CallInProgress;
};

// The embedded worker source (cpp/cotnpot/exec/worker.py).
extern const char* const kWorkerSource;
// The embedded job-loop library the worker loads (cpp/cotnpot/exec/job_loop.c, built as a shared object).
extern const unsigned char kJobLoopLibrary[];
extern const std::size_t kJobLoopLibrarySize;

}  // namespace cotnpot::exec
