// The executor from C++: the embedded worker runs jobs and reports every one.
#include <doctest/doctest.h>

#include <signal.h>
#include <unistd.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "cotnpot/cotnpot.h"
#include "cotnpot/exec/session.h"

using cotnpot::exec::Executor;
using cotnpot::exec::Job;

namespace {
cotnpot::exec::ExecutorOptions pool_of(int workers) {
  cotnpot::exec::ExecutorOptions options;
  options.workers = workers;
  options.timeout_s = 2.0;
  return options;
}
}  // namespace

TEST_CASE("Executor runs programs and tests from C++") {
  Executor ex(pool_of(1));
  std::vector<Job> jobs(3);
  jobs[0].code = "print(6 * 7)";
  jobs[1].code = "while True: pass";
  jobs[1].timeout_s = 0.3;
  jobs[2].code = "def f(x):\n    return x + 1\n";
  jobs[2].kind = "tests";
  jobs[2].tests = "assert f(1) == 2\nassert f(1) == 3";
  size_t reported = 0;
  const auto results = ex.run(jobs, [&](size_t done) { reported = done; });
  REQUIRE(results.size() == 3);
  CHECK(results[0].status == "ok");
  CHECK(results[0].answer == "42");
  CHECK(results[1].status == "timeout");
  CHECK_FALSE(results[2].passed);
  CHECK(results[2].failing_test == "assert f(1) == 3");
  CHECK(reported == 3);
}

TEST_CASE("Executor rejects bad settings with a message") {
  cotnpot::exec::ExecutorOptions options;
  options.timeout_s = 0;
  CHECK_THROWS_WITH_AS(Executor{options}, "Executor: timeout must be > 0 seconds, got 0.000000", std::invalid_argument);
  options.timeout_s = 1;
  options.memory_mb = 1 << 30 | 1;
  CHECK_THROWS_WITH_AS(Executor{options}, "Executor: memory_mb must be between 16 and 2^30, got 1073741825",
                       std::invalid_argument);
  options.memory_mb = 512;
  for (int workers : {0, 1025}) {   // 100,000 had started as many processes (a reviewer)
    options.workers = workers;
    CHECK_THROWS_WITH_AS(Executor{options},
                         ("Executor: workers must be in [1, 1024], got " + std::to_string(workers)).c_str(),
                         std::invalid_argument);
  }
  options.workers = 2;
  options.python = "/nonexistent/python3";
  CHECK_THROWS_AS(Executor{options}, std::runtime_error);
}

TEST_CASE("a job's memory_mb is checked as the option is, before any job runs") {
  // Found by a breaker: -512 fell back to the default, 1 ran, INT_MAX came back as a sandbox_error per job.
  Executor executor{cotnpot::exec::ExecutorOptions{}};
  for (int bad : {-512, 1, 15, (1 << 30) + 1, 2147483647}) {
    Job job{"print(1)"};
    job.memory_mb = bad;
    CHECK_THROWS_WITH_AS(executor.run({Job{"print(0)"}, job}),
                         ("Executor: job 1: memory_mb must be 0 (the executor's) or between 16 and 2^30, got " +
                          std::to_string(bad)).c_str(),
                         std::invalid_argument);
  }
  Job fine{"print(1)"};
  fine.memory_mb = 64;
  CHECK(executor.run({fine})[0].status == "ok");
}

TEST_CASE("Executor leaves the process's signal handling alone and survives dead workers") {
  ::signal(SIGPIPE, SIG_DFL);  // as a program that never touched it has it (an earlier Executor may have)
  struct sigaction before {};
  ::sigaction(SIGPIPE, nullptr, &before);
  Executor ex(pool_of(1));
  struct sigaction after {};
  ::sigaction(SIGPIPE, nullptr, &after);
  const bool unchanged = after.sa_handler == before.sa_handler;
  CHECK(unchanged);  // it used to set SIGPIPE to SIG_IGN process-wide
  // A job that kills its worker (its whole process group and parent): the job is reported, the next jobs
  // run on a replacement -- including one sent while the worker was already gone.
  std::vector<Job> jobs(3);
  jobs[0].code = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nimport time; time.sleep(1)";
  jobs[1].code = "print(1)";
  jobs[2].code = "print(2)";
  const auto results = ex.run(jobs);
  REQUIRE(results.size() == 3);
  CHECK(results[1].answer == "1");
  CHECK(results[2].answer == "2");
}

