#include "cotnpot/exec/executor.h"
#include "cotnpot/exec/fork_guard.h"
#include "cotnpot/exec/protocol.h"
#include "cotnpot/exec/session.h"

#include <cxxabi.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <filesystem>
#include <cerrno>
#include <chrono>
#include <optional>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>


namespace cotnpot::exec {
using protocol::decode;
using protocol::encode;
using protocol::Fields;
using protocol::get_u32;
using protocol::interpret_reply;
namespace {

// A verdict of this side's own (a job cannot produce status sandbox_error): `type` says which.
Result sandbox_error(const char* type, std::string message) {
  Result r;
  r.status = "sandbox_error";
  r.error_type = type;
  r.error_message = std::move(message);
  return r;
}

// `python3 -c` of this, with worker.py as its first argument: the source is compiled one top-level block
// (two blank lines apart) at a time. Compiled whole, its syntax tree grew the worker's heap by ~3.6 MB, of
// which ~2.7 MB stayed resident, free but too fragmented to hand back; every fork copied the page-table
// entries of those pages and every job's exit tore them down. Line numbers stay worker.py's. The blocks are
// taken off the list as they run (the last one runs the worker's loop and never returns). worker.py must
// therefore hold no two blank lines in a row inside a statement (tested: test_worker_source_splits_...).
constexpr const char* kWorkerBootstrap =
    "import sys\n"
    "_cotnpot_line, _cotnpot_blocks = 0, sys.argv.pop(1).split('\\n\\n\\n')[::-1]\n"
    "while _cotnpot_blocks:\n"
    "    _cotnpot_block = _cotnpot_blocks.pop()\n"
    "    _cotnpot_code = compile('\\n' * _cotnpot_line + _cotnpot_block, '<cotnpot-worker>', 'exec')\n"
    "    _cotnpot_line += _cotnpot_block.count('\\n') + 3\n"
    "    del _cotnpot_block\n"
    "    exec(_cotnpot_code)\n";

// The pools whose batch callbacks this thread is running, outermost first. A batch's callback threads start
// from the chain of the thread that called run() (and the Python binding hands its caller's chain to the
// thread it runs run() on), so re-entry through other pools is seen too: A's callback runs B, whose callback
// runs A, which would wait for A's batch, which waits for its callback.
thread_local CallbackChain serving_chain;

bool in_chain(const CallbackChain& chain, const Executor* pool) {
  return std::find(chain.begin(), chain.end(), pool) != chain.end();
}

// This thread runs a callback of `pool`'s batch, whose run() was called under `outer`.
struct CallingBack {
  CallbackChain previous;
  CallingBack(const CallbackChain& outer, const Executor* pool) {
    CallbackChain chain = outer;   // what may throw (bad_alloc) runs before the thread's chain is touched
    chain.push_back(pool);
    previous = std::exchange(serving_chain, std::move(chain));
  }
  ~CallingBack() { serving_chain = std::move(previous); }
  CallingBack(const CallingBack&) = delete;
  CallingBack& operator=(const CallingBack&) = delete;
};

// A job that never reached a worker (it was dead already): run again on a replacement, not reported.
constexpr const char* kNotSent = "NotSent";
constexpr int64_t kMaxOutputLimit = int64_t(64) << 20;
constexpr double kMaxTimeoutS = 1e6;  // finite: deadlines are computed in integer milliseconds
constexpr int kMaxWorkers = 1024;
constexpr int kReadyTimeoutS = 120;   // a worker's interpreter, preloads and warmup
// Address space per job: below 16 MiB no interpreter starts; above 2^30 MiB the worker refuses the frame.
constexpr int kMinMemoryMb = 16, kMaxMemoryMb = 1 << 30;

// false with errno set on failure.
bool write_all(int fd, const void* data, size_t size) {
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd, static_cast<const char*>(data) + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) errno = EIO;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

bool write_all(int fd, const std::string& data) { return write_all(fd, data.data(), data.size()); }

// A sealed memfd holding the job-loop library (close on exec: only the dup2 to 3 reaches the worker); -1
// with errno set.
int job_loop_library() {
  const int fd = ::memfd_create("cotnpot-job-loop", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return -1;
  if (!write_all(fd, kJobLoopLibrary, kJobLoopLibrarySize)) {
    const int err = errno;
    ::close(fd);
    errno = err;
    return -1;
  }
  ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);   // best effort: only
  // the caller and its worker ever hold it
  // Above the worker's 0, 1 and 3, whatever the caller has closed: the spawn's dup2s then close none of it
  const int high = ::fcntl(fd, F_DUPFD_CLOEXEC, 10);
  const int err = errno;
  ::close(fd);
  errno = err;
  return high;
}

// Reads exactly n bytes before the deadline; false on EOF, error or timeout.
bool read_exact(int fd, size_t n, std::string& out, std::chrono::steady_clock::time_point deadline) {
  out.resize(n);
  size_t done = 0;
  while (done < n) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return false;
    if (r == 0) continue;
    const ssize_t got = ::read(fd, out.data() + done, n - done);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    done += static_cast<size_t>(got);
  }
  return true;
}

// Waits until fd is readable (or at its end), up to deadline, answering *stop within 100 ms: false when
// stopped or out of time.
bool wait_readable(int fd, std::chrono::steady_clock::time_point deadline, const std::atomic<bool>* stop) {
  for (;;) {
    if (stop != nullptr && stop->load()) return false;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 100)));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
  }
}

