#include "cotnpot/answer/equiv.h"

#include <algorithm>
#include <optional>
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>

#include "cotnpot/answer/detail/ascii.h"
#include "cotnpot/answer/detail/big_integer.h"
#include "cotnpot/answer/detail/number_ops.h"
#include "cotnpot/answer/detail/wide_compare.h"
#include "cotnpot/answer/expr.h"
#include "cotnpot/answer/extract.h"
#include "cotnpot/answer/limits.h"
#include "cotnpot/answer/normalize.h"

namespace cotnpot::answer {
namespace {

// An answer normalized and parsed once, compared many times (voting compares each with many others).
struct Prepared {
  std::string text;
  bool percent = false;
  std::optional<Node> node;
  std::string label;   // "x" of "x = 3", which normalizing removed (text "3")
  bool percent_inside = false;   // and the form with percent signs as factors (normalize.h)
  std::string percent_factors;
  std::string temperature_scales;   // "C" of "30 °C", "CF" of "30 °C, 40 °F": normalizing removed them
};

Prepared prepare(std::string_view answer, Budget& budget) {
  Normalized n = normalize_answer(answer);
  Prepared p{std::move(n.text), n.had_percent, std::nullopt, std::move(n.label), n.percent_inside,
             std::move(n.percent_factors), std::move(n.temperature_scales)};
  p.node = parse_answer(p.text, budget);
  return p;
}

// The answer with its percent signs as factors of 1/100; itself where it has none.
Prepared with_percent_factors(const Prepared& p, Budget& budget) {
  if (p.percent_factors.empty()) return p;
  Prepared q{p.percent_factors, false, std::nullopt, "", false, "", p.temperature_scales};
  q.node = parse_answer(q.text, budget);
  return q;
}

class Comparer {
 public:
  Comparer(const EquivOptions& options, Budget& budget) : options_(options), budget_(budget) {}

  bool equal(const Node& a, const Node& b) {
    if (!budget_.spend()) return false;
    // "a=3,b=1;a=4,b=1" is the solution set (3,1),(4,1).
    if (auto grouped = solution_tuples(a)) return equal(*grouped, b);
    if (auto grouped = solution_tuples(b)) return equal(a, *grouped);
    // "a < x < b" is the interval (a, b) (both sides constant, one op throughout).
    if (b.kind != Kind::Relation || options_.set_relation)
      if (auto interval = chain_interval(a)) return equal(*interval, b);
    if (a.kind != Kind::Relation || options_.set_relation)
      if (auto interval = chain_interval(b)) return equal(a, *interval);
    // With set_relation, "x > 2" is the ray (2, \infty) against an interval (it had differed; a breaker)
    if (options_.set_relation && b.kind != Kind::Relation)
      if (auto ray = one_sided_interval(a)) return equal(*ray, b);
    if (options_.set_relation && a.kind != Kind::Relation)
      if (auto ray = one_sided_interval(b)) return equal(a, *ray);
    if (options_.set_relation && is_assignment(a) && a.name == "\\in")   // "x \in (2, \infty)" against "x > 2"
      if (auto ray = one_sided_interval(b)) return equal(a.kids[1], *ray);
    if (options_.set_relation && is_assignment(b) && b.name == "\\in")
      if (auto ray = one_sided_interval(a)) return equal(*ray, b.kids[1]);
    // Equations: "x = 3" stands for 3; a chain "a = b = c" for its last side.
    if (is_assignment(a) && is_assignment(b) && a.kids[0].name == b.kids[0].name) return equal(a.kids[1], b.kids[1]);
    if (is_assignment(a) && b.kind != Kind::Relation) return equal(a.kids[1], b);
    if (is_assignment(b) && a.kind != Kind::Relation) return equal(a, b.kids[1]);
    if (b.kind == Kind::Relation && a.kind != Kind::Relation) return value_of_chain(b, a);
    if (a.kind == Kind::Relation && b.kind != Kind::Relation) return value_of_chain(a, b);
    if (a.kind == Kind::Relation && b.kind == Kind::Relation) return relations_equal(canonical(a), canonical(b));

    // expand copies both sides of the \pm: charged by their size, or a 4 KB gold against many items took
    // half a second within few steps (found by a breaker)
    if (a.kind == Kind::PlusMinus) return budget_.spend(size_of(a)) && equal(expand(a), b);
    if (b.kind == Kind::PlusMinus) return budget_.spend(size_of(b)) && equal(a, expand(b));

    // A bare list against a parenthesized tuple: "{1,3}" (LaTeX grouping) vs "(1,3)", in order.
    if ((a.kind == Kind::List && b.kind == Kind::Tuple && b.open == '(') ||
        (b.kind == Kind::List && a.kind == Kind::Tuple && a.open == '('))
      return ordered_equal(a.kids, b.kids);
    const bool a_unordered = a.kind == Kind::List || a.kind == Kind::Set;
    const bool b_unordered = b.kind == Kind::List || b.kind == Kind::Set;
    if (a_unordered || b_unordered) {
      // a set of one value against that value: \{5\} is 5 (as in Math-Verify; a breaker); not a set of a set
      const auto singleton = [](const Node& n) {
        return n.kind == Kind::Set && n.kids.size() == 1 && n.kids[0].kind != Kind::Set;
      };
      if (singleton(a) && !b_unordered) return equal(a.kids[0], b);
      if (singleton(b) && !a_unordered) return equal(a, b.kids[0]);
      if (!(a_unordered && b_unordered)) return false;
      if (has_plus_minus(a.kids) || has_plus_minus(b.kids)) {
        const auto items_a = with_plus_minus_expanded(a.kids), items_b = with_plus_minus_expanded(b.kids);
        return items_a && items_b && unordered_equal(*items_a, *items_b);
      }
      return unordered_equal(a.kids, b.kids);
    }
    if (a.kind == Kind::Union || b.kind == Kind::Union) {
      return a.kind == b.kind && unordered_equal(a.kids, b.kids);
    }
    if (a.kind == Kind::Tuple && b.kind == Kind::Tuple && a.kids.size() == 1 && b.kids.size() == 1)
      return equal(a.kids[0], b.kids[0]);
    if (a.kind == Kind::Tuple && a.kids.size() == 1 && a.open == '[' && b.kind != Kind::Tuple) return equal(a.kids[0], b);
    if (b.kind == Kind::Tuple && b.kids.size() == 1 && b.open == '[' && a.kind != Kind::Tuple) return equal(a, b.kids[0]);
    if (a.kind == Kind::Tuple || a.kind == Kind::Interval || a.kind == Kind::Matrix || b.kind == Kind::Tuple ||
        b.kind == Kind::Interval || b.kind == Kind::Matrix) {
      if (a.kind != b.kind || a.open != b.open || a.close != b.close || a.cols != b.cols ||
          a.kids.size() != b.kids.size())
        return false;
      for (size_t i = 0; i < a.kids.size(); ++i)
        if (!equal(a.kids[i], b.kids[i])) return false;
      return true;
    }
    return scalars_equal(a, b);
  }

 private:
  // A list of assignments whose variables repeat in one order ("a=3, b=1, a=4, b=1") as the list of the
  // tuples of their values ("(3,1), (4,1)"); nullopt for anything else (one variable: a list already).
  static std::optional<Node> solution_tuples(const Node& n) {
    if (n.kind != Kind::List || n.kids.size() < 4) return std::nullopt;
    for (const Node& k : n.kids)
      if (!is_assignment(k) || k.name != "=") return std::nullopt;
    size_t period = 1;
    while (period < n.kids.size() && n.kids[period].kids[0].name != n.kids[0].kids[0].name) ++period;
    if (period < 2 || period == n.kids.size() || n.kids.size() % period != 0) return std::nullopt;
    for (size_t i = 0; i < n.kids.size(); ++i)
      if (n.kids[i].kids[0].name != n.kids[i % period].kids[0].name) return std::nullopt;
    for (size_t i = 0; i < period; ++i)
      for (size_t j = i + 1; j < period; ++j)
        if (n.kids[i].kids[0].name == n.kids[j].kids[0].name) return std::nullopt;
    Node list;
    list.kind = Kind::List;
    for (size_t start = 0; start < n.kids.size(); start += period) {
      Node tuple;
      tuple.kind = Kind::Tuple;
      tuple.open = '(';
      tuple.close = ')';
      for (size_t i = start; i < start + period; ++i) tuple.kids.push_back(n.kids[i].kids[1]);
      list.kids.push_back(std::move(tuple));
    }
    return list;
  }

