// Answer grading from C++: the header API, thread-parallel grade, voting classes.
#include <doctest/doctest.h>

#include <thread>

#include <ATen/ATen.h>

#include "cotnpot/cotnpot.h"
#include "cotnpot/answer/detail/big_integer.h"
#include "cotnpot/answer/detail/wide_compare.h"
#include "cotnpot/answer/expr.h"

using cotnpot::answer::extract_answer;
using cotnpot::answer::is_equiv;

TEST_CASE("extract_answer finds the boxed, #### and last-number answers") {
  CHECK(extract_answer("so \\boxed{\\frac{1}{2}}.").answer == "\\frac{1}{2}");
  CHECK(extract_answer("so \\boxed{\\frac{1}{2}}.").rule == "boxed");
  CHECK(extract_answer("work\n#### 1,234").answer == "1,234");
  CHECK(extract_answer("12 eggs and 7 hens").answer == "7");
  cotnpot::answer::ExtractOptions no_fallback;
  no_fallback.last_number_fallback = false;
  CHECK(extract_answer("12 eggs", no_fallback).rule == "none");
  // Found by a breaker: any mode but "program" extracted as "cot", a typo without a word.
  cotnpot::answer::ExtractOptions typo;
  typo.mode = std::string("Program");   // owned: a temporary's view no longer dangles
  CHECK_THROWS_WITH_AS(extract_answer("The answer is 5.\n10\n", typo),
                       "extract_answer: mode must be \"cot\" or \"program\", got \"Program\"", std::invalid_argument);
  typo.mode = "program";
  CHECK(extract_answer("The answer is 5.\n10\n", typo).answer == "10");
}

TEST_CASE("is_equiv: numbers, structures, options") {
  CHECK(is_equiv("\\frac{1}{2}", "0.5"));
  CHECK(is_equiv("2, 3", "3, 2"));
  CHECK_FALSE(is_equiv("[1,2)", "(1,2)"));
  CHECK_FALSE(is_equiv("50\\%", "0.5"));
  cotnpot::answer::EquivOptions percent;
  percent.percent = true;
  CHECK(is_equiv("50\\%", "0.5", percent));
  CHECK_FALSE(is_equiv("", ""));
}

TEST_CASE("is_equiv: a sum of names stated equal to a value, temperature scales, scale words") {
  CHECK(is_equiv("17", "m+n=17"));
  CHECK_FALSE(is_equiv("x + y + z = 0", "0"));   // a gold equation is not answered by its constant
  CHECK_FALSE(is_equiv("17", "m + \\pi = 17"));
  CHECK_FALSE(is_equiv("17", "2x=17"));
  CHECK_FALSE(is_equiv("x=17", "m+n=17"));
  CHECK_FALSE(is_equiv("30^\\circ C", "30^\\circ F"));
  CHECK(is_equiv("30", "30^\\circ F"));
  CHECK(is_equiv("500000", ".5 million"));
  CHECK(is_equiv("5000000", "5 millions"));
}

TEST_CASE("grade runs pairs in parallel; group_answers numbers classes by first appearance") {
  std::vector<std::string> golds(100, "1/2"), preds;
  for (int i = 0; i < 100; ++i) preds.push_back(i % 2 ? "0.5" : "0.25");
  const at::Tensor graded = cotnpot::answer::grade(golds, preds);
  CHECK(graded.sum().item<int64_t>() == 50);
  CHECK(graded[1].item<bool>());
  const at::Tensor ids = cotnpot::answer::group_answers({"2", "x=2", "3", "", "\\frac{4}{2}"});
  CHECK(ids.equal(at::tensor(std::vector<int64_t>{0, 0, 1, -1, 0})));
}

TEST_CASE("the torch-free forms: grade_pairs and answer_class_ids, serial or through a given parallel loop") {
  const std::vector<std::string> golds{"1/2", "3", "x+1"}, preds{"0.5", "4", "1+x"};
  CHECK(cotnpot::answer::grade_pairs(golds, preds) == std::vector<uint8_t>{1, 0, 1});
  int calls = 0;
  const cotnpot::answer::ParallelFor halves = [&](int64_t n, const std::function<void(int64_t, int64_t)>& body) {
    ++calls;
    body(0, n / 2);
    body(n / 2, n);
  };
  CHECK(cotnpot::answer::answer_class_ids({"2", "x=2", "3", "", "\\frac{4}{2}"}, {}, halves) ==
        std::vector<int64_t>{0, 0, 1, -1, 0});
  // Once to prepare the answers, then once per answer compared with two or more classes (\frac{4}{2} and x=2,
  // each with 2 and 3)
  CHECK(calls == 3);
  CHECK_THROWS_WITH_AS(cotnpot::answer::grade_pairs({"1"}, {}),
                       "grade: golds and preds must have the same length, got 1 and 0", std::invalid_argument);
}

