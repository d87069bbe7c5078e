// The evaluator of expr.h's trees: exact while the arithmetic stays rational (integers past int64 too),
// complex doubles after, bounded in steps (limits.h).
#include "cotnpot/answer/expr.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "cotnpot/answer/detail/number_ops.h"
#include "cotnpot/answer/limits.h"

namespace cotnpot::answer {
using namespace detail;

static bool is_real(const Number& n) {
  const std::complex<double> z = n.value();
  return std::abs(z.imag()) <= 1e-12 * std::max(1.0, std::abs(z.real()));
}

// A named function of evaluated arguments; nullopt for one this evaluator does not know.
static std::optional<Number> apply(const std::string& f, const std::vector<Number>& args, Budget& budget) {
  const std::complex<double> x = args[0].value();
  if (f == "abs") return absolute(args[0]);
  if (f == "factorial") return factorial(args[0], budget);
  if (f == "binom") return binomial(args[0], args[1], budget);
  if (f == "sin") return Number::inexact(std::sin(x));
  if (f == "cos") return Number::inexact(std::cos(x));
  // At a pole (\tan\frac{\pi}{2}: 1.6e16 from the rounded argument) the value is undefined, not huge:
  // \tan(\pi/2) - \tan(\pi/2) + 5 had been 5 (a breaker). Past 1e15 only a pole's rounding gets there.
  if (f == "tan" || f == "sec" || f == "csc" || f == "cot") {
    const std::complex<double> v = f == "tan"   ? std::tan(x)
                                   : f == "sec" ? 1.0 / std::cos(x)
                                   : f == "csc" ? 1.0 / std::sin(x)
                                                : 1.0 / std::tan(x);
    if (!(std::abs(v) < 1e15)) return std::nullopt;
    return Number::inexact(v);
  }
  if (f == "arcsin") return Number::inexact(std::asin(x));
  if (f == "arccos") return Number::inexact(std::acos(x));
  if (f == "arctan") return Number::inexact(std::atan(x));
  if (f == "exp") return Number::inexact(std::exp(x));
  if (f == "ln") return Number::inexact(std::log(x));
  if (f == "log") return Number::inexact(std::log10(x));
  return std::nullopt;
}

// Keeps trace->at_top while a part is evaluated only if that part is still reached through sums (and
// negations); restores it after.
struct TopOnly {
  EvalTrace* trace;
  bool saved;
  TopOnly(EvalTrace* t, bool still_top) : trace(t), saved(t ? t->at_top : false) {
    if (trace) trace->at_top = saved && still_top;
  }
  ~TopOnly() {
    if (trace) trace->at_top = saved;
  }
  TopOnly(const TopOnly&) = delete;
  TopOnly& operator=(const TopOnly&) = delete;
};

std::optional<Number> evaluate(const Node& node, const std::map<std::string, double>& variables, Budget& budget,
                               EvalTrace* trace) {
  if (!budget.spend()) return std::nullopt;
  switch (node.kind) {
    case Kind::Num:
      return node.num;
    case Kind::Sym: {
      if (node.name == "\\pi") return Number::inexact({M_PI, 0.0});
      if (node.name == "e" && !variables.count("e")) return Number::inexact({M_E, 0.0});
      if (node.name == "i" && !variables.count("i")) return Number::inexact({0.0, 1.0});
      const auto it = variables.find(node.name);
      if (it == variables.end()) return std::nullopt;
      // A sample point on a grid of 1/64 is an exact rational: polynomials and rational functions are then
      // evaluated exactly (within int64), where an expanded (x+5)^6 lost 1e-6 of its value to cancellation
      // near a root, and 2(x+5)^6 failed against 2 times its expansion (a breaker).
      const double scaled = it->second * kSampleGrid;
      if (scaled == std::floor(scaled) && std::abs(scaled) < 1e15)
        return Number::rational(static_cast<int64_t>(scaled), static_cast<int64_t>(kSampleGrid));
      return Number::inexact({it->second, 0.0});
    }
    case Kind::Neg: {
      auto a = evaluate(node.kids[0], variables, budget, trace);
      if (!a) return std::nullopt;
      return neg(*a);
    }
    case Kind::Add:
    case Kind::Mul: {
      Number acc = Number::rational(node.kind == Kind::Add ? 0 : 1);
      const TopOnly top(trace, node.kind == Kind::Add);
      double largest = 0.0;   // of this sum's terms
      for (const Node& kid : node.kids) {
        auto v = evaluate(kid, variables, budget, trace);
        if (!v) return std::nullopt;
        if (node.kind == Kind::Add && std::isfinite(std::abs(v->value()))) {
          largest = std::max(largest, std::abs(v->value()));
          if (trace && trace->at_top) trace->largest_term = std::max(trace->largest_term, largest);
        }
        acc = node.kind == Kind::Add ? add(acc, *v, budget) : mul(acc, *v, budget);
      }
      if (trace && node.kind == Kind::Add && !acc.exact && largest > 0.0) {
        const double magnitude = std::abs(acc.value());
        trace->cancellation =
            std::max(trace->cancellation, magnitude > 0.0 ? largest / magnitude : std::numeric_limits<double>::infinity());
      }
      return acc;
    }
    case Kind::Pow: {
      const TopOnly top(trace, false);
      auto b = evaluate(node.kids[0], variables, budget, trace);
      auto e = b ? evaluate(node.kids[1], variables, budget, trace) : std::nullopt;
      if (!e) return std::nullopt;
      auto r = power(*b, *e, budget);
      if (trace && r && is_real(*b) && is_real(*e) && !is_real(*r)) trace->left_reals = true;
      return r;
    }
    case Kind::Func: {
      const TopOnly top(trace, false);
      std::vector<Number> args;
      for (const Node& kid : node.kids) {
        auto v = evaluate(kid, variables, budget, trace);
        if (!v) return std::nullopt;
        args.push_back(*v);
      }
      auto r = apply(node.name, args, budget);
      if (trace && r && std::all_of(args.begin(), args.end(), is_real) && !is_real(*r)) trace->left_reals = true;
      return r;
    }
    default:
      return std::nullopt;
  }
}

void collect_variables(const Node& node, std::vector<std::string>& names) {
  if (node.kind == Kind::Sym && node.name != "\\pi" && node.name != "e" && node.name != "i" &&
      std::find(names.begin(), names.end(), node.name) == names.end())
    names.push_back(node.name);
  for (const Node& kid : node.kids) collect_variables(kid, names);
}

}  // namespace cotnpot::answer