  // "x = 3": a variable named (not a constant: "\pi \approx 3.14" states 3.14 of \pi, a chain; a breaker).
  static bool is_assignment(const Node& n) {
    if (n.kind != Kind::Relation || !(n.name == "=" || n.name == "\\in" || n.name == "\\approx") ||
        n.kids.size() != 2 || n.kids[0].kind != Kind::Sym)
      return false;
    std::vector<std::string> vars;
    collect_variables(n.kids[0], vars);
    return !vars.empty();
  }

  // A name for a value: symbols, products and quotients of them, tuples of them ("x", "AB", "NO/BO",
  // "(p,q)"), or a constant. "a + 3z" is not: "a + 3z = 0" does not state the value 0. Nor are a multiple
  // or a power of a name ("2x", "x^2", "\\sqrt{x}"): "2x = 3" does not say x is 3, yet it matched the gold
  // "x = 3" (found by a breaker; Math-Verify refuses them too).
  static bool is_label(const Node& n) { return is_label_part(n, true); }

  static bool is_label_part(const Node& n, bool whole) {
    switch (n.kind) {
      case Kind::Sym:
        return true;
      case Kind::Num:   // a constant names itself ("1/2 = 10/9"), but a factor of a name scales it
        return whole;
      case Kind::Mul:
        if (std::all_of(n.kids.begin(), n.kids.end(), [](const Node& k) { return k.kind == Kind::Num || (
                k.kind == Kind::Pow && k.kids[0].kind == Kind::Num); }))
          return whole;   // a constant written as a product or quotient of numbers
        return std::all_of(n.kids.begin(), n.kids.end(), [](const Node& k) { return is_label_part(k, false); });
      case Kind::Pow:   // only a quotient's denominator (a / b is a * b^-1)
        return n.kids.size() == 2 && n.kids[1].kind == Kind::Num && n.kids[1].num.exact && n.kids[1].num.p == -1 &&
               n.kids[1].num.q == 1 && is_label_part(n.kids[0], false);
      case Kind::Tuple:
      case Kind::List:
        return std::all_of(n.kids.begin(), n.kids.end(), [](const Node& k) { return is_label_part(k, true); });
      case Kind::Func:   // |PQ|, \\overline{AB} as a length: a label too
        return n.name == "abs" && is_label_part(n.kids[0], false);
      default:
        return false;
    }
  }

  // "x = 1/3 \approx 0.33", "(p,q) = (3,2)" or "1/2 = 10/9" against a value: the value must be one of the
  // sides after the first (with \approx after a constant, the first too), and the first side a label. Of a
  // longer chain ("x = 1+1+1 = 2+1 = 3": a derivation) only the last side counts: "x = 1 = 2 = ... = 199"
  // would otherwise match any of its values (found by a breaker). Of two values, both count only where one
  // is a written decimal that the other rounds to (rounds_to: "1/3 \approx 0.33" matches either); else one
  // counts, as in Math-Verify: after "=" the last ("x = 3 = 100" is 100), around
  // "\approx" the exact one before it ("x = 1/3 \approx 1.3" is 1/3). "x = 3 \approx 100" had matched both 3
  // and 100, a hedge a policy could learn (a later breaker); so had "n = 2016 = 2017", within 1% (a later one).
  bool value_of_chain(const Node& chain, const Node& value) {
    if (chain.name != "=" && chain.name != "\\approx" && chain.name != "mixed") return false;
    std::vector<std::string> vars;
    collect_variables(chain.kids[0], vars);
    // Any side without a variable names itself too: "\\frac{2}{5} \\times 100 = 40", and "15\\% \\times 80 = 12"
    // once its percent sign is a factor (a breaker: the factor form had stopped equalling 12).
    if (!vars.empty() && !is_label(chain.kids[0])) return false;
    size_t first = (chain.name != "=" && vars.empty()) ? 0 : 1;
    if (chain.kids.size() - first > 2) first = chain.kids.size() - 1;
    const size_t last = chain.kids.size() - 1;
    if (last - first == 1 && !rounds_to(chain.kids[first], chain.kids[last]) &&
        !rounds_to(chain.kids[last], chain.kids[first]))
      return equal(chain.kids[chain.name == "=" ? last : first], value);
    for (size_t i = first; i < chain.kids.size(); ++i)
      if (equal(chain.kids[i], value)) return true;
    return false;
  }

  // `rounded` is a written decimal (a number, or its negation) and `value`, a constant, rounded to its places:
  // 0.33 of 1/3, 3.14 of \pi. Not within 1% of it: "n = 2016 = 2017" had matched both 2016 and 2017 (a
  // breaker), and then "n = 2016 = 2017.0" (a reviewer).
  bool rounds_to(const Node& value, const Node& rounded) {
    const Node& number = rounded.kind == Kind::Neg && rounded.kids.size() == 1 ? rounded.kids[0] : rounded;
    if (number.kind != Kind::Num || number.decimals < 0 || number.decimals > 17) return false;
    const auto x = evaluate(value, {}, budget_), y = evaluate(rounded, {}, budget_);
    if (!x || !y || std::abs(x->value().imag()) > 0.0 || std::abs(y->value().imag()) > 0.0) return false;
    const double difference = std::abs(x->value().real() - y->value().real());
    return std::isfinite(difference) && difference <= 0.5 * std::pow(10.0, -number.decimals) * (1.0 + 1e-9);
  }

  // |a - b| within `tol` of the larger magnitude (and 1e-12 absolute), both finite.
  static bool relatively_close(std::complex<double> a, std::complex<double> b, double tol) {
    if (!std::isfinite(a.real()) || !std::isfinite(b.real()) || !std::isfinite(a.imag()) || !std::isfinite(b.imag()))
      return false;
    return std::abs(a - b) <= tol * std::max(std::abs(a), std::abs(b)) + 1e-12;
  }

  // "a < x \\le b" (any mix of < and \\le, or of > and \\ge read right to left) is the interval (a, b]:
  // both ends constant (the middle is what ranges: x, f(x), ...).
  static std::optional<Node> chain_interval(const Node& n) {
    if (n.kind != Kind::Relation || n.kids.size() != 3) return std::nullopt;
    const auto ascending = [](char c) { return c == '<' || c == 'l'; };
    const auto descending = [](char c) { return c == '>' || c == 'g'; };
    const bool up = ascending(n.open) && ascending(n.close), down = descending(n.open) && descending(n.close);
    if (!up && !down) return std::nullopt;
    std::vector<std::string> vars;
    collect_variables(n.kids[0], vars);
    collect_variables(n.kids[2], vars);
    if (!vars.empty()) return std::nullopt;
    const Node& low = up ? n.kids[0] : n.kids[2];
    const Node& high = up ? n.kids[2] : n.kids[0];
    const bool open_low = (up ? n.open : n.close) == '<' || (up ? n.open : n.close) == '>';
    const bool open_high = (up ? n.close : n.open) == '<' || (up ? n.close : n.open) == '>';
    Node interval;  // (a, b) parses as a tuple, so the open interval is one too
    interval.kind = open_low && open_high ? Kind::Tuple : Kind::Interval;
    interval.open = open_low ? '(' : '[';
    interval.close = open_high ? ')' : ']';
    interval.kids = {low, high};
    return interval;
  }

  // "x > c" (or "c < x", with \ge, \le) for a variable x and a constant c: the ray (c, \infty), [c, \infty),
  // (-\infty, c) or (-\infty, c]; nullopt for anything else.
  static std::optional<Node> one_sided_interval(const Node& n) {
    if (n.kind != Kind::Relation || n.kids.size() != 2) return std::nullopt;
    const Node rel = canonical(n);   // now < or \le
    if (rel.name != "<" && rel.name != "\\le") return std::nullopt;
    std::vector<std::string> left, right;
    collect_variables(rel.kids[0], left);
    collect_variables(rel.kids[1], right);
    const bool variable_left = rel.kids[0].kind == Kind::Sym && left.size() == 1 && right.empty();
    const bool variable_right = rel.kids[1].kind == Kind::Sym && right.size() == 1 && left.empty();
    if (!variable_left && !variable_right) return std::nullopt;
    Node infinity;
    infinity.kind = Kind::Infinity;
    const bool closed = rel.name == "\\le";
    Node interval;
    if (variable_right) {   // c < x: (c, \infty)
      interval.kids = {rel.kids[0], infinity};
      interval.open = closed ? '[' : '(';
      interval.close = ')';
    } else {                // x < c: (-\infty, c)
      Node minus_infinity;
      minus_infinity.kind = Kind::Neg;
      minus_infinity.kids = {infinity};
      interval.kids = {minus_infinity, rel.kids[1]};
      interval.open = '(';
      interval.close = closed ? ']' : ')';
    }
    interval.kind = interval.open == '(' && interval.close == ')' ? Kind::Tuple : Kind::Interval;  // as chain_interval
    return interval;
  }