bool read_frame(int fd, Fields& fields, std::chrono::steady_clock::time_point deadline) {
  std::string head, payload;
  if (!read_exact(fd, 4, head, deadline)) return false;
  const uint32_t n = get_u32(head.data());
  if (n > (256u << 20)) return false;
  return read_exact(fd, n, payload, deadline) && decode(payload, fields);
}

// SIGPIPE blocked on the calling thread (the threads that write to workers): a write to a dead worker
// fails with EPIPE instead of killing the process, without touching the process's own signal handling.
// A SIGPIPE left pending on the thread is discarded when the thread ends.
void block_sigpipe_on_this_thread() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

// Round-trips every double: "%.6f" sent a timeout below 5e-7 s as 0, which the worker refuses (every job a
// sandbox_error; a breaker).
std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

struct Executor::Worker {
  int index = 0;
  pid_t pid = -1;
  int to_worker = -1, from_worker = -1;
  bool network_isolated = false, uid_isolated = false, filesystem_isolated = false, pid_isolated = false,
       memory_isolated = false, user_namespace = false;
  int landlock_abi = 0;
  std::string base_dir;  // the worker's job directories' parent, when it is not a private tmpfs

  ~Worker() { stop(); }

  void stop() {
    close_pipe(to_worker);  // EOF: the worker exits by itself
    if (pid > 0) {
      // Waited for without being reaped (WNOWAIT): while it is a zombie its pid, and so the id of the session
      // it leads, cannot be given to another process, and the sweep below can name nothing else
      // (ECHILD: reaped already, by a caller that ignores SIGCHLD: its pid may be another process's by now)
      bool reaped_elsewhere = false;
      const auto exited = [&](int flags) {
        siginfo_t info{};
        const int rc = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT | flags);
        reaped_elsewhere = rc != 0 && errno == ECHILD;
        return reaped_elsewhere || (rc == 0 && info.si_pid == pid);
      };
      bool gone = false;
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(2);   // then kill
      while (!(gone = exited(WNOHANG)) && std::chrono::steady_clock::now() < give_up) {
        // What the worker is still writing is read and dropped as it comes: a reply larger than the pipe (a
        // job's long output) had held its exit to the kill, and a stopped batch took 2 s (a breaker)
        if (!drain(from_worker, 10)) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      if (!gone) {
        ::kill(pid, SIGKILL);
        while (!exited(0) && errno == EINTR) {
        }
      }
      if (!reaped_elsewhere) {
        // What a job started and the worker could not end (it was killed from outside during the job): found
        // by the session it cannot leave (session.h), before the job directories are removed under it
        kill_session(pid);
        while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
        }
      }
      pid = -1;
    }
    close_pipe(from_worker);
    remove_base_dir();
  }

  // Waits up to wait_ms for fd to hold something, and reads and drops it: whether it read any.
  static bool drain(int fd, int wait_ms) {
    if (fd < 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, wait_ms) <= 0 || (p.revents & POLLIN) == 0) return false;
    char buffer[1 << 16];
    return ::read(fd, buffer, sizeof buffer) > 0;
  }

  // A pipe end of this worker closed, and no longer closed in a fork's child (fork_guard.h), in one pause.
  static void close_pipe(int& fd) {
    if (fd < 0) return;
    const detail::ForkPause pause;
    detail::keep_in_fork_child(fd, pause);
    ::close(fd);
    fd = -1;
  }

  // In a forked child of the caller: the worker is the parent's. Only this process's copies of its pipes are
  // closed (so that the parent's close() gets its end of file, and this child cannot talk to it); nothing is
  // killed, waited for or removed.
  void forget() {
    to_worker = from_worker = -1;   // closed by fork_guard's handler, with every pool's pipes
    pid = -1;
    base_dir.clear();
  }

  // The worker's directory under /tmp (without filesystem isolation; with it, a private tmpfs goes with
  // the worker): a worker killed from outside never reaches the code that removes it, so the caller does,
  // once the worker is gone. Only a directory the worker named in its ready frame (sent before any job ran),
  // with the worker's prefix, never through a symlink; best effort (a dying job may still add a file).
  void remove_base_dir() {
    if (base_dir.empty()) return;
    namespace fs = std::filesystem;
    std::error_code error;
    const fs::path dir(base_dir);
    base_dir.clear();
    if (!dir.is_absolute() || dir.filename().string().rfind("cotnpot-exec-", 0) != 0) return;
    if (fs::symlink_status(dir, error).type() != fs::file_type::directory) return;
    for (int attempt = 0; attempt < 3 && fs::exists(fs::symlink_status(dir, error)); ++attempt) {
      fs::remove_all(dir, error);   // does not follow symlinks inside
      if (error) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // Starts the fork server and waits for its ready frame; throws when it cannot start.
  // `stop` (another thread: Ctrl-C) ends the wait for the ready frame within 100 ms.
  void start(const ExecutorOptions& o, const std::atomic<bool>* stop = nullptr) {
    std::string preload;
    for (const auto& m : o.preload) preload += (preload.empty() ? "" : ",") + m;
    const std::string idx = std::to_string(index);
    std::string off;
    for (const auto& f : o.isolation_off) off += (off.empty() ? "" : ",") + f;
    std::vector<char*> argv = {const_cast<char*>(o.python.c_str()), const_cast<char*>("-I"),
                               const_cast<char*>("-c"), const_cast<char*>(kWorkerBootstrap),
                               const_cast<char*>(kWorkerSource),
                               const_cast<char*>(idx.c_str()), const_cast<char*>(preload.c_str()),
                               const_cast<char*>(o.warmup.c_str()),
                               const_cast<char*>(o.job_namespaces ? "1" : "0"), const_cast<char*>(off.c_str()),
                               nullptr};
    // An explicit, minimal environment: the parent's (tokens, keys) must not reach jobs, and clearing
    // os.environ in the worker does not change /proc/self/environ, which every forked job could read.
    char path_var[] = "PATH=/usr/bin:/bin";
    char lang_var[] = "LANG=C.UTF-8";
    char* minimal_env[] = {path_var, lang_var, nullptr};
    // A session of its own: everything its jobs start stays findable by it (session.h), and a terminal's
    // Ctrl-C reaches the caller only, which cancels the batch
    // Every signal at its default and none blocked: a caller that ignores SIGCHLD (or inherited SIG_IGN
    // across exec) had workers whose jobs were reaped by the kernel before the worker could wait for them
    // (every job a sandbox_error), and a blocked SIGALRM held back a job's own alarm.
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    sigset_t every_signal, no_signal;
    sigfillset(&every_signal);
    sigdelset(&every_signal, SIGKILL);
    sigdelset(&every_signal, SIGSTOP);
    sigemptyset(&no_signal);
    posix_spawnattr_setsigdefault(&attributes, &every_signal);
    posix_spawnattr_setsigmask(&attributes, &no_signal);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    int rc;
    {
      // From the first pipe to its ends recorded, no fork of another thread gets a copy (fork_guard.h)
      const detail::ForkPause pause;
      // A caller without a descriptor 2 (a daemon that closed it) had workers whose Python made sys.stderr
      // None, and every job's write to it failed (a breaker): they get /dev/null there. Checked before the
      // pipes, which may take the free number.
      const bool caller_has_stderr = ::fcntl(2, F_GETFD) != -1;
      int in[2], out[2];
      if (::pipe2(in, O_CLOEXEC) != 0) {
        const int err = errno;
        posix_spawnattr_destroy(&attributes);
        throw std::runtime_error(std::string("Executor: pipe failed: ") + std::strerror(err));
      }
      if (::pipe2(out, O_CLOEXEC) != 0) {
        const int err = errno;
        ::close(in[0]), ::close(in[1]);  // no descriptor leaks on the failure path
        posix_spawnattr_destroy(&attributes);
        throw std::runtime_error(std::string("Executor: pipe failed: ") + std::strerror(err));
      }
      // The worker's job loop, handed over in memory as its descriptor 3 (it loads it, then closes it)
      const int library = job_loop_library();
      if (library < 0) {
        const int err = errno;
        ::close(in[0]), ::close(in[1]), ::close(out[0]), ::close(out[1]);
        posix_spawnattr_destroy(&attributes);
        throw std::runtime_error(std::string("Executor: cannot hold the worker's job loop in memory: ") +
                                 std::strerror(err));
      }
      posix_spawn_file_actions_t actions;
      posix_spawn_file_actions_init(&actions);
      posix_spawn_file_actions_adddup2(&actions, in[0], 0);
      posix_spawn_file_actions_adddup2(&actions, out[1], 1);
      posix_spawn_file_actions_adddup2(&actions, library, 3);
      if (!caller_has_stderr) posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
      rc = ::posix_spawn(&pid, o.python.c_str(), &actions, &attributes, argv.data(), minimal_env);
      posix_spawn_file_actions_destroy(&actions);
      ::close(library);
      ::close(in[0]);
      ::close(out[1]);
      to_worker = in[1];
      from_worker = out[0];
      detail::close_in_fork_child(to_worker, pause);
      detail::close_in_fork_child(from_worker, pause);
    }
    posix_spawnattr_destroy(&attributes);
    if (rc != 0) {
      pid = -1;
      this->stop();
      throw std::runtime_error("Executor: cannot start the worker interpreter '" + o.python + "': " + std::strerror(rc));
    }
    Fields ready;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kReadyTimeoutS);
    const bool readable = wait_readable(from_worker, deadline, stop);
    if (!readable || !read_frame(from_worker, ready, deadline) || ready["ready"] != "1") {
      siginfo_t info{};
      const int waited = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT);
      // ECHILD: reaped already (a caller ignoring SIGCHLD): gone, and its pid may be another process's now
      const bool exited = (waited == 0 && info.si_pid == pid) || (waited != 0 && errno == ECHILD);
      if (!exited) ::kill(pid, SIGKILL);  // never ready, it serves nothing: no grace for a clean exit
      this->stop();
      if (stop != nullptr && stop->load())
        throw std::runtime_error("Executor: stopped while its workers started");
      if (exited || readable)
        throw std::runtime_error("Executor: the worker interpreter '" + o.python + "' exited before it was ready "
                                 "(its error is on stderr; a failing warmup stops it, a preload that fails to "
                                 "import is skipped)");
      // a slow warmup or preload was reported as a failing one (a breaker)
      throw std::runtime_error("Executor: the worker interpreter '" + o.python + "' was not ready after " +
                               std::to_string(kReadyTimeoutS) + " s (a slow preload or warmup?)");
    }
    network_isolated = ready["network_isolated"] == "1";
    uid_isolated = ready["uid_isolated"] == "1";
    user_namespace = ready["user_namespace"] == "1";
    landlock_abi = std::atoi(ready["landlock"].c_str());
    filesystem_isolated = ready["filesystem_isolated"] == "1";
    pid_isolated = ready["pid_isolated"] == "1";
    memory_isolated = ready["memory_isolated"] == "1";
    base_dir = ready["base_dir"];
  }

  // `stopped`: whether the batch was stopped (Ctrl-C, an error elsewhere in it, close()): the job is then ended
  // with its worker, within 100 ms and the worker's exit, instead of at its deadline.
  Result execute(const Job& job, const ExecutorOptions& o, uint64_t id, const std::function<bool()>& stopped) {
    const double timeout = job.timeout_s > 0 ? job.timeout_s : o.timeout_s;
    const int memory = job.memory_mb > 0 ? job.memory_mb : o.memory_mb;
    const Fields frame = {{"id", std::to_string(id)}, {"code", job.code}, {"kind", job.kind}, {"answer", job.answer},
                          {"variable", job.variable}, {"prelude", job.prelude}, {"tests", job.tests},
                          {"timeout", number(timeout)}, {"memory_mb", std::to_string(memory)},
                          {"output_limit", std::to_string(o.output_limit)}};
    Result r;
    Fields got;
    // The worker enforces the job's timeout; this one only catches a worker that stopped answering.
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::milliseconds(int64_t(timeout * 1000) + int64_t(o.worker_grace_s * 1000));
    if (pid < 0 || !write_all(to_worker, encode(frame)))  // the job never reached a worker: retried
      return sandbox_error(kNotSent, "the worker was gone before this job was sent");
    const auto worker_died = [](const std::string& why) { return sandbox_error("WorkerDied", why); };
    // A stopped batch had waited for its running jobs' deadlines: Ctrl-C in `cotnpot eval --timeout 30` took
    // 26 s, a second Ctrl-C no less (a breaker). The worker, its pipe closed, ends the job and exits; the
    // next batch starts a fresh one.
    for (;;) {
      const bool stopping = stopped();   // a reply already there is still read (a reviewer)
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p{from_worker, POLLIN, 0};
      const int ready =
          left.count() <= 0 ? 0 : ::poll(&p, 1, stopping ? 0 : static_cast<int>(std::min<int64_t>(left.count(), 100)));
      if (ready > 0 || left.count() <= 0 || (ready < 0 && errno != EINTR)) break;
      if (stopping) {
        stop();
        return sandbox_error("Cancelled", "the batch was stopped while this job ran; the job was ended with its worker");
      }
    }
    if (!read_frame(from_worker, got, deadline))
      return worker_died("the worker process died or stopped answering during this job; it was replaced");
    if (got["id"] != std::to_string(id))  // a reply to another job: the conversation is out of step
      return worker_died("the worker answered job " + got["id"].substr(0, 32) + " instead of " + std::to_string(id) +
                         "; it was replaced");
    const std::optional<std::string> malformed = interpret_reply(got, job, r);
    if (malformed) return worker_died(*malformed);
    return r;
  }
};