TEST_CASE("an exception from the progress callback comes back to the caller") {
  Executor ex(pool_of(2));
  std::vector<Job> jobs(10);
  for (auto& j : jobs) j.code = "print(1)";
  CHECK_THROWS_WITH_AS(ex.run(jobs, [](size_t) { throw std::runtime_error("callback failed"); }), "callback failed",
                       std::runtime_error);
  CHECK(ex.run(jobs).size() == 10);  // still usable
}

TEST_CASE("run() reached again from its own batch's callbacks throws, also through another pool's batch") {
  Executor a(pool_of(1)), b(pool_of(1));
  std::vector<Job> one(1);
  one[0].code = "print(1)";
  // directly: A's callback runs A
  CHECK_THROWS_WITH_AS(a.run(one, {}, nullptr, [&](size_t, const cotnpot::exec::Result&) { a.run(one); }),
                       doctest::Contains("callback of this pool's own batch"), std::logic_error);
  // through B: A's callback runs B (allowed), whose callback runs A; it hung before the chain was carried
  std::string nested;
  const auto b_calls_a = [&](size_t, const cotnpot::exec::Result&) { a.run(one); };
  CHECK_THROWS_WITH_AS(a.run(one, {}, nullptr,
                             [&](size_t, const cotnpot::exec::Result&) {
                               nested = b.run(one)[0].answer;
                               b.run(one, {}, nullptr, b_calls_a);
                             }),
                       doctest::Contains("through a batch of another pool"), std::logic_error);
  CHECK(nested == "1");
  // a chain carried to another thread, as the Python binding does
  const auto chain = cotnpot::exec::callback_chain();
  CHECK(chain.empty());
  std::thread t([&] {
    const cotnpot::exec::CallbackChainScope scope({&a});
    CHECK_THROWS_AS(a.run(one), std::logic_error);
    CHECK(b.run(one)[0].answer == "1");
  });
  t.join();
  CHECK(a.run(one)[0].answer == "1");
}

TEST_CASE("on_result hands over each result as it finishes, also those that a stop ends") {
  Executor ex(pool_of(2));
  std::vector<Job> jobs(12);
  for (size_t i = 0; i < jobs.size(); ++i) jobs[i].code = "print(" + std::to_string(i) + " * 3)";
  std::vector<std::pair<size_t, std::string>> seen;  // the callbacks are called one at a time
  const auto results = ex.run(jobs, {}, nullptr, [&](size_t i, const cotnpot::exec::Result& r) {
    seen.emplace_back(i, r.answer);
  });
  REQUIRE(seen.size() == 12);
  std::sort(seen.begin(), seen.end());
  for (size_t i = 0; i < seen.size(); ++i) {
    CHECK(seen[i].first == i);
    CHECK(seen[i].second == std::to_string(i * 3));
    CHECK(results[i].answer == seen[i].second);
  }
  // Stopped once the first fast job is reported: the slow job already running is ended with its worker at
  // once (it had run to its end first) and comes to on_result as Cancelled; the pool runs the next batch.
  jobs[0].code = "import time\ntime.sleep(30)\nprint('slow')";
  std::atomic<bool> stop{false};
  std::vector<std::pair<size_t, std::string>> kept;
  const auto start = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(ex.run(jobs, {}, &stop,
                         [&](size_t i, const cotnpot::exec::Result& r) {
                           kept.emplace_back(i, r.status == "ok" ? r.answer : r.error_type);
                           stop.store(true);
                         }),
                  std::runtime_error);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  const bool slow_ended = std::find(kept.begin(), kept.end(), std::make_pair(size_t{0}, std::string("Cancelled"))) != kept.end();
  CHECK(slow_ended);
  CHECK(kept.size() < jobs.size());
  CHECK(ex.run({jobs[1]})[0].answer == "3");
}