  // a > b as b < a, a \ge b as b \le a.
  static Node canonical(const Node& rel) {
    if (rel.kids.size() != 2 || (rel.name != ">" && rel.name != "\\ge")) return rel;
    Node flipped = rel;
    flipped.name = rel.name == ">" ? "<" : "\\le";
    std::swap(flipped.kids[0], flipped.kids[1]);
    return flipped;
  }

  bool ordered_equal(const std::vector<Node>& a, const std::vector<Node>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (!equal(a[i], b[i])) return false;
    return true;
  }

  static long size_of(const Node& n) {
    long size = 1;
    for (const Node& kid : n.kids) size += size_of(kid);
    return size;
  }

  static Node expand(const Node& pm) {
    Node plus;
    plus.kind = Kind::Add;
    plus.kids = {pm.kids[0], pm.kids[1]};
    Node minus_b;
    minus_b.kind = Kind::Neg;
    minus_b.kids = {pm.kids[1]};
    Node minus;
    minus.kind = Kind::Add;
    minus.kids = {pm.kids[0], minus_b};
    Node list;
    list.kind = Kind::List;
    list.kids = {plus, minus};
    return list;
  }

  static bool has_plus_minus(const std::vector<Node>& items) {
    return std::any_of(items.begin(), items.end(), [](const Node& n) { return n.kind == Kind::PlusMinus; });
  }

  // The items of a list or set with each a \pm b among them as its two values, charged by size as expand
  // is: \{1\pm\sqrt{5}, -2\} is \{1+\sqrt{5}, 1-\sqrt{5}, -2\} (a MATH500 gold had matched neither; a breaker).
  std::optional<std::vector<Node>> with_plus_minus_expanded(const std::vector<Node>& items) {
    std::vector<Node> out;
    for (const Node& item : items) {
      if (item.kind != Kind::PlusMinus) {
        out.push_back(item);
        continue;
      }
      if (!budget_.spend(size_of(item))) return std::nullopt;
      for (Node& value : expand(item).kids) out.push_back(std::move(value));
    }
    return out;
  }

  bool unordered_equal(const std::vector<Node>& a, const std::vector<Node>& b) {
    if (a.size() != b.size()) return false;
    std::vector<bool> used(b.size(), false);
    for (const Node& x : a) {
      bool found = false;
      for (size_t j = 0; j < b.size() && !found; ++j) {
        if (!used[j] && equal(x, b[j])) used[j] = found = true;
      }
      if (!found) return false;
    }
    return true;
  }

  bool relations_equal(const Node& a, const Node& b) {
    if (a.name == b.name && a.kids.size() == b.kids.size()) {
      bool all = true;
      for (size_t i = 0; i < a.kids.size() && all; ++i) all = equal(a.kids[i], b.kids[i]);
      if (all) return true;
    }
    // Two-sided relations: the same up to a non-zero factor, e.g. 2x = 4 and x - 2 = 0; for inequalities
    // the factor must be positive (-x > -1 is x < 1).
    if (a.name != b.name || a.kids.size() != 2 || b.kids.size() != 2) return false;
    const bool ordered = a.name == "<" || a.name == "\\le";
    std::vector<std::string> vars;
    for (const Node* n : {&a, &b}) collect_variables(*n, vars);
    const bool written_exact = !has_decimal(a) && !has_decimal(b);
    std::optional<Number> ratio;
    double magnitude = 0.0;   // the largest difference seen
    for (int k = 0; k < kIntegerEnd; ++k) {
      if (k == kSmallEnd) k = kLargeEnd;   // relations: no large points
      const auto env = point(vars, k);
      EvalTrace trace;
      auto d1 = difference(a, env, trace), d2 = difference(b, env, trace);
      if (budget_.exhausted()) return false;
      if (k >= kPositivePoints && (!d1 || !d2 || trace.left_reals)) continue;   // outside the real domain
      if (k >= kLargeEnd && !(written_exact && d1->exact && d2->exact)) continue;   // integer points: exact only
      if (!d1 || !d2) return false;
      const std::complex<double> v1 = d1->value(), v2 = d2->value();
      if (std::abs(v1) < 1e-12 && std::abs(v2) < 1e-12) continue;
      if (std::abs(v2) < 1e-12) return false;
      std::optional<Number> r;   // exact where both differences are (x^2 + 1000000 = 0 is not x^2 + 1000001 = 0)
      if (written_exact && d1->exact && d2->exact)
        if (auto inverse = detail::power(*d2, Number::rational(-1), budget_)) r = detail::mul(*d1, *inverse, budget_);
      if (!r) r = Number::inexact(v1 / v2);
      const std::complex<double> rv = r->value();
      if (std::abs(rv) < 1e-12) return false;
      if (ratio && !(written_exact && r->exact && ratio->exact
                         ? same_exact(*r, *ratio)
                         : std::abs(rv - ratio->value()) <= options_.rel_tol * std::abs(ratio->value()) + 1e-9))
        return false;
      if (ordered && (std::abs(rv.imag()) > 1e-9 || rv.real() <= 0)) return false;
      ratio = r;
      magnitude = std::max({magnitude, std::abs(v1), std::abs(v2)});
    }
    return !ratio || (written_exact && ratio->exact) || scaled_ratio_holds(a, b, vars, *ratio, ordered, magnitude,
                                                                           written_exact ? 1e-9 : options_.rel_tol);
  }

  // Where a constant dwarfs what the sides vary by at the sample points, the ratio of two relations is nearly
  // constant there whatever the constant: 3x = 3000000 had equalled 3x = 3600000.0, x^2 + y^2 = 10000
  // equalled x^2 + y^2 = 10001.0 (a breaker). So the ratio is checked again with the variables scaled to the
  // differences' size (magnitude): by its square root and by itself. Exact relations are compared exactly
  // (relations_equal); a point outside the domain, or where a difference cancels to noise, is no evidence.
  // Written without a decimal (x + y = 10^7 + \sqrt{2}), within float error: `tolerance` is 1e-9 then.
  bool scaled_ratio_holds(const Node& a, const Node& b, const std::vector<std::string>& vars, const Number& ratio,
                          bool ordered, double magnitude, double tolerance) {
    if (vars.empty() || !(magnitude > 100.0) || !std::isfinite(magnitude)) return true;
    const std::complex<double> wanted = ratio.value();
    for (const double factor : {std::sqrt(magnitude), magnitude})
      for (int k = 0; k < kPositivePoints; ++k) {
        auto env = point(vars, k);
        for (auto& entry : env) entry.second *= factor;
        EvalTrace trace;
        auto d1 = difference(a, env, trace), d2 = difference(b, env, trace);
        if (budget_.exhausted()) return false;
        if (!d1 || !d2 || trace.left_reals) continue;
        const std::complex<double> v1 = d1->value(), v2 = d2->value();
        if (!std::isfinite(std::abs(v1)) || !std::isfinite(std::abs(v2))) continue;
        if (std::max(std::abs(v1), std::abs(v2)) <= 1e-6 * trace.largest_term) continue;   // cancelled to noise
        if (std::abs(v2) == 0.0) return false;
        const std::complex<double> rv = v1 / v2;
        if (std::abs(rv - wanted) > tolerance * std::abs(wanted) + 1e-12) return false;
        if (ordered && rv.real() <= 0) return false;
      }
    return true;
  }

  // The two sides' difference, exact where both sides are.
  std::optional<Number> difference(const Node& rel, const std::map<std::string, double>& env, EvalTrace& trace) {
    auto l = evaluate(rel.kids[0], env, budget_, &trace), r = evaluate(rel.kids[1], env, budget_, &trace);
    if (!l || !r) return std::nullopt;
    return detail::add(*l, detail::neg(*r), budget_);
  }

  // A number written with a decimal point anywhere in n: its author may have rounded, so values computed
  // from it are compared within rel_tol (0.333x is x/3 at math_equal's 1e-4) and within that rounding
  // (within_rounding), never exactly.
  static bool has_decimal(const Node& n) {
    if (n.decimals >= 0) return true;
    for (const Node& kid : n.kids)
      if (has_decimal(kid)) return true;
    return false;
  }

  // The decimals written in n, in a fixed walk order (so that a copy's are found at the same places).
  static void decimal_leaves(Node& n, std::vector<Node*>& out) {
    if (n.kind == Kind::Num && n.decimals >= 0) out.push_back(&n);
    for (Node& kid : n.kids) decimal_leaves(kid, out);
  }

