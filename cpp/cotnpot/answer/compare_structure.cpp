// Comparer (detail/comparer.h): the structure of answers. Solution sets, tuples, intervals, lists and sets
// (unordered, with \pm expanded), equations and chains of them; scalars go to compare_scalars.cpp.
#include <algorithm>
#include <cmath>
#include <complex>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cotnpot/answer/detail/comparer.h"

namespace cotnpot::answer::detail {

bool Comparer::equal(const Node& a, const Node& b) {
  if (!budget_.spend()) return false;
  // "a=3,b=1;a=4,b=1" is the solution set (3,1),(4,1).
  if (auto grouped = solution_tuples(a)) return equal(*grouped, b);
  if (auto grouped = solution_tuples(b)) return equal(a, *grouped);
  // "\frac{1}{3}\begin{pmatrix}1\\2\end{pmatrix}" is the matrix of its entries scaled (a scalar factored out
  // of a vector, a common form; it had differed from the gold's entries).
  if (auto scaled = scaled_matrix(a)) return equal(*scaled, b);
  if (auto scaled = scaled_matrix(b)) return equal(a, *scaled);
  // Two chains over one middle, "1 < x < 2" and "2 > x > 1", are their intervals (they had differed, though
  // each equalled (1, 2): a breaker)
  if (a.kind == Kind::Relation && b.kind == Kind::Relation && a.kids.size() == 3 && b.kids.size() == 3)
    if (auto ia = chain_interval(a))
      if (auto ib = chain_interval(b); ib && equal(a.kids[1], b.kids[1])) return equal(*ia, *ib);
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
  // Unions of intervals as sets: merged and in order (compare_intervals.cpp).
  if (a.kind == Kind::Union || b.kind == Kind::Union)
    if (auto pieces_a = interval_union(a))
      if (auto pieces_b = interval_union(b)) return same_pieces(*pieces_a, *pieces_b);
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
    if (a.kind == Kind::Set && b.kind == Kind::Set)   // \{1,2\} is \{1,1,2\} (a breaker), \{1,1,2\} \{1,2,2\}
      return unordered_equal(distinct(a.kids), distinct(b.kids));
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

// A list of assignments whose variables repeat in one order ("a=3, b=1, a=4, b=1") as the list of the
// tuples of their values ("(3,1), (4,1)"); nullopt for anything else (one variable: a list already).
std::optional<Node> Comparer::solution_tuples(const Node& n) {
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

namespace {
Node node_of_kind(Kind kind, std::vector<Node> kids) {
  Node n;
  n.kind = kind;
  n.kids = std::move(kids);
  return n;
}
}  // namespace

// A product of scalars and one matrix, or a negated matrix, as the matrix of its scaled entries; nullopt for
// anything else (two matrices: a matrix product, left alone).
std::optional<Node> Comparer::scaled_matrix(const Node& n) {
  const auto structural = [](const Node& k) {
    return k.kind == Kind::Matrix || k.kind == Kind::Tuple || k.kind == Kind::List || k.kind == Kind::Set ||
           k.kind == Kind::Interval || k.kind == Kind::Union || k.kind == Kind::Relation || k.kind == Kind::PlusMinus;
  };
  if (n.kind == Kind::Neg && n.kids.size() == 1 && n.kids[0].kind == Kind::Matrix) {
    if (!budget_.spend(2 * size_of(n.kids[0]))) return Node{};   // charged before the copy, as below
    Node m = n.kids[0];
    for (Node& entry : m.kids) entry = node_of_kind(Kind::Neg, {std::move(entry)});
    return m;
  }
  if (n.kind != Kind::Mul) return std::nullopt;
  const Node* matrix = nullptr;
  std::vector<Node> factors;
  for (const Node& k : n.kids) {
    if (k.kind == Kind::Matrix && !matrix) {
      matrix = &k;
    } else if (structural(k)) {
      return std::nullopt;
    } else {
      factors.push_back(k);
    }
  }
  if (!matrix) return std::nullopt;
  // Charged before the copy is made, by its size: factors x entries nodes (1,300 x 1,300 had taken 226 MB
  // before the budget saw it; a reviewer). Past the budget, a node that compares as nothing: the budget is
  // spent, so every comparison from here fails.
  long factor_size = 1;
  for (const Node& f : factors) factor_size += size_of(f);
  if (!budget_.spend(factor_size * static_cast<long>(matrix->kids.size()) + size_of(*matrix))) return Node{};
  Node m = *matrix;
  for (Node& entry : m.kids) {
    std::vector<Node> product = factors;
    product.push_back(std::move(entry));
    entry = node_of_kind(Kind::Mul, std::move(product));
  }
  return m;
}

// "x = 3": a variable named (not a constant: "\pi \approx 3.14" states 3.14 of \pi, a chain; a breaker).
bool Comparer::is_assignment(const Node& n) {
  if (n.kind != Kind::Relation || !(n.name == "=" || n.name == "\\in" || n.name == "\\approx") ||
      n.kids.size() != 2 || n.kids[0].kind != Kind::Sym)
    return false;
  std::vector<std::string> vars;
  collect_variables(n.kids[0], vars);
  return !vars.empty();
}

bool Comparer::is_label_part(const Node& n, bool whole) {
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
bool Comparer::value_of_chain(const Node& chain, const Node& value) {
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
bool Comparer::rounds_to(const Node& value, const Node& rounded) {
  const Node& number = rounded.kind == Kind::Neg && rounded.kids.size() == 1 ? rounded.kids[0] : rounded;
  if (number.kind != Kind::Num || number.decimals < 0 || number.decimals > 17) return false;
  const auto x = evaluate(value, {}, budget_), y = evaluate(rounded, {}, budget_);
  if (!x || !y || std::abs(x->value().imag()) > 0.0 || std::abs(y->value().imag()) > 0.0) return false;
  const double difference = std::abs(x->value().real() - y->value().real());
  return std::isfinite(difference) && difference <= 0.5 * std::pow(10.0, -number.decimals) * (1.0 + 1e-9);
}

// |a - b| within `tol` of the larger magnitude (and 1e-12 absolute), both finite.
bool Comparer::relatively_close(std::complex<double> a, std::complex<double> b, double tol) {
  if (!std::isfinite(a.real()) || !std::isfinite(b.real()) || !std::isfinite(a.imag()) || !std::isfinite(b.imag()))
    return false;
  return std::abs(a - b) <= tol * std::max(std::abs(a), std::abs(b)) + 1e-12;
}

// "a < x \\le b" (any mix of < and \\le, or of > and \\ge read right to left) is the interval (a, b]:
// both ends constant (the middle is what ranges: x, f(x), ...).
std::optional<Node> Comparer::chain_interval(const Node& n) {
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
std::optional<Node> Comparer::one_sided_interval(const Node& n) {
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
Node Comparer::canonical(const Node& rel) {
  if (rel.kids.size() != 2 || (rel.name != ">" && rel.name != "\\ge")) return rel;
  Node flipped = rel;
  flipped.name = rel.name == ">" ? "<" : "\\le";
  std::swap(flipped.kids[0], flipped.kids[1]);
  return flipped;
}

bool Comparer::ordered_equal(const std::vector<Node>& a, const std::vector<Node>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!equal(a[i], b[i])) return false;
  return true;
}

long Comparer::size_of(const Node& n) {
  long size = 1;
  for (const Node& kid : n.kids) size += size_of(kid);
  return size;
}

Node Comparer::expand(const Node& pm) {
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

bool Comparer::has_plus_minus(const std::vector<Node>& items) {
  return std::any_of(items.begin(), items.end(), [](const Node& n) { return n.kind == Kind::PlusMinus; });
}

// The items of a list or set with each a \pm b among them as its two values, charged by size as expand
// is: \{1\pm\sqrt{5}, -2\} is \{1+\sqrt{5}, 1-\sqrt{5}, -2\} (a MATH500 gold had matched neither; a breaker).
std::optional<std::vector<Node>> Comparer::with_plus_minus_expanded(const std::vector<Node>& items) {
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

// A set's elements with each one equal to an earlier one left out. Lists keep their repeats: a list of roots
// counts multiplicity ("1, 1, 2" is not "1, 2").
std::vector<Node> Comparer::distinct(const std::vector<Node>& items) {
  std::vector<Node> kept;
  for (const Node& item : items) {
    bool repeated = false;
    for (size_t j = 0; j < kept.size() && !repeated; ++j) repeated = equal(kept[j], item);
    if (!repeated) kept.push_back(item);
  }
  return kept;
}

bool Comparer::unordered_equal(const std::vector<Node>& a, const std::vector<Node>& b) {
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

// An equation of one variable, `name`, holds at the value of `value` (a constant): its sides are equal
// there, by numbers_equal's rules.
bool Comparer::holds_at(const Node& equation, const std::string& name, const Node& value) {
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

}  // namespace cotnpot::answer::detail
