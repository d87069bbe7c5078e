#pragma once
// A small expression tree for math answers, its parser and its evaluator. Parsing follows a bounded
// number of steps and nesting levels (limits.h): any input either parses or is refused, quickly.
#include <complex>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cotnpot::answer {

namespace detail {
struct BigInteger;  // detail/big_integer.h
}

// A number: the exact rational p/q (q > 0, reduced) while arithmetic stays exact, or the exact integer
// `big` past int64 (integers only; p and q unused, z its double), else the complex z.
struct Number {
  bool exact = true;
  int64_t p = 0, q = 1;
  std::complex<double> z{0.0, 0.0};
  std::shared_ptr<const detail::BigInteger> big;

  static Number rational(int64_t p, int64_t q = 1);
  static Number inexact(std::complex<double> z);
  static Number integer(detail::BigInteger n);  // a rational when it fits in int64
  bool is_integer() const { return exact && (big || q == 1); }
  std::complex<double> value() const {
    return exact && !big ? std::complex<double>(double(p) / double(q), 0.0) : z;
  }
};

enum class Kind {
  Num, Sym, Infinity,       // leaves
  Add, Mul, Pow, Neg, Func, // arithmetic (a - b is Add(a, Neg b), a / b is Mul(a, Pow(b, -1)))
  PlusMinus,                // a \pm b: the pair {a + b, a - b}
  List,                     // a bare comma list "2, 3": unordered
  Tuple,                    // (a, b, ...) or [a, b, ...]: ordered; open/close say which brackets
  Set,                      // \{a, b\}
  Interval,                 // [a, b), (a, b], ...: open/close brackets
  Union,                    // A \cup B
  Relation,                 // a = b, a < b, ... (op), possibly chained: kids are the sides
  Matrix,                   // rows of equal length; cols says how many
};

struct Node {
  Kind kind = Kind::Num;
  Number num;
  std::string name;        // Sym, Func ("sqrt", "root", "sin", ...), Relation op ("=", "<", "\\le", ...);
                           // a Num of more digits than int64 holds: its digits (the num is their double)
  int decimals = -1;       // a Num written with a decimal point (0.5, 33.333): the digits after it (its
                           // author may have rounded it to them); -1 without a point
  char open = 0, close = 0;
  int cols = 0;
  std::vector<Node> kids;
};

// Counts parser and evaluator steps against kMaxSteps.
struct Budget {
  long steps = 0;
  bool spend(long n = 1);  // false once exhausted
  bool exhausted() const;
};

// Parses a normalized answer; nullopt when it is not a math expression this parser knows (or too big).
std::optional<Node> parse_answer(std::string_view normalized, Budget& budget);

// Variable values that are multiples of 1/kSampleGrid evaluate as exact rationals (compare_scalars.cpp's sample points
// are).
inline constexpr double kSampleGrid = 64.0;

// What an evaluation at a sample point met, to judge how far its value can be trusted.
struct EvalTrace {
  // A power or function of real values came out non-real (\sqrt{-2}, \ln(-1)): the point lies outside the
  // expression's real domain, where complex branches make equal expressions differ.
  bool left_reals = false;
  // The largest magnitude a sum at the top of the expression added (reached through sums and negations
  // only): such a sum that cancels ((5x+7)^4 expanded, near x = -1.4) carries a float error of a fraction of
  // it, however small its value. A sum inside a power or a function (e^{-x-30}, 1/(x^2+10^5)) says nothing
  // of the error of the whole: counting it had made 2e^{-x-30} equal e^{-x-30} (a reviewer).
  double largest_term = 0.0;
  bool at_top = true;   // while evaluating a part reached through sums and negations only
  // The most that an inexact sum anywhere in the expression cancelled: its largest term's magnitude over its
  // value's (1 for none). Its rounding error grows by that much, and through what follows (a quotient of it:
  // 1/(\sqrt{10^8+1} - 10^4) carries 2e-8 of relative error where its terms carried 1e-16).
  double cancellation = 1.0;
};

// The value of a scalar expression with the given variable values; nullopt for structures (tuples, ...),
// unknown functions, division by zero, or when the budget runs out. trace, when given, records what the
// evaluation met (above).
std::optional<Number> evaluate(const Node& node, const std::map<std::string, double>& variables, Budget& budget,
                               EvalTrace* trace = nullptr);

// Names of the free variables in node.
void collect_variables(const Node& node, std::vector<std::string>& names);

}  // namespace cotnpot::answer