  // Whether the written decimals of a and b can explain the difference of their values x and y at env: each
  // decimal stands for anything within half a unit of its last digit (33.333 for [33.3325, 33.3335]; 0.13
  // for 0.125, rounded half up), and the larger effect of moving it either way is summed over all of them.
  // rel_tol alone let x + 1000000.5 equal x + 1000000 and 0.5x + 10^7 equal x/2 + 10^7 + 1 (a breaker),
  // while the constants 1000000.5 and 1000000 were already different. No verdict (nullopt) for a decimal of
  // 15+ significant digits, a float's repr, left to rel_tol as for constants; nor where the check would
  // take more than a quarter of the budget left (it evaluates each side twice per decimal: many decimals,
  // equal in any order, had run the budget out, a difference then).
  std::optional<bool> within_rounding(const Node& a, const Node& b, const std::map<std::string, double>& env,
                                      const Number& x, const Number& y) {
    std::vector<Node*> counted;
    Node a_copy = a, b_copy = b;
    decimal_leaves(a_copy, counted);
    const size_t in_a = counted.size();
    decimal_leaves(b_copy, counted);
    const long cost = 2 * long(counted.size()) * (size_of(a) + size_of(b)) + size_of(a) + size_of(b);
    if (cost > (kMaxSteps - budget_.steps) / 4 || !budget_.spend(size_of(a) + size_of(b))) return std::nullopt;
    double allowance = 0.0;
    for (size_t i = 0; i < counted.size(); ++i) {
      Node* leaf = counted[i];
      if (!leaf->num.exact || leaf->num.big || looks_computed(leaf->num) || leaf->decimals > 17) return std::nullopt;
      const Node& side = i < in_a ? a_copy : b_copy;
      const Number& value = i < in_a ? x : y;
      const Number written = leaf->num;
      int64_t unit = 2;   // 2 * 10^decimals: half a unit of the last digit is 1 / unit
      for (int d = 0; d < leaf->decimals; ++d) unit *= 10;
      double largest = 0.0;
      for (const int64_t sign : {1, -1}) {
        leaf->num = detail::add(written, Number::rational(sign, unit), budget_);
        auto moved = evaluate(side, env, budget_);
        leaf->num = written;
        if (!moved || budget_.exhausted()) return std::nullopt;
        largest = std::max(largest, std::abs(moved->value() - value.value()));
      }
      allowance += largest;
    }
    const double difference = std::abs(x.value() - y.value());
    const double scale = std::max(std::abs(x.value()), std::abs(y.value()));
    return difference <= allowance * (1.0 + 1e-9) + kFloatNoise * scale;
  }

  // The sample points of expressions with variables: five with positive values, then three with negative
  // ones (all negative twice, alternating signs once), which tell |x| and \sqrt{x^2} from x (a breaker);
  // six of magnitudes in [0.1, 0.45], four positive: the domain of \arcsin 2x, \sqrt{1-4x^2} and
  // \sqrt{\frac{x}{1-2x}}, and where |4x^2-1| differs from 4x^2-1 (\cos(\arcsin x) had not equalled
  // \sqrt{1-x^2}; a breaker); then, only where those left fewer than three real points, three in [3.5, 9]
  // (\ln(x-2)-\ln(x-3), real from 3 on). Last, three at small integers, where a polynomial with integer
  // coefficients stays exact however large (as a big integer): there, exact values that differ refute
  // (x^{10}+10^8 had equalled x^{10}+10^8+1: at the other points x^{10} overflowed int64 and rel_tol decided).
  static constexpr int kPositivePoints = 5, kPoints = 8, kSmallEnd = 14, kLargeEnd = 17, kIntegerEnd = 20;

  // Deterministic "random" values in [0.6, 2.4], on a grid of 1/64, for each variable at sample k; for
  // k >= kPositivePoints the values of sample k - kPositivePoints negated, and scaled (x 1, 2.5, 1.5) so that
  // |x + 3| is told from x + 3 too; the later classes as above. A golden-ratio style sequence per variable,
  // each with a step of its own: the earlier formula stepped 0.032 a sample for a lone variable, all five
  // points in [1.40, 1.64] (a breaker).
  static std::map<std::string, double> point(const std::vector<std::string>& vars, int k) {
    static constexpr double kSteps[] = {0.6180339887, 0.4142135624, 0.7320508076, 0.2360679775,
                                        0.6457513111, 0.3166247904, 0.6055512755, 0.1231056256};
    static constexpr double kNegativeScale[] = {1.0, 2.5, 1.5};
    const int j = k >= kLargeEnd  ? k - kLargeEnd
                  : k >= kSmallEnd ? k - kSmallEnd
                  : k >= kPoints   ? k - kPoints
                                   : k % kPositivePoints;   // a negative point: its positive one's value
    static constexpr double kIntegers[] = {3, -2, 5, 7, -3};
    std::map<std::string, double> env;
    for (size_t v = 0; v < vars.size(); ++v) {
      const double step = kSteps[v % 8] + 0.0710678119 * double(v / 8);
      const double u = std::fmod(0.5 + 0.3819660113 * double(v) + step * double(j + 1), 1.0);
      const bool negative = k >= kPositivePoints && (k != kPoints - 1 || v % 2 == 0);
      const double value = k >= kLargeEnd ? kIntegers[(j + v) % 5] * double(1 + v / 5)   // v, v + 5 apart
                           : k >= kSmallEnd ? 3.5 + 5.5 * u
                           : k >= kPoints   ? ((k - kPoints + int(v)) % 3 == 2 ? -1.0 : 1.0) * (0.1 + 0.35 * u)
                           : negative       ? -kNegativeScale[j] * (0.6 + 1.8 * u)
                                            : 0.6 + 1.8 * u;
      env[vars[v]] = std::round(value * kSampleGrid) / kSampleGrid;   // exact rationals (evaluate)
    }
    return env;
  }

  // The quad-precision verdict on a and b (written without a decimal) at env, whose values in doubles are x
  // and y (detail/wide_compare.h); nullopt where it has none, and where both are exact (the exact rules
  // decide) or either is past a double's range without an irrational part: such a value equals nothing but
  // its own text (10^{1001} had equalled 10^{1001} + 1 in quad precision, which holds them but not their
  // last digit; a breaker).
  std::optional<bool> quad_verdict(const Node& a, const Node& b, const std::map<std::string, double>& env,
                                   const Number& x, const Number& y, bool percent, bool refute_only = false) {
    if (x.exact && y.exact) return std::nullopt;
    // e^{(x+1)^6} is its expanded form (e^{1544} at a sample point; in doubles both were inf, which equals
    // nothing)
    const bool finite = std::isfinite(std::abs(x.value())) && std::isfinite(std::abs(y.value()));
    if (!finite && !(has_irrational_part(a) && has_irrational_part(b))) return std::nullopt;
    return detail::wide_equal(
        a, b, {std::max(1e-9, options_.rel_tol), x.is_integer() || y.is_integer(), percent, refute_only}, budget_, env);
  }

  // Whether n holds \pi, e, a function other than |.|, ! and \binom, or a power that is not a whole number's:
  // a part whose value is irrational for almost every argument.
  static bool has_irrational_part(const Node& n) {
    if (n.kind == Kind::Sym && (n.name == "\\pi" || n.name == "e")) return true;
    if (n.kind == Kind::Func && n.name != "abs" && n.name != "factorial" && n.name != "binom") return true;
    if (n.kind == Kind::Pow) {
      const Node& exponent = n.kids[1].kind == Kind::Neg ? n.kids[1].kids[0] : n.kids[1];
      if (!(exponent.kind == Kind::Num && exponent.num.is_integer())) return true;
    }
    for (const Node& kid : n.kids)
      if (has_irrational_part(kid)) return true;
    return false;
  }

  // Far points for refutation (scalars_equal), where the build has quad precision: magnitudes 12 to 613
  // (|x-40| had equalled 40-x with the first three alone: a second breaker), two negative for a lone
  // variable, the signs of every other variable flipped; off the 1/64 grid (inexact, so quad precision
  // compares them), where \sin(64\pi x) vanishes at every other point (it had equalled 0; a breaker).
  static constexpr int kFarPoints = 5;
  static std::map<std::string, double> far_point(const std::vector<std::string>& vars, int j) {
    static constexpr double kMagnitudes[] = {12.3456789012, 31.1734113571, 23.4519331729, 97.2718281828,
                                             613.1415926535};
    std::map<std::string, double> env;
    for (size_t v = 0; v < vars.size(); ++v) {
      static constexpr double kSigns[] = {1.0, 1.0, -1.0, -1.0, 1.0};
      const double sign = kSigns[j] * (v % 2 == 1 ? -1.0 : 1.0);
      env[vars[v]] = sign * (kMagnitudes[j] + 1.390625 * double(v % 16));
    }
    return env;
  }