TEST_CASE("destroying a pool while another thread runs a batch ends the batch first, and run() after cancel() says so") {
  // A C++ user: the destructor freed the pool under the running batch, which then restarted a worker of it
  // (a use-after-free, SIGSEGV). Now the batch is cancelled, its jobs ended, and the destructor waits for it.
  auto pool = std::make_unique<Executor>(pool_of(2));
  Executor* const running = pool.get();
  std::vector<Job> jobs(6);
  for (auto& j : jobs) {
    j.code = "while True: pass";
    j.timeout_s = 30;
  }
  jobs[0].code = "print(1)";  // reported at once: the batch is under way, the other jobs spinning
  std::string said;
  std::atomic<bool> started{false};
  std::thread caller([&] {
    try {
      running->run(jobs, {}, nullptr, [&](size_t, const cotnpot::exec::Result&) { started.store(true); });
      said = "returned";
    } catch (const std::exception& e) {
      said = e.what();
    }
  });
  for (int waited = 0; waited < 6000 && !started.load(); ++waited)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(started.load());
  const auto start = std::chrono::steady_clock::now();
  pool.reset();
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
  caller.join();
  CHECK(said == "Executor: closed while the batch ran");
  Executor closed(pool_of(1));
  closed.cancel();
  CHECK_THROWS_WITH_AS(closed.run({jobs[0]}), "Executor: closed (cancel() or its destructor): it runs no batch",
                       std::runtime_error);
}

namespace {
// The processes whose parent is this one (the workers), from /proc.
std::vector<pid_t> children_of_this_process() {
  std::vector<pid_t> out;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    const size_t close = text.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(text.substr(close + 2));
    std::string state;
    long ppid = 0;
    rest >> state >> ppid;
    if (ppid == ::getpid() && state != "Z") out.push_back(pid_t(std::stol(name)));
  }
  return out;
}
}  // namespace

TEST_CASE("with no worker left to restart, the remaining jobs are reported from the pool's threads") {
  // The caller's thread must never run the progress callback: from Python it is the thread that may not
  // take the GIL while the interpreter shuts down.
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("cotnpot-test-restart-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::filesystem::path wrapper = dir / "python3", broken = dir / "broken";
  {
    std::ofstream script(wrapper);
    script << "#!/bin/sh\n[ -e '" << broken.string() << "' ] && exit 1\nexec /usr/bin/python3 \"$@\"\n";
  }
  std::filesystem::permissions(wrapper, std::filesystem::perms::owner_all);
  auto options = pool_of(1);
  options.python = wrapper.string();
  {
    Executor ex(options);
    std::vector<Job> jobs(1);
    jobs[0].code = "print(1)";
    REQUIRE(ex.run(jobs)[0].answer == "1");
    std::ofstream(broken).put('x');
    for (pid_t pid : children_of_this_process()) ::kill(pid, SIGKILL);
    for (int i = 0; i < 500 && !children_of_this_process().empty(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));   // the worker's own child, after it
    std::vector<std::thread::id> reporters;
    std::mutex m;
    jobs.assign(3, jobs[0]);
    const auto results = ex.run(jobs, [&](size_t) {
      std::lock_guard<std::mutex> lock(m);
      reporters.push_back(std::this_thread::get_id());
    });
    for (const auto& r : results) {
      CHECK(r.status == "sandbox_error");
      CHECK(r.error_type == "WorkerDied");
    }
    REQUIRE(reporters.size() == 3);
    for (const auto& id : reporters) CHECK(id != std::this_thread::get_id());
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("kill_session ends a session's leader, children and grandchildren, and leaves pids 0 and 1 alone") {
  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  const pid_t leader = ::fork();
  REQUIRE(leader >= 0);
  if (leader == 0) {  // a session of its own, with three sleeping children and a grandchild each
    ::setsid();
    for (int i = 0; i < 3; ++i)
      if (::fork() == 0) {
        ::fork();
        ::pause();
        ::_exit(0);
      }
    (void)!::write(ready[1], "x", 1);
    ::pause();
    ::_exit(0);
  }
  ::close(ready[1]);
  char byte;
  REQUIRE(::read(ready[0], &byte, 1) == 1);
  ::close(ready[0]);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the grandchildren exist
  const int signalled = cotnpot::exec::kill_session(leader);
  if (signalled < 7) ::kill(-leader, SIGKILL);  // not left paused whatever the verdict
  CHECK(signalled >= 7);   // the leader, 3 children, 3 grandchildren
  int status = 0;
  REQUIRE(::waitpid(leader, &status, 0) == leader);
  CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
  CHECK(cotnpot::exec::kill_session(leader) == 0);   // nothing left alive in it (its zombies are not counted)
  CHECK(cotnpot::exec::kill_session(0) == 0);
  CHECK(cotnpot::exec::kill_session(1) == 0);
}