Executor::Executor(ExecutorOptions options, const std::atomic<bool>* stop) : options_(std::move(options)) {
  // Bounded above too: each worker is a process, and 100,000 of them would exhaust the machine's pids
  if (options_.workers < 1 || options_.workers > kMaxWorkers)
    throw std::invalid_argument("Executor: workers must be in [1, " + std::to_string(kMaxWorkers) + "], got " +
                                std::to_string(options_.workers));
  if (!(options_.timeout_s > 0))
    throw std::invalid_argument("Executor: timeout must be > 0 seconds, got " + std::to_string(options_.timeout_s));
  if (!(options_.timeout_s <= kMaxTimeoutS))
    throw std::invalid_argument("Executor: timeout must be at most 1e6 seconds, got " +
                                std::to_string(options_.timeout_s));
  if (!(options_.worker_grace_s > 0 && options_.worker_grace_s <= kMaxTimeoutS))
    throw std::invalid_argument("Executor: worker_grace must be > 0 and at most 1e6 seconds, got " +
                                std::to_string(options_.worker_grace_s));
  if (options_.memory_mb < kMinMemoryMb || options_.memory_mb > kMaxMemoryMb)
    throw std::invalid_argument("Executor: memory_mb must be between 16 and 2^30, got " +
                                std::to_string(options_.memory_mb));
  // A reply carries stdout and stderr whole, in a frame of at most 256 MiB with 32-bit lengths
  if (options_.output_limit < 1 || options_.output_limit > kMaxOutputLimit)
    throw std::invalid_argument("Executor: output_limit must be between 1 and " + std::to_string(kMaxOutputLimit) +
                                " bytes (64 MiB), got " + std::to_string(options_.output_limit));
  for (const auto& f : options_.isolation_off)
    if (std::find(kIsolationFeatures.begin(), kIsolationFeatures.end(), f) == kIsolationFeatures.end()) {
      std::string known;
      for (const auto& k : kIsolationFeatures) known += (known.empty() ? "" : ", ") + k;
      throw std::invalid_argument("Executor: isolation_off names an unknown protection '" + f + "' (known: " +
                                  known + ")");
    }
  for (int i = 0; i < options_.workers; ++i) {
    auto w = std::make_unique<Worker>();
    w->index = i;
    w->start(options_, stop);
    workers_.push_back(std::move(w));
  }
  owner_pid_ = static_cast<long>(::getpid());
  detail::on_fork_in_child(this, &Executor::forget_workers_in_child);
}