  // How two values at one sample point compare: equal, different, or equal only within what a cancelling sum
  // at the top may have lost in floats (a multiple of its largest term) where that is more than rel_tol of
  // the values. Such a point is no evidence either way (the sampling loop counts it as no real point):
  // accepted as equal, one answer whose sum cancels huge terms (10^{30}\sqrt{2} - 10^{30}\sqrt{2},
  // x^2 + e^{100} - e^{100}) had equalled any value at all (a breaker), while a point near a root of an
  // expanded polynomial still loses more than rel_tol there, and the other points decide.
  enum class Agreement { Equal, Different, WithinCancellation };

  // Both exact, with no decimal written on either side (written_exact): equal or not, as exact values are
  // (100001n had equalled 100000n at rel_tol 1e-4, x^2 + 1000000 equalled x^2 + 1000001 at any rel_tol: a
  // breaker). Else within rel_tol, or within float error where no decimal is written (within_float_error);
  // within a billionth of a cancelling sum's largest term ((5x+7)^4 and its expansion differ by 1.6e-5 of
  // their value near -7/5), WithinCancellation.
  Agreement sampled_agreement(const Number& x, const Number& y, const EvalTrace& trace, bool written_exact) const {
    if (written_exact && x.exact && y.exact) return same_exact(x, y) ? Agreement::Equal : Agreement::Different;
    if (written_exact ? within_float_error(x, y, trace)
                      : numbers_equal(Number::inexact(x.value()), Number::inexact(y.value()), /*decimals_written=*/true))
      return Agreement::Equal;
    const double d = std::abs(x.value() - y.value());
    const double lost = (written_exact ? 1e-13 : std::min(options_.rel_tol, 1e-9)) * trace.largest_term;
    return std::isfinite(d) && d <= lost + 1e-12 ? Agreement::WithinCancellation : Agreement::Different;
  }

  // Two values of expressions written without a decimal, one of them irrational (\sqrt{2}, \pi, e^x): both
  // stand for exact values, so they differ by float error at most, or they are not equal. rel_tol had made
  // \sqrt{2} + 10^7 equal \sqrt{2} + 10^7 + 1 (1e-7 apart; a breaker). Float error here is
  //  - relative: a billionth, or 1e-14 times what a sum cancelled (EvalTrace::cancellation:
  //    1/(\sqrt{10^8+1} - 10^4) is 2e-8 off its rationalized form; breakers), never more than rel_tol;
  //  - a few hundred ulps of the largest term a cancelling sum added (\sqrt{2}\sqrt{2} - 2 is 4e-16; not a
  //    billionth of it, which made \pi + 10^{10} - 10^{10} equal \pi + 1: a breaker);
  //  - never more than rel_tol of the values: 10^{30}\sqrt{2} - 10^{30}\sqrt{2} had equalled 42 (a breaker),
  //    and a cap of 1e-4 let a padding 10^{15}\sqrt{2} - 10^{15}\sqrt{2}, or a sum cancelling inside a
  //    function, widen any comparison to 1e-4 (a later one). So (2-\sqrt{3})^{10}, 3e-5 off its expansion
  //    262087 - 151316\sqrt{3} in doubles, is not equal to it here: real constants are compared in quad
  //    precision first (detail/wide_compare.h), and this rule decides for the rest. Against an
  //    integer, nearer to it than to any other (10^{12} + \sqrt{2} had equalled some 2,000 integers);
  //  - 1e-12 absolute, for zeros that a function computes as noise (\sin\pi is 1.2e-16, \cos\frac{\pi}{2}
  //    6e-17: polar coordinates and rotation matrices had stopped equalling their values; a breaker).
  bool within_float_error(const Number& x, const Number& y, const EvalTrace& trace) const {
    const std::complex<double> a = x.value(), b = y.value();
    const double d = std::abs(a - b), scale = std::max(std::abs(a), std::abs(b));
    const double most = std::max(1e-9, options_.rel_tol);
    const double relative = std::min(std::max(1e-9, 1e-14 * trace.cancellation), most);
    const bool integer = x.is_integer() || y.is_integer();   // big ones too (2^{70} + 12345, a breaker)
    return std::isfinite(d) && (!integer || d < 0.5) &&
           d <= std::min(std::max(relative * scale, 1e-13 * trace.largest_term), most * scale) + 1e-12;
  }

  // Tiny values written as numbers (1.6 \times 10^{-19}, 1.6e-19: past int64's denominators, so doubles). With
  // no function, constant or root on either side there is no function's noise for relatively_close's 1e-12
  // absolute floor to allow for, and that floor made every value below it equal (1.6e-19 and 1.6e-18, 6.63e-34
  // and 9.11e-31, 10^{-19} and 0.0: a breaker). Such a pair differs where it differs by more than rel_tol of
  // the larger (or than a cancelling sum's rounding, as in within_float_error); with `percent`, where it
  // differs so in each of values_equal's three comparisons (a reviewer).
  bool tiny_values_differ(const Node& a, const Node& b, const Number& x, const Number& y, const EvalTrace& trace) const {
    const std::complex<double> u = x.value(), v = y.value();
    const double d = std::abs(u - v), scale = std::max(std::abs(u), std::abs(v));
    if (!(scale < 1e-6) || has_irrational_part(a) || has_irrational_part(b)) return false;
    return !(d <= options_.rel_tol * scale + 1e-13 * trace.largest_term);
  }

  static bool same_exact(const Number& x, const Number& y) {
    if (x.big || y.big) return x.big && y.big && *x.big == *y.big;
    return x.p == y.p && x.q == y.q;
  }

  // `decimals_written`: whether either answer holds a written decimal (has_decimal), the only case in which two
  // different exact rationals may be one the other rounded (exact_values_close).
  bool numbers_equal(const Number& x, const Number& y, bool decimals_written) const {
    // Two integers are equal or not: 1450001 is not 1450000, however close in relative terms; nor is 2^{70}
    // 2^{70} + 1 (both exact: a big integer is never one that fits in int64).
    if (x.big || y.big) {
      if (x.big && y.big) return *x.big == *y.big;
      if (x.is_integer() && y.is_integer()) return false;
      // a big integer against a non-integer: an integer is exact, or only the nearest to a float (2^{70} +
      // \frac{1}{2} had equalled every integer within rel_tol of it, some 10^{15}: a breaker)
      if ((x.big ? y : x).exact) return false;
      if (std::abs(x.value() - y.value()) >= 0.5) return false;
    } else if (x.exact && y.exact) {
      if (x.p == y.p && x.q == y.q) return true;
      if (x.q == 1 && y.q == 1) return false;
      return exact_values_close(x, y, decimals_written);
    }
    return relatively_close(x.value(), y.value(), options_.rel_tol);
  }

  // Two different exact rationals (p/q in int64), not both integers, their difference taken exactly (in
  // doubles, past 1e10 its rounding alone was over the tolerance). Within float noise they are equal; past
  // rel_tol, not. Between the two, it depends on what they are:
  //  - a decimal of 15 or more significant digits is a computation's output (a program's 10.026098026734564
  //    for a solution's 10.02609801394532, or for its 100,282): its last digits are noise, rel_tol decides;
  //    against an integer, it must also be nearer to it than to any other: rel_tol had let 100000050.000001
  //    equal every integer from 99999950 to 100000150, and 1000000.49999999 both 1000000 and 1000001 (a
  //    breaker), while 100282.0143884892, a program's value for a solution's 100,282, stays equal;
  //  - else an integer is exact: 1000000.5, \frac{3000001}{3} and 7.000001 are not 1000000 or 7 (a breaker);
  //  - else the coarser, a terminating decimal, must be the other rounded to its places: 33.333 is 100/3 at
  //    rel_tol 1e-4 and 0.333333 is 1/3, but 1000000.4 is not 1000000.5.
  // All of it only where a decimal is written: two different values written exactly are different, and a
  // fraction whose value happens to terminate is no rounding (\frac{2793}{2800} = 0.9975 had equalled
  // \frac{2792}{2799}, and \frac{1000001}{1000000} \frac{1000000}{999999} within float noise: a breaker).
  bool exact_values_close(const Number& x, const Number& y, bool decimals_written) const {
    if (!decimals_written) return false;   // two fractions, or a fraction and an integer: exact, and different
    const __int128 numerator = static_cast<__int128>(x.p) * y.q - static_cast<__int128>(y.p) * x.q;
    const __int128 denominator = static_cast<__int128>(x.q) * y.q;
    const double difference = std::abs(static_cast<double>(numerator) / static_cast<double>(denominator));
    const double scale = std::max(std::abs(x.value()), std::abs(y.value()));
    if (difference <= std::min(options_.rel_tol, kFloatNoise) * scale) return true;
    // The difference is exact: no absolute allowance (1e-12 had let 1.6e-17 equal 1.64e-17 by the rounding
    // rule below, and 10^{-13} equal 1.4 \times 10^{-13}: a reviewer), only the doubles' rounding of a
    // difference at rel_tol itself (0.333333 is 1/3 at 1e-6, where the two sides meet).
    if (difference > options_.rel_tol * scale * (1.0 + 1e-9)) return false;
    if (looks_computed(x) || looks_computed(y))   // against an integer, nearer to it than to any other
      return (x.q != 1 && y.q != 1) || difference < 0.5;
    if (x.q == 1 || y.q == 1) return false;
    const int places = std::min(decimal_places(x.q), decimal_places(y.q));
    return places < kNonTerminating && difference <= 0.5 * std::pow(10.0, -places) * (1.0 + 1e-9);
  }

