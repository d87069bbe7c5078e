// The executor from C++: the embedded worker runs jobs and reports every one.
#include <doctest/doctest.h>

#include <stdexcept>

#include "cotnpot/cotnpot.h"

using cotnpot::exec::Executor;
using cotnpot::exec::Job;

TEST_CASE("Executor runs programs and tests from C++") {
  cotnpot::exec::ExecutorOptions options;
  options.workers = 1;
  options.timeout_s = 2.0;
  Executor ex(options);
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
