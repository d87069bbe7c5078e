// The executor from C++: the embedded worker runs jobs and reports every one.
#include <doctest/doctest.h>

#include <signal.h>

#include <stdexcept>

#include "cotnpot/cotnpot.h"

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
  options.python = "/nonexistent/python3";
  CHECK_THROWS_AS(Executor{options}, std::runtime_error);
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
