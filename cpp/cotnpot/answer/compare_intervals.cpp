// Comparer (detail/comparer.h): unions of intervals as the sets they are. "[1,2) \cup [2,3]" is [1,3] and
// "(3,4) \cup (-1,0)" is "(-1,0) \cup (3,4)", as sympy's Union simplifies them (Math-Verify compares so);
// they had differed, since a union compared as its pieces, unordered. Not done: reading "x < -2 or x > 3" as
// that union, since normalization makes "or" and "and" one list separator, and "x < -2 and x > 3" (empty, a
// classic wrong answer) would then equal it too (a reviewer).
#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "cotnpot/answer/detail/comparer.h"

namespace cotnpot::answer::detail {

namespace {

// Two ends whose doubles are equal are the same point only where that is exact: both exact rationals and
// equal, or written alike. 1 and 1 + 10^{-17} round to one double, and "[0,1] \cup [1+10^{-17},2]" had merged
// into [0,2] (a reviewer).
bool identical(const Node& a, const Node& b) {
  if (a.kind != b.kind || a.name != b.name || a.open != b.open || a.close != b.close || a.cols != b.cols ||
      a.decimals != b.decimals || a.kids.size() != b.kids.size())
    return false;
  if (a.kind == Kind::Num && !(a.num.exact == b.num.exact && a.num.p == b.num.p && a.num.q == b.num.q &&
                               a.num.z == b.num.z && !a.num.big && !b.num.big))
    return false;
  for (size_t i = 0; i < a.kids.size(); ++i)
    if (!identical(a.kids[i], b.kids[i])) return false;
  return true;
}

bool same_point(double x, const Number& vx, const Node& nx, const Number& vy, const Node& ny) {
  if (std::isinf(x)) return true;   // both infinite of one sign (their doubles are equal)
  if (vx.exact && vy.exact && !vx.big && !vy.big) return vx.p == vy.p && vx.q == vy.q;
  return identical(nx, ny);
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
    (end == 0 ? piece.low_value : piece.high_value) = *number;
  }
  if (!(piece.low < piece.high || (piece.low == piece.high && piece.low_closed && piece.high_closed)))
    return std::nullopt;   // empty, or backwards: not read as a set
  return piece;
}

// The pieces of a union of intervals (or of one interval), sorted, touching and overlapping ones merged;
// nullopt where a piece is not an interval of constants, or where two ends tie as doubles but not exactly.
std::optional<std::vector<Comparer::Piece>> Comparer::interval_union(const Node& n) {
  std::vector<Piece> pieces;
  const std::vector<Node> one{n};
  for (const Node& part : n.kind == Kind::Union ? n.kids : one) {
    const auto piece = interval_piece(part);
    if (!piece) return std::nullopt;
    pieces.push_back(*piece);
  }
  const long n_pieces = static_cast<long>(pieces.size());
  if (pieces.empty() || !budget_.spend(n_pieces * n_pieces)) return std::nullopt;
  // Ends whose doubles tie must be one point exactly; else the order and the merge are not known.
  struct End {
    double x;
    const Number* value;
    const Node* node;
  };
  std::vector<End> ends;
  for (const Piece& p : pieces) {
    ends.push_back({p.low, &p.low_value, &p.low_node});
    ends.push_back({p.high, &p.high_value, &p.high_node});
  }
  for (size_t i = 0; i < ends.size(); ++i)
    for (size_t j = i + 1; j < ends.size(); ++j)
      if (ends[i].x == ends[j].x &&
          !same_point(ends[i].x, *ends[i].value, *ends[i].node, *ends[j].value, *ends[j].node))
        return std::nullopt;
  std::sort(pieces.begin(), pieces.end(), [](const Piece& x, const Piece& y) {
    return x.low < y.low || (x.low == y.low && x.low_closed && !y.low_closed);
  });
  std::vector<Piece> merged{pieces[0]};
  for (size_t i = 1; i < pieces.size(); ++i) {
    Piece& last = merged.back();
    const Piece& next = pieces[i];
    if (next.low < last.high || (next.low == last.high && (last.high_closed || next.low_closed))) {
      if (next.high > last.high || (next.high == last.high && next.high_closed)) {
        last.high_node = next.high_node;
        last.high = next.high;
        last.high_value = next.high_value;
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