TEST_CASE("grade_pairs and answer_class_ids end with 'stopped' once their stop flag is set") {
  std::atomic<bool> stop{true};
  CHECK_THROWS_WITH_AS(cotnpot::answer::grade_pairs({"1/2"}, {"0.5"}, {}, {}, &stop), "grade: stopped",
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(cotnpot::answer::answer_class_ids({"2", "x=2"}, {}, {}, &stop), "group_answers: stopped",
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(cotnpot::answer::grade({"1/2"}, {"0.5"}, {}, &stop), "grade: stopped", std::runtime_error);
  stop = false;
  CHECK(cotnpot::answer::grade_pairs({"1/2"}, {"0.5"}, {}, {}, &stop) == std::vector<uint8_t>{1});
  CHECK(cotnpot::answer::answer_class_ids({"2", "x=2"}, {}, {}, &stop) == std::vector<int64_t>{0, 0});
}

TEST_CASE("a stop reaches the caller as an exception through a parallel_for of plain threads that catch nothing") {
  // Such a parallel_for had ended the process in std::terminate (the body threw on its threads), and one whose
  // threads caught the exceptions got the ungraded pairs back as 0 (a breaker).
  std::atomic<int> bodies_returned{0};
  const cotnpot::answer::ParallelFor threads = [&](int64_t n, const std::function<void(int64_t, int64_t)>& body) {
    std::vector<std::thread> pool;
    for (int64_t begin = 0; begin < n; begin += (n + 1) / 2)
      pool.emplace_back([&, begin] {
        body(begin, std::min(n, begin + (n + 1) / 2));
        ++bodies_returned;
      });
    for (std::thread& t : pool) t.join();
  };
  std::atomic<bool> stop{true};
  const std::vector<std::string> golds(8, "1/2"), preds(8, "0.5");
  CHECK_THROWS_WITH_AS(cotnpot::answer::grade_pairs(golds, preds, {}, threads, &stop), "grade: stopped",
                       std::runtime_error);
  CHECK(bodies_returned == 2);
  CHECK_THROWS_WITH_AS(cotnpot::answer::answer_class_ids({"2", "x=2", "3", "y=3"}, {}, threads, &stop),
                       "group_answers: stopped", std::runtime_error);
  stop = false;
  CHECK(cotnpot::answer::grade_pairs(golds, preds, {}, threads, &stop) == std::vector<uint8_t>(8, 1));
}

TEST_CASE("a parallel_for that breaks its contract is an exception, not a crash or zeros") {
  // A C++ user: a range past [0, n) read and wrote out of bounds (SIGSEGV), and a parallel_for that never
  // called the body returned 0 for every pair.
  const std::vector<std::string> golds(8, "1/2"), preds(8, "0.5");
  const auto calling = [](int64_t begin_shift, int64_t end_shift) -> cotnpot::answer::ParallelFor {
    return [=](int64_t n, const std::function<void(int64_t, int64_t)>& body) { body(begin_shift, n + end_shift); };
  };
  CHECK_THROWS_WITH_AS(cotnpot::answer::grade_pairs(golds, preds, {}, calling(0, 50)),
                       "grade: parallel_for called the body with [0, 58), outside [0, 8)", std::out_of_range);
  CHECK_THROWS_WITH_AS(cotnpot::answer::answer_class_ids({"2", "x=2", "3"}, {}, calling(-5, 0)),
                       "group_answers: parallel_for called the body with [-5, 3), outside [0, 3)", std::out_of_range);
  const cotnpot::answer::ParallelFor nothing = [](int64_t, const std::function<void(int64_t, int64_t)>&) {};
  CHECK_THROWS_WITH_AS(cotnpot::answer::grade_pairs(golds, preds, {}, nothing),
                       "grade: parallel_for never handed the body item 0 of [0, 8)", std::logic_error);
  const cotnpot::answer::ParallelFor twice = [](int64_t n, const std::function<void(int64_t, int64_t)>& body) {
    body(0, n);
    body(0, n);
  };
  CHECK_THROWS_WITH_AS(cotnpot::answer::grade_pairs(golds, preds, {}, twice),
                       "grade: parallel_for handed the body item 0 twice", std::logic_error);
  // the first half twice: as many items as n, half of them never graded (a reviewer)
  const cotnpot::answer::ParallelFor first_half_twice = [](int64_t n, const std::function<void(int64_t, int64_t)>& body) {
    body(0, n / 2);
    body(0, n / 2);
  };
  CHECK_THROWS_WITH_AS(cotnpot::answer::grade_pairs(golds, preds, {}, first_half_twice),
                       "grade: parallel_for handed the body item 0 twice", std::logic_error);
  CHECK(cotnpot::answer::grade_pairs(golds, preds, {}, calling(0, 0)) == std::vector<uint8_t>(8, 1));
}

TEST_CASE("BigInteger: carries, borrows, signs and the int64 boundary") {
  using cotnpot::answer::detail::BigInteger;
  const auto big = [](const char* digits) { return *BigInteger::from_digits(digits); };
  CHECK((big("999999999999999999999") + BigInteger::of(1)).to_string() == "1000000000000000000000");
  CHECK((big("1000000000000000000000000000") + BigInteger::of(-1)).to_string() == "999999999999999999999999999");
  CHECK((BigInteger::of(5) + -big("1000000000000000000000")).to_string() == "-999999999999999999995");
  CHECK((big("1000000000000000001") * big("999999999999999999")).to_string() ==
        "999999999999999999999999999999999999");
  CHECK((big("123456789012345678901234567890") + -big("123456789012345678901234567890")).to_string() == "0");
  CHECK((-big("12") * big("3")).to_string() == "-36");
  CHECK(big("999999999999999999").times_small(4294967295u).to_string() == "4294967294999999995705032705");
  CHECK(big("123").digit_count() == 3);
  CHECK(big("1000000000").digit_count() == 10);
  CHECK(BigInteger::of(0).digit_count() == 0);
  CHECK(BigInteger::of(INT64_MIN).to_string() == "-9223372036854775808");
  CHECK_FALSE(BigInteger::of(INT64_MIN).to_int64().has_value());  // rationals never hold INT64_MIN
  CHECK(big("9223372036854775807").to_int64() == INT64_MAX);
  CHECK_FALSE(big("9223372036854775808").to_int64().has_value());
  CHECK((-big("9223372036854775807")).to_int64() == -INT64_MAX);
  CHECK(big("000123").to_string() == "123");
  CHECK_FALSE(BigInteger::from_digits("12a").has_value());
  CHECK_FALSE(BigInteger::from_digits("").has_value());
  CHECK(big("1000000000000000000000").divided_exactly(8)->to_string() == "125000000000000000000");
  CHECK_FALSE(big("1000000000000000000001").divided_exactly(2).has_value());
  CHECK(big("15511210043330985984000000").to_double() == 15511210043330985984000000.0);
}

TEST_CASE("computed integers past int64 compare digit for digit") {
  CHECK(is_equiv("2^{70}", "1180591620717411303424"));
  CHECK_FALSE(is_equiv("2^{70}", "1180591620717411303425"));
  CHECK(is_equiv("25!", "15511210043330985984000000"));
  CHECK(is_equiv("\\binom{100}{50}", "100891344545564193334812497256"));
  CHECK_FALSE(is_equiv("3^{40}", "12157665459056928802"));
  CHECK(is_equiv("10^{999}", "1" + std::string(999, '0')));
  CHECK_FALSE(is_equiv("10^{1000}\\cdot 10^{10}", "1"));  // past the bound: a double, not a recursion
}

TEST_CASE("real constants compare in quad precision where the build has it") {
#if defined(COTNPOT_EXPECT_QUAD_PRECISION)
  CHECK(cotnpot::answer::has_quad_precision());   // CMake found libquadmath: the build must use it
#endif
  if (!cotnpot::answer::has_quad_precision()) return;
  using cotnpot::answer::Budget;
  const auto wide = [](const char* a, const char* b, bool percent = false) {
    Budget budget;
    const auto x = cotnpot::answer::parse_answer(a, budget), y = cotnpot::answer::parse_answer(b, budget);
    REQUIRE((x && y));
    return cotnpot::answer::detail::wide_equal(*x, *y, {1e-6, false, percent}, budget);
  };
  // 1e-4 apart in doubles; the same value
  CHECK(wide("(3-2\\sqrt{2})^8", "665857-470832\\sqrt{2}") == std::optional<bool>(true));
  CHECK(wide("(3-2\\sqrt{2})^8", "665858-470832\\sqrt{2}") == std::optional<bool>(false));
  CHECK(wide("e^{-30}", "e^{-31}") == std::optional<bool>(false));
  CHECK(wide("\\sin\\pi", "0") == std::optional<bool>(true));
  CHECK(wide("50\\sqrt{2}", "\\frac{\\sqrt{2}}{2}", true) == std::optional<bool>(true));
  // no verdict where reals cannot follow the double evaluator: a negative base under a fractional power, i
  CHECK_FALSE(wide("(-8)^{\\frac{1}{3}}", "2").has_value());
  CHECK_FALSE(wide("\\sqrt{-1}", "i").has_value());
  CHECK_FALSE(wide("\\ln(-2)", "1").has_value());
}