struct Executor::CallInProgress {
  Executor& pool;
  explicit CallInProgress(Executor& p) : pool(p) {
    std::lock_guard<std::mutex> lock(pool.calls_mutex_);
    ++pool.calls_;
  }
  ~CallInProgress() {
    std::lock_guard<std::mutex> lock(pool.calls_mutex_);
    --pool.calls_;
    pool.calls_done_.notify_all();  // under the lock: the destructor cannot free the pool before this returns
  }
  CallInProgress(const CallInProgress&) = delete;
  CallInProgress& operator=(const CallInProgress&) = delete;
};

Executor::~Executor() {
  cancelled_.store(true);
  // Not in a forked child: its count is a copy of the parent's, whose run() calls it will never see end
  // (a reviewer); the workers are the parent's anyway.
  if (!forked_.load()) {
    std::unique_lock<std::mutex> lock(calls_mutex_);
    calls_done_.wait(lock, [this] { return calls_ == 0; });
  }
  detail::forget_at_fork(this);
}

void Executor::check_not_in_own_callback() const {
  if (in_chain(serving_chain, this))
    throw std::logic_error("Executor: run() called from a progress or on_result callback of this pool's own "
                           "batch (directly, or through a batch of another pool that callback ran), which waits "
                           "for the callback to return; use another Executor there");
}