  // A non-integer terminating decimal of 15 or more significant digits, as a float's repr has
  // (exact_values_close). A threshold, so not monotone near it (1000000.49999999 matches 1000000, 1000000.4 does
  // not); at 12 digits human-written decimals reached it (1000000.49999, 7.00000100001: a reviewer). In long
  // double: |p| 10^places / q overflowed int128.
  static bool looks_computed(const Number& n) {
    const int places = decimal_places(n.q);
    if (n.q == 1 || places == kNonTerminating) return false;
    const long double digits = std::fabs(static_cast<long double>(n.p)) * std::pow(10.0L, places) / n.q;
    return digits >= 1e14L;
  }

  // How far a program's float result may be from the exact value it stands for (repr of 100/3 is
  // 33.333333333333336; sums of a few terms drift a few ulps).
  static constexpr double kFloatNoise = 1e-12;

  // The decimal places of 1/q when it terminates (q = 2^a 5^b: max(a, b)); kNonTerminating, finer than any,
  // when it does not.
  static constexpr int kNonTerminating = 1 << 20;
  static int decimal_places(int64_t q) {
    int twos = 0, fives = 0;
    for (; q % 2 == 0; q /= 2) ++twos;
    for (; q % 5 == 0; q /= 5) ++fives;
    return q == 1 ? std::max(twos, fives) : kNonTerminating;
  }

  // n times 100: what `percent` compares each value with besides itself (50\% against 0.5).
  Number hundredfold(const Number& n) const { return detail::mul(n, Number::rational(100), budget_); }

  bool values_equal(const Number& x, const Number& y, bool decimals_written) const {
    if (numbers_equal(x, y, decimals_written)) return true;
    if (!options_.percent) return false;
    return numbers_equal(hundredfold(x), y, decimals_written) || numbers_equal(x, hundredfold(y), decimals_written);
  }

  static int infinity_sign(const Node& n) {
    if (n.kind == Kind::Infinity) return 1;
    if (n.kind == Kind::Neg && n.kids[0].kind == Kind::Infinity) return -1;
    return 0;
  }

  // The decimal digits of an integer literal (or its negation): exact for int64 and, by the digits the
  // parser kept, for longer ones; `big` when they are past int64.
  struct IntegerText {
    std::string text;
    bool big = false;
  };
  static std::optional<IntegerText> integer_text(const Node& n) {
    if (n.kind == Kind::Neg && n.kids.size() == 1) {
      auto inner = integer_text(n.kids[0]);
      if (inner && inner->text != "0") inner->text = inner->text[0] == '-' ? inner->text.substr(1) : "-" + inner->text;
      return inner;
    }
    if (n.kind != Kind::Num) return std::nullopt;
    if (!n.name.empty()) return IntegerText{n.name, true};
    if (n.num.exact && n.num.q == 1) return IntegerText{std::to_string(n.num.p), false};
    return std::nullopt;
  }

  bool scalars_equal(const Node& a, const Node& b) {
    const int ia = infinity_sign(a), ib = infinity_sign(b);
    if (ia || ib) return ia == ib;
    // Two integers are equal or not (numbers_equal's rule), also past int64 where their doubles round.
    if (!options_.percent) {
      const auto ta = integer_text(a), tb = integer_text(b);
      if (ta && tb && (ta->big || tb->big)) return ta->text == tb->text;
    }
    std::vector<std::string> vars;
    collect_variables(a, vars);
    collect_variables(b, vars);
    // A value computed after the budget ran out is not trusted: the exact arithmetic may have fallen back
    // to doubles midway (2^{1023} + 1 then equalled 2^{1023}; found by a breaker).
    if (vars.empty()) {
      EvalTrace trace;
      auto x = evaluate(a, {}, budget_, &trace), y = evaluate(b, {}, budget_, &trace);
      if (!x || !y || budget_.exhausted()) return false;
      // exact values (integers, rationals) by numbers_equal's rules; an irrational one written without a
      // decimal, within float error (within_float_error)
      const bool decimals_written = has_decimal(a) || has_decimal(b);
      if (x->exact && y->exact) return values_equal(*x, *y, decimals_written);
      if (tiny_values_differ(a, b, *x, *y, trace)) {
        if (!options_.percent) return false;
        if (tiny_values_differ(a, b, hundredfold(*x), *y, trace) && tiny_values_differ(a, b, *x, hundredfold(*y), trace))
          return false;
      }
      if (decimals_written) return values_equal(*x, *y, true);
      // Real constants in quad precision where it takes them (quad_verdict): doubles had lost 1e-4 of
      // (3-2\sqrt{2})^8 written as its expansion, and every value below 1e-12 had been zero.
      if (const auto wide = quad_verdict(a, b, {}, *x, *y, options_.percent)) return *wide;
      if (within_float_error(*x, *y, trace)) return true;
      if (!options_.percent) return false;
      return within_float_error(hundredfold(*x), *y, trace) || within_float_error(*x, hundredfold(*y), trace);
    }
    // Every point where both sides stay real must agree, and at least three must be such points; with fewer,
    // the complex values at the positive points must agree (their branches decide then). A point outside
    // the reals is no evidence: there \sqrt{x}\sqrt{y} and \sqrt{xy} differ by complex branches, not in the
    // reals the answers mean.
    const bool written_exact = !has_decimal(a) && !has_decimal(b);
    int real_points = 0, uncertain = 0, complex_rounded = 0, points = 0;
    bool complex_agree = true;
    const long steps_before = budget_.steps;
    for (int k = 0; k < kLargeEnd; ++k, ++points) {
      if (k == kSmallEnd && real_points >= 3) break;   // the large points only where needed
      const auto env = point(vars, k);
      EvalTrace trace;
      auto x = evaluate(a, env, budget_, &trace), y = evaluate(b, env, budget_, &trace);
      if (budget_.exhausted()) return false;
      const bool positive = k < kPositivePoints;
      if (!x || !y) {
        if (positive) return false;   // each side must be defined there
        continue;                     // a negative value may leave a domain (1/x at 0, a factorial)
      }
      // Written without a decimal, with real values here: quad precision decides where it takes both sides
      // (detail/wide_compare.h), so a point near a root of an expanded polynomial is evidence too ((x-\pi)^{12}
      // had equalled its expansion plus 10^{-6}: in doubles that was within the expansion's float error)
      std::optional<bool> wide;
      if (written_exact && !trace.left_reals) wide = quad_verdict(a, b, env, *x, *y, false);
      const Agreement agreement = wide ? (*wide ? Agreement::Equal : Agreement::Different)
                                       : sampled_agreement(*x, *y, trace, written_exact);
      const bool agree = agreement != Agreement::Different;
      // Outside the reals only agreement within float error or rel_tol counts (\sqrt{-z^2} + 10^{100} - 10^{100}
      // had equalled anything: a breaker), and the decimals' rounding is checked as at real points
      // (\sqrt{x-10} + 1000000.5 had equalled both \sqrt{x-10} + 1000000 and \sqrt{x-10} + 1000001: a later one).
      if (trace.left_reals) {
        if (positive && agreement != Agreement::Equal) complex_agree = false;
        if (positive && complex_agree && !written_exact && complex_rounded < 3) {
          ++complex_rounded;
          if (within_rounding(a, b, env, *x, *y) == false || budget_.exhausted()) complex_agree = false;
        }
        continue;
      }
      if (!agree) return false;
      if (agreement == Agreement::WithinCancellation) {   // no evidence: the other points decide
        ++uncertain;
        continue;
      }
      // the decimals' rounding at the first three real points (each costs two evaluations per decimal)
      if (!written_exact && real_points < 3 && (within_rounding(a, b, env, *x, *y) == false || budget_.exhausted()))
        return false;
      ++real_points;
    }
    if (real_points < 3 && (!complex_agree || uncertain > 0)) return false;
    // Refutation only, at five points far out (|x| 12 to 613): |x-5| had equalled 5-x, \sqrt{x^2-20x+100}
    // 10-x and |x+10| x+10, equal wherever the points above lie (a breaker). A point where either side is
    // not a finite real, or that a sum cancelled to noise, says nothing. With a decimal written, far out its
    // rounding grows past rel_tol (e^{-0.13t} is e^{-t/8} rounded, 14% off at t = 31): there only sides
    // without an irrational part (doubles hold sums, products and powers of the variables and |.| well) are
    // compared, and they differ only where the decimals' rounding cannot explain it (|x-5| had equalled
    // 5.0-x: a second breaker). They are skipped where the budget left would not cover them at what the
    // points above cost (three times as much with decimals): a pair that fitted the budget before them had
    // run it out, a difference then (a breaker).
    const long per_point = (budget_.steps - steps_before) / std::max(points, 1);
    const bool far_decimals = !written_exact && !has_irrational_part(a) && !has_irrational_part(b);
    const bool far_points_fit =   // these five, the three below, one spare
        kMaxSteps - budget_.steps > (written_exact ? 9 : 27) * per_point;
    for (int j = 0; j < kFarPoints && (written_exact || far_decimals) && far_points_fit; ++j) {
      const auto env = far_point(vars, j);
      EvalTrace trace;
      auto x = evaluate(a, env, budget_, &trace), y = evaluate(b, env, budget_, &trace);
      if (budget_.exhausted()) return false;
      if (!x || !y || trace.left_reals || !std::isfinite(std::abs(x->value())) || !std::isfinite(std::abs(y->value())))
        continue;
      if (!written_exact) {
        if (sampled_agreement(*x, *y, trace, false) == Agreement::Different &&
            within_rounding(a, b, env, *x, *y) == false)
          return false;
        if (budget_.exhausted()) return false;
        continue;
      }
      // quad precision's verdict only: in doubles a function of a large argument there (\cos(e^{x}) at 613) is
      // noise, which had made equal forms differ
      const std::optional<bool> wide = quad_verdict(a, b, env, *x, *y, false, /*refute_only=*/true);
      if (wide && !*wide) return false;
    }
    if (written_exact)
      for (int k = kLargeEnd; k < kIntegerEnd; ++k) {   // refutation only: exact values that differ
        const auto env = point(vars, k);
        auto x = evaluate(a, env, budget_), y = evaluate(b, env, budget_);
        if (budget_.exhausted()) return false;
        if (x && y && x->exact && y->exact && !same_exact(*x, *y)) return false;
      }
    return true;
  }

