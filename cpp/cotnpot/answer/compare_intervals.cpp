// Comparer (detail/comparer.h): unions of intervals as the sets they are. "[1,2) \cup [2,3]" is [1,3] and
// "(3,4) \cup (-1,0)" is "(-1,0) \cup (3,4)", as sympy's Union simplifies them (Math-Verify compares so);
// they had differed, since a union compared as its pieces, unordered. With set_relation, "x < -2 or x > 3"
// (normalized to the list "x<-2, x>3") is (-\infty,-2) \cup (3,\infty) too.
#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "cotnpot/answer/detail/comparer.h"

namespace cotnpot::answer::detail {

namespace {

// A list "x<-2, x>3" reads as "or" only where "and" would be empty: its pieces are disjoint (not even
// touching: "x \le 2, x \ge 2" may mean x = 2). "x > 1, x < 3" stays a list (a system, or two answers).
bool disjoint(const std::vector<Comparer::Piece>& sorted) {
  for (size_t i = 1; i < sorted.size(); ++i)
    if (sorted[i].low <= sorted[i - 1].high) return false;
  return true;
}

}  // namespace

// One interval's piece: both ends real constants (or \pm\infty), low <= high, and a single point closed.
std::optional<Comparer::Piece> Comparer::interval_piece(const Node& n) {
  const bool interval = n.kind == Kind::Interval && n.kids.size() == 2;
  const bool open_pair = n.kind == Kind::Tuple && n.kids.size() == 2 && n.open == '(' && n.close == ')';
  if (!interval && !open_pair) return std::nullopt;
  Piece piece{n.kids[0], n.kids[1], 0.0, 0.0, n.open == '[', n.close == ']'};
  for (int end = 0; end < 2; ++end) {
    const Node& bound = n.kids[end];
    double& value = end == 0 ? piece.low : piece.high;
    if (const int sign = infinity_sign(bound)) {
      value = sign * HUGE_VAL;
      continue;
    }
    const auto number = evaluate(bound, {}, budget_);
    if (!number || number->value().imag() != 0.0 || !std::isfinite(number->value().real())) return std::nullopt;
    value = number->value().real();
  }
  if (!(piece.low < piece.high || (piece.low == piece.high && piece.low_closed && piece.high_closed)))
    return std::nullopt;   // empty, or backwards: not read as a set
  return piece;
}

// The pieces of a union of intervals (or of one interval), sorted, touching and overlapping ones merged;
// nullopt where a piece is not an interval of constants. With set_relation, also a list of relations over one
// variable ("x<-2, x>3"), where its pieces are disjoint.
std::optional<std::vector<Comparer::Piece>> Comparer::interval_union(const Node& n) {
  std::vector<Piece> pieces;
  if (n.kind == Kind::List && options_.set_relation) {
    std::string variable;
    for (const Node& item : n.kids) {
      if (item.kind != Kind::Relation) return std::nullopt;
      const bool chain = item.kids.size() == 3;
      const Node& middle = chain ? item.kids[1] : item.kids[item.kids[0].kind == Kind::Sym ? 0 : 1];
      if (middle.kind != Kind::Sym || (!variable.empty() && middle.name != variable)) return std::nullopt;
      variable = middle.name;
      const auto interval = chain ? chain_interval(item) : one_sided_interval(item);
      if (!interval) return std::nullopt;
      const auto piece = interval_piece(*interval);
      if (!piece) return std::nullopt;
      pieces.push_back(*piece);
    }
  } else {
    const std::vector<Node> one{n};
    for (const Node& part : n.kind == Kind::Union ? n.kids : one) {
      const auto piece = interval_piece(part);
      if (!piece) return std::nullopt;
      pieces.push_back(*piece);
    }
  }
  if (pieces.empty() || !budget_.spend(static_cast<long>(pieces.size()))) return std::nullopt;
  std::sort(pieces.begin(), pieces.end(), [](const Piece& x, const Piece& y) {
    return x.low < y.low || (x.low == y.low && x.low_closed && !y.low_closed);
  });
  if (n.kind == Kind::List && !disjoint(pieces)) return std::nullopt;
  std::vector<Piece> merged{pieces[0]};
  for (size_t i = 1; i < pieces.size(); ++i) {
    Piece& last = merged.back();
    const Piece& next = pieces[i];
    if (next.low < last.high || (next.low == last.high && (last.high_closed || next.low_closed))) {
      if (next.high > last.high || (next.high == last.high && next.high_closed)) {
        last.high_node = next.high_node;
        last.high = next.high;
        last.high_closed = next.high_closed;
      }
    } else {
      merged.push_back(next);
    }
  }
  return merged;
}

// Two merged unions: the same pieces in order, their ends equal as answers and closed alike.
bool Comparer::same_pieces(const std::vector<Piece>& a, const std::vector<Piece>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].low_closed != b[i].low_closed || a[i].high_closed != b[i].high_closed ||
        !equal(a[i].low_node, b[i].low_node) || !equal(a[i].high_node, b[i].high_node))
      return false;
  return true;
}

}  // namespace cotnpot::answer::detail