CallbackChain callback_chain() { return serving_chain; }

CallbackChainScope::CallbackChainScope(CallbackChain chain) : previous_(std::move(serving_chain)) {
  serving_chain = std::move(chain);
}
CallbackChainScope::~CallbackChainScope() { serving_chain = std::move(previous_); }

void Executor::forget_workers_in_child(void* pool) {
  auto* self = static_cast<Executor*>(pool);
  self->forked_.store(true);
  for (auto& w : self->workers_) w->forget();
}

bool Executor::network_isolated() const { return !workers_.empty() && workers_[0]->network_isolated; }
bool Executor::uid_isolated() const { return !workers_.empty() && workers_[0]->uid_isolated; }
bool Executor::user_namespace() const { return !workers_.empty() && workers_[0]->user_namespace; }
int Executor::landlock_abi() const { return workers_.empty() ? 0 : workers_[0]->landlock_abi; }
bool Executor::filesystem_isolated() const { return !workers_.empty() && workers_[0]->filesystem_isolated; }
bool Executor::pid_isolated() const { return !workers_.empty() && workers_[0]->pid_isolated; }
bool Executor::memory_isolated() const { return !workers_.empty() && workers_[0]->memory_isolated; }

std::vector<Result> Executor::run(const std::vector<Job>& jobs, const std::function<void(size_t)>& progress,
                                  const std::atomic<bool>* stop,
                                  const std::function<void(size_t, const Result&)>& on_result) {
  const CallInProgress call(*this);  // first, so that it ends last: the destructor waits for it
  for (size_t i = 0; i < jobs.size(); ++i) {
    const Job& j = jobs[i];
    if (j.kind != "program" && j.kind != "tests")
      throw std::invalid_argument("Executor: job " + std::to_string(i) + ": kind must be 'program' or 'tests', got '" +
                                  j.kind + "'");
    if (j.answer != "print" && j.answer != "solution" && j.answer != "variable")
      throw std::invalid_argument("Executor: job " + std::to_string(i) +
                                  ": answer must be 'print', 'solution' or 'variable', got '" + j.answer + "'");
    if (j.timeout_s < 0 || !(j.timeout_s <= kMaxTimeoutS))
      throw std::invalid_argument("Executor: job " + std::to_string(i) + ": timeout must be > 0 and at most 1e6 seconds, got " +
                                  std::to_string(j.timeout_s));
    // 0 is the executor's; anything else as the option is checked (a negative one fell back to the default,
    // 1 ran, 2^31-1 came back as a sandbox_error per job)
    if (j.memory_mb != 0 && (j.memory_mb < kMinMemoryMb || j.memory_mb > kMaxMemoryMb))
      throw std::invalid_argument("Executor: job " + std::to_string(i) + ": memory_mb must be 0 (the executor's) or "
                                  "between 16 and 2^30, got " + std::to_string(j.memory_mb));
  }
  // Before the lock: in a forked child it may be a copy of a lock another thread held at the fork, and a
  // callback's thread would wait on its own batch.
  if (forked_.load())
    throw std::runtime_error("Executor: this pool's workers belong to the process that made it (pid " +
                             std::to_string(owner_pid_) + "); a forked child (a multiprocessing or DataLoader "
                             "worker) must make an Executor of its own");
  check_not_in_own_callback();
  // The pools whose callbacks led here: this batch's callbacks run on other threads, which must know them too.
  const CallbackChain outer = serving_chain;
  // One batch at a time: the workers' pipes carry one conversation each, so calls from several threads
  // take turns instead of interleaving frames. A call waiting its turn still answers *stop (Ctrl-C) and
  // cancel(): it had waited for the other thread's whole batch first, Ctrl-C unanswered until then.
  std::unique_lock<std::timed_mutex> one_batch(run_mutex_, std::defer_lock);
  while (!one_batch.try_lock_for(std::chrono::milliseconds(20))) {
    if (stop != nullptr && stop->load())
      throw std::runtime_error("Executor: the batch was stopped while it waited for another thread's batch");
    if (cancelled_.load()) throw std::runtime_error("Executor: closed while the batch waited for another thread's");
  }
  // A batch after cancel() had said "closed while the batch ran", though it never started (a C++ user)
  if (cancelled_.load()) throw std::runtime_error("Executor: closed (cancel() or its destructor): it runs no batch");
  std::vector<Result> results(jobs.size());
  std::atomic<size_t> finished{0};
  std::atomic<bool> cancelled{false};
  std::mutex progress_mutex, error_mutex, returned_mutex;
  std::exception_ptr first_error;
  // Why each worker could not be restarted in this batch ("": it runs). A worker that cannot be restarted
  // retires from the batch (an unsent job goes back to the others) instead of failing every job it would
  // take, fast, while other workers are healthy.
  std::vector<std::string> restart_failure(workers_.size());
  std::vector<size_t> pending(jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) pending[i] = i;
  const auto running = [&] { return !cancelled.load() && !cancelled_.load() && !(stop != nullptr && stop->load()); };
  const std::function<bool()> stopped = [&] { return !running(); };
  const auto report = [&](size_t i) {  // job i finished
    const size_t done = finished.fetch_add(1) + 1;
    if (!progress && !on_result) return;
    std::lock_guard<std::mutex> lock(progress_mutex);
    const CallingBack calling_back(outer, this);
    if (on_result) on_result(i, results[i]);  // a result is a result, even in a stopped batch
    if (progress && !cancelled.load()) progress(done);
  };
  // Runs body on a thread of this batch. Nothing thrown there may leave the thread (std::terminate would
  // end the caller's process): the first error (a progress callback that raised, Ctrl-C, out of memory)
  // cancels the batch -- no new job starts; the running ones are ended with their workers -- and is
  // rethrown in the caller.
  const auto guarded = [&](const std::function<void()>& body) {
    try {
      body();
    } catch (abi::__forced_unwind&) {
      // The thread is being ended (pthread_exit: e.g. a progress callback taking the GIL of an interpreter
      // that shuts down): it must go on, or the process aborts.
      cancelled.store(true);
      throw;
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!first_error) first_error = std::current_exception();
      cancelled.store(true);
    }
  };
  for (bool first_round = true; !pending.empty() && running(); first_round = false) {
    std::atomic<size_t> next{0};
    std::vector<size_t> returned;  // unsent jobs of workers that retired in this round
    const auto serve = [&](Worker& w, std::string& failure) {
      guarded([&] {
        block_sigpipe_on_this_thread();
        const auto restart = [&] {
          w.stop();
          try {
            w.start(options_, stop);
            failure.clear();
          } catch (const std::exception& e) {
            failure = e.what();
          }
        };
        for (size_t k; running() && (k = next.fetch_add(1)) < pending.size();) {
          const size_t i = pending[k];
          // Ids unique across batches: a stale reply of an earlier batch can never pass for this job's.
          results[i] = w.execute(jobs[i], options_, next_job_id_.fetch_add(1), stopped);
          // Only this side's own verdicts count (status sandbox_error, which a job cannot produce): a job
          // raising an exception named NotSent or WorkerDied is an error of that job, nothing more.
          const auto ours = [&](const char* type) {
            return results[i].status == "sandbox_error" && results[i].error_type == type;
          };
          if (ours(kNotSent)) {  // the worker had died before: a fresh one runs the job
            restart();
            if (!failure.empty()) {  // never sent: another worker takes it, this one retires
              std::lock_guard<std::mutex> lock(returned_mutex);
              returned.push_back(i);
              return;
            }
            results[i] = w.execute(jobs[i], options_, next_job_id_.fetch_add(1), stopped);
          }
          // A worker that died or fell out of step (also on the retry) is replaced before its next job;
          // the job it ran keeps its result (it may be what killed the worker).
          if (ours("WorkerDied")) restart();
          if (ours(kNotSent)) results[i].error_type = "WorkerDied";
          if (ours("WorkerDied") && !failure.empty())
            results[i].error_message = "the worker died and could not be restarted: " + failure;
          report(i);
          if (!failure.empty()) return;
        }
      });
    };
    // Every worker in the first round (one that failed in an earlier batch tries to restart again); after
    // that only those that run.
    std::vector<std::thread> threads;
    for (size_t k = 0; k < workers_.size(); ++k) {
      if (first_round || restart_failure[k].empty())
        threads.emplace_back(serve, std::ref(*workers_[k]), std::ref(restart_failure[k]));
    }
    for (auto& t : threads) t.join();
    // The jobs nobody took: those handed back, and those left when the last healthy thread retired.
    std::vector<size_t> left(returned);
    for (size_t k = std::min(next.load(), pending.size()); k < pending.size(); ++k) left.push_back(pending[k]);
    pending = std::move(left);
    const bool any_runs = std::any_of(restart_failure.begin(), restart_failure.end(),
                                      [](const std::string& f) { return f.empty(); });
    if (!pending.empty() && !any_runs && running()) {
      // On a thread of its own, as the jobs are reported (the progress callback) from the pool's threads
      // only, never from the caller's.
      std::thread([&] {
        guarded([&] {
          for (size_t i : pending) {
            results[i] = sandbox_error("WorkerDied", "no worker of the pool could be restarted: " + restart_failure[0]);
            report(i);
          }
        });
      }).join();
      pending.clear();
    }
  }
  if (first_error) std::rethrow_exception(first_error);
  if (stop != nullptr && stop->load()) throw std::runtime_error("Executor: the batch was stopped before it finished");
  if (cancelled_.load()) throw std::runtime_error("Executor: closed while the batch ran");
  return results;
}

}  // namespace cotnpot::exec