 public:
  // An equation of one variable, `name`, holds at the value of `value` (a constant): its sides are equal
  // there, by numbers_equal's rules.
  bool holds_at(const Node& equation, const std::string& name, const Node& value) {
    if (equation.kind != Kind::Relation || equation.name != "=" || equation.kids.size() != 2) return false;
    std::vector<std::string> vars;
    collect_variables(equation, vars);
    if (vars.size() != 1 || vars[0] != name) return false;
    const auto v = evaluate(value, {}, budget_);
    if (!v || v->value().imag() != 0.0 || !std::isfinite(v->value().real())) return false;
    const std::map<std::string, double> env = {{name, v->value().real()}};
    const auto l = evaluate(equation.kids[0], env, budget_), r = evaluate(equation.kids[1], env, budget_);
    return l && r && !budget_.exhausted() && numbers_equal(*l, *r, has_decimal(equation) || has_decimal(value));
  }

 private:
  const EquivOptions& options_;
  Budget& budget_;
};

std::string squeeze_lower(std::string_view s) {
  std::string out;
  for (char c : s)
    if (!detail::is_ascii_space(c)) out += detail::lowercase(c);
  return out;
}

// Words and letters, which compare without case: choices ("A, C", "(B)"), names, "North-East", "Sunday!".
// Not math: no digit, operator, command or subscript, a hyphen only inside a word of two letters or more
// ("R-r" is a difference), and no lone letter in both cases (in "(R, r)" they are two names).
bool words_only(std::string_view text) {
  const auto letters_from = [&](size_t from, int step) {   // the run of letters from `from` on, one way
    int n = 0;
    for (long j = long(from); j >= 0 && j < long(text.size()) && detail::is_ascii_alpha(text[j]);
         j += step)
      ++n;
    return n;
  };
  bool lower[26] = {}, upper[26] = {};   // lone letters seen
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (detail::is_ascii_digit(text[i]) || std::string_view("+*/^=<>_{}\\|").find(text[i]) != std::string_view::npos) return false;
    if (c == '-' && (i == 0 || letters_from(i - 1, -1) < 2 || letters_from(i + 1, 1) < 2)) return false;
    const bool starts_run = detail::is_ascii_alpha(text[i]) && (i == 0 || !detail::is_ascii_alpha(text[i - 1]));
    const int run = starts_run ? letters_from(i, 1) : 0;
    // A word is lowercase, uppercase or capitalized: "xY" and "Xy" are products of two names (a breaker)
    if (run > 1) {
      const std::string_view word = text.substr(i, run);
      const auto lower = [](char l) { return detail::is_ascii_lower(l); };
      const auto upper = [](char l) { return detail::is_ascii_upper(l); };
      const bool lower_rest = std::all_of(word.begin() + 1, word.end(), lower);
      const bool upper_all = std::all_of(word.begin(), word.end(), upper);
      if (!lower_rest && !upper_all) return false;
    }
    // a letter right before a bracket is a function applied: P(A) is not P(a) (a breaker)
    if (run > 0 && i + run < text.size() && text[i + run] == '(') return false;
    const bool lone = run == 1;
    if (lone && detail::is_ascii_lower(text[i])) lower[c - 'a'] = true;   // ASCII: a locale's letter had indexed past 26
    if (lone && detail::is_ascii_upper(text[i])) upper[c - 'A'] = true;
  }
  for (int k = 0; k < 26; ++k)
    if (lower[k] && upper[k]) return false;
  return true;
}

// A name's letters, lowercased and sorted; nothing where it holds anything but letters.
std::optional<std::string> name_letters(std::string_view name) {
  std::string letters;
  for (char c : name) {
    if (!detail::is_ascii_alpha(c)) return std::nullopt;
    letters += detail::lowercase(c);
  }
  std::sort(letters.begin(), letters.end());
  return letters;
}

// The value a sum of distinct names is stated to have: 17 of "m + n = 17" (AIME's "find m + n"; Math-Verify
// takes it too). Only names added, each once, and a constant on the right: "a + 3z = 0" and "2x = 17" state
// no value of what was asked, nor does "m + \pi = 17" (\pi, e and i are constants, not names: a breaker);
// nullptr otherwise.
const Node* stated_value_of_sum(const Node& n) {
  if (n.kind != Kind::Relation || n.name != "=" || n.kids.size() != 2 || n.kids[0].kind != Kind::Add) return nullptr;
  std::vector<std::string> names, constant;
  for (const Node& term : n.kids[0].kids) {
    std::vector<std::string> variables;
    if (term.kind == Kind::Sym) collect_variables(term, variables);
    if (variables.size() != 1 || std::find(names.begin(), names.end(), term.name) != names.end()) return nullptr;
    names.push_back(term.name);
  }
  collect_variables(n.kids[1], constant);
  return names.size() >= 2 && constant.empty() ? &n.kids[1] : nullptr;
}

// `peers`: two answers of equal standing (voting), not a gold and a prediction; see the sum rule below.
bool prepared_equal(const Prepared& g, const Prepared& p, const EquivOptions& options, Budget& budget,
                    bool peers = false) {
  // Temperatures in other scales: 30 °C is not 30 °F, nor "30 °C, 40 °F" "30 °F, 40 °C", nor 30 °C "30 °F + 0 °C"
  // (a breaker). Where one has no scale, it stays a value: 30 against 30 °C.
  if (!g.temperature_scales.empty() && !p.temperature_scales.empty()) {
    if (g.temperature_scales != p.temperature_scales) return false;
    // Two scales in one answer ("30 °C, 40 °F"): the scales are not tied to their numbers here, so such answers
    // are equal only written alike: "40 °C, 30 °F" had equalled it as a list without order (a reviewer).
    const auto without_spaces = [](std::string text) {
      text.erase(std::remove(text.begin(), text.end(), ' '), text.end());
      return text;
    };
    if (g.temperature_scales.find_first_not_of(g.temperature_scales[0]) != std::string::npos)
      return !g.text.empty() && without_spaces(g.text) == without_spaces(p.text);
  }
  // Both named, by other names: answers about different unknowns ("x = 2" and "y = 2", "AB = 5" and "CD = 5"
  // had been equal, the names dropped; Math-Verify tells them apart). Names of letters only, compared without
  // case or order: AB and BA are one segment, xy and yx one product (a reviewer), x and X one name for
  // Math-Verify too; x' or a1 against x or a decide nothing. One name against none stays a value.
  if (!g.label.empty() && !p.label.empty()) {
    const auto gold_name = name_letters(g.label), pred_name = name_letters(p.label);
    if (gold_name && pred_name && *gold_name != *pred_name) return false;
  }
  // A percent sign inside a product on either side: both compared with every percent sign a factor
  if (g.percent_inside || p.percent_inside)
    return prepared_equal(with_percent_factors(g, budget), with_percent_factors(p, budget), options, budget, peers);
  if (g.text.empty() || p.text.empty()) return false;
  if (g.text == p.text) return true;
  if (g.node && p.node) {
    Comparer comparer(options, budget);
    if (comparer.equal(*g.node, *p.node)) return true;
    // "x = 3" (normalized to "3") against an equation, "x - 3 = 0" or "3 = x": the two equations compared
    // (Math-Verify's semantics; the value 3 is no equation's value here, so it had been false)
    // The value must be the other equation's root, too: the equations' ratio is compared at sample points
    // within rel_tol, which a root far from them passes (n = 1500 had equalled 1.05n = 1575.5; a breaker).
    for (const auto& [named, other] : {std::pair{&g, &p}, std::pair{&p, &g}}) {
      if (named->label.empty() || other->node->kind != Kind::Relation) continue;
      if (auto equation = parse_answer(named->label + "=" + named->text, budget))
        if (comparer.equal(*equation, *other->node) && comparer.holds_at(*other->node, named->label, *named->node))
          return true;
    }
    // A gold 17 against the prediction "m + n = 17"; not against "x = 17" (a value of another name), nor
    // against an equation. One way only: a gold equation, "x + y + z = 0" (a plane), is not answered by its
    // constant, 0 (a breaker); between peers (votes), both ways.
    for (const auto& [value, other] : {std::pair{&g, &p}, std::pair{&p, &g}}) {
      if (value == &p && !peers) continue;
      if (!value->label.empty() || value->node->kind == Kind::Relation) continue;
      if (const Node* stated = stated_value_of_sum(*other->node); stated && comparer.equal(*value->node, *stated))
        return true;
    }
  }
  // Without case only for words and letters ("Evelyn" and "evelyn", choice "(C)" and "(c)"): in math, R and r
  // are two names (R - r had equalled r - R, \frac{M}{M+m} \frac{m}{M+m}, 3R^2 3r^2: a breaker).
  return words_only(g.text) && words_only(p.text) && squeeze_lower(g.text) == squeeze_lower(p.text);
}

// A text that is itself an answer (no prose): "10/9", "x^2+1", "\frac{1}{2}". Prose has words.
bool looks_like_bare_answer(std::string_view text) {
  if (text.size() > 200) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    if (!detail::is_ascii_alpha(text[i])) continue;
    size_t j = i;
    while (j < text.size() && detail::is_ascii_alpha(text[j])) ++j;
    const bool command = i > 0 && text[i - 1] == '\\';
    if (!command && j - i >= 3) {
      const std::string_view word = text.substr(i, j - i);
      if (word != "sqrt" && word != "frac" && word != "sin" && word != "cos" && word != "tan" && word != "log" &&
          word != "exp" && word != "infty" && word != "pi")
        return false;
    }
    i = j;
  }
  return true;
}

// A text's answer: what an explicit marker (box, ####, "final answer", "the answer is", "A:") sets off;
// else the text itself when it is a bare answer; else what the weaker rules (math, last number) find.
std::string answer_of(std::string_view text) {
  Extraction e = extract_answer(text);
  const bool marked = e.rule == "boxed" || e.rule == "gsm8k" || e.rule == "final_answer" || e.rule == "answer_is" ||
                      e.rule == "a_line";
  if (!marked && looks_like_bare_answer(text)) return std::string(text);
  return std::move(e.answer);
}

}  // namespace

namespace {
bool is_equiv_counted(std::string_view gold, std::string_view pred, const EquivOptions& options, Budget& budget) {
  try {
    const Prepared g = prepare(gold, budget), p = prepare(pred, budget);
    return prepared_equal(g, p, options, budget);
  } catch (const std::exception&) {
    return false;  // e.g. std::bad_alloc on absurd input: an answer that cannot be graded is not equal
  }
}
}  // namespace

namespace {
// Bad options are the caller's error, not the answer's: they throw, where bad answers compare false.
void check_options(const char* op, const EquivOptions& options) {
  // NaN or inf (or a tolerance of 1 or more) would make "1" equal "2.5"; a negative one, nothing equal.
  if (!(options.rel_tol >= 0.0 && options.rel_tol < 1.0)) {
    std::ostringstream message;
    message << op << ": rel_tol must be in [0, 1), got " << options.rel_tol;
    throw std::invalid_argument(message.str());
  }
}
}  // namespace

bool is_equiv(std::string_view gold, std::string_view pred, const EquivOptions& options) {
  check_options("is_equiv", options);
  Budget budget;
  return is_equiv_counted(gold, pred, options, budget);
}

long grading_steps(std::string_view gold, std::string_view pred, const EquivOptions& options) {
  check_options("grading_steps", options);
  Budget budget;
  is_equiv_counted(gold, pred, options, budget);
  return budget.steps;
}

bool verify(std::string_view gold_text, std::string_view pred_text, const EquivOptions& options) {
  check_options("verify", options);
  try {
    return is_equiv(answer_of(gold_text), answer_of(pred_text), options);
  } catch (const std::exception&) {
    return false;
  }
}

namespace {
void for_range(int64_t n, const ParallelFor& parallel_for, const std::function<void(int64_t, int64_t)>& body) {
  if (n == 0) return;
  if (parallel_for) {
    parallel_for(n, body);
  } else {
    body(0, n);
  }
}

void throw_if_stopped(const std::atomic<bool>* stop, const char* function) {
  if (stop != nullptr && stop->load(std::memory_order_relaxed)) throw std::runtime_error(std::string(function) + ": stopped");
}
}  // namespace

std::vector<uint8_t> grade_pairs(const std::vector<std::string>& golds, const std::vector<std::string>& preds,
                                 const EquivOptions& options, const ParallelFor& parallel_for,
                                 const std::atomic<bool>* stop) {
  if (golds.size() != preds.size()) {
    throw std::invalid_argument("grade: golds and preds must have the same length, got " +
                                std::to_string(golds.size()) + " and " + std::to_string(preds.size()));
  }
  check_options("grade", options);
  std::vector<uint8_t> out(golds.size());
  for_range(int64_t(golds.size()), parallel_for, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      throw_if_stopped(stop, "grade");
      out[i] = is_equiv(golds[i], preds[i], options);
    }
  });
  return out;
}

std::vector<int64_t> answer_class_ids(const std::vector<std::string>& answers, const EquivOptions& options,
                                      const ParallelFor& parallel_for, const std::atomic<bool>* stop) {
  check_options("group_answers", options);
  std::vector<Prepared> prepared(answers.size());
  for_range(int64_t(answers.size()), parallel_for, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      throw_if_stopped(stop, "group_answers");
      Budget budget;
      try {
        prepared[i] = prepare(answers[i], budget);
      } catch (const std::exception&) {
        prepared[i] = Prepared{};
      }
    }
  });
  std::vector<int64_t> out(answers.size(), -1);
  std::vector<size_t> representatives;  // the first member of each class
  // Each comparison has its budget, and the call one of kMaxSteps per answer: n answers in up to n classes
  // would otherwise take n^2 / 2 full budgets (adversarial 4 KB answers: seconds for a dozen, minutes for 64;
  // found by a breaker). Once it is spent, the rest are grouped by their normalized text alone.
  long left = kMaxSteps * long(std::max<size_t>(answers.size(), 1));
  for (size_t i = 0; i < answers.size(); ++i) {
    throw_if_stopped(stop, "group_answers");
    if (prepared[i].text.empty()) continue;
    for (size_t c = 0; c < representatives.size() && out[i] < 0; ++c) {
      throw_if_stopped(stop, "group_answers");   // one answer against every class so far: seconds, for many
      const Prepared& representative = prepared[representatives[c]];
      if (left <= 0) {
        if (representative.text == prepared[i].text) out[i] = int64_t(c);
        continue;
      }
      Budget budget;
      if (prepared_equal(representative, prepared[i], options, budget, /*peers=*/true)) out[i] = int64_t(c);
      left -= budget.steps;
    }
    if (out[i] < 0) {
      out[i] = int64_t(representatives.size());
      representatives.push_back(i);
    }
  }
  return out;
}

}  // namespace cotnpot::answer
