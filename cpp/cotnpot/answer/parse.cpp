// The parser of normalized answers into expr.h's trees: recursive descent over tokenize.cpp's tokens,
// bounded in steps and nesting (limits.h).
#include "cotnpot/answer/expr.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "cotnpot/answer/detail/big_integer.h"
#include "cotnpot/answer/detail/tokens.h"
#include "cotnpot/answer/limits.h"

namespace cotnpot::answer {
using namespace detail;
namespace {

Node leaf_number(Number n) {
  Node node;
  node.kind = Kind::Num;
  node.num = n;
  return node;
}

Node make(Kind kind, std::vector<Node> kids) {
  Node node;
  node.kind = kind;
  node.kids = std::move(kids);
  return node;
}

// A node of the given kids, each moved in: a braced list `{std::move(x)}` would copy x's whole subtree, so
// a chain nested n deep would copy O(n^2) nodes, none of it charged to the budget.
template <class... Kids>
Node named(Kind kind, std::string name, Kids&&... kids) {
  Node node;
  node.kind = kind;
  node.name = std::move(name);
  node.kids.reserve(sizeof...(kids));
  (node.kids.push_back(std::forward<Kids>(kids)), ...);
  return node;
}
template <class... Kids>
Node node_of(Kind kind, Kids&&... kids) {
  return named(kind, {}, std::forward<Kids>(kids)...);
}

std::optional<Number> parse_decimal(const std::string& text) {
  const size_t dot = text.find('.');
  const std::string digits = dot == std::string::npos ? text : text.substr(0, dot) + text.substr(dot + 1);
  const size_t decimals = dot == std::string::npos ? 0 : text.size() - dot - 1;
  size_t first = digits.find_first_not_of('0');
  std::string significant = first == std::string::npos ? "0" : digits.substr(first);
  size_t places = decimals;
  // More than 18 significant digits, all past the 18th in the fraction: rounded to 18, exact still (a
  // double's rounding is 1e-16). As a double, 1000000.5000000000001 had equalled 1000000 within rel_tol.
  if (significant.size() > 18 && significant.size() - 18 <= places) {
    const size_t dropped = significant.size() - 18;
    const bool up = significant[18] >= '5';
    significant.resize(18);
    places -= dropped;
    int64_t p = std::stoll(significant) + (up ? 1 : 0);   // at most 10^18, within int64
    int64_t q = 1;
    if (places <= 18) {
      for (size_t i = 0; i < places; ++i) q *= 10;
      return Number::rational(p, q);
    }
  } else if (significant.size() <= 18 && decimals <= 18) {
    int64_t p = std::stoll(significant), q = 1;
    for (size_t i = 0; i < decimals; ++i) q *= 10;
    return Number::rational(p, q);
  }
  return Number::inexact({std::strtod(text.c_str(), nullptr), 0.0});
}

class Parser {
 public:
  Parser(std::vector<Token> tokens, Budget& budget) : t_(std::move(tokens)), budget_(budget) {}

  std::optional<Node> parse() {
    auto node = list_until({});
    if (!node || !ok_ || peek().type != Tok::End) return std::nullopt;
    return node;
  }

 private:
  const Token& peek(size_t ahead = 0) const { return t_[std::min(pos_ + ahead, t_.size() - 1)]; }
  bool is(std::string_view text) const { return peek().type != Tok::End && peek().text == text; }
  Token next() {
    ok_ &= budget_.spend();
    Token tok = peek();
    if (pos_ < t_.size() - 1) ++pos_;
    return tok;
  }
  bool expect(std::string_view text) {
    if (!is(text)) return ok_ = false;
    next();
    return true;
  }
  bool fail() { return ok_ = false; }

  // Comma-separated relations up to one of the closers (not consumed); one item is returned as itself.
  std::optional<Node> list_until(std::initializer_list<std::string_view> closers) {
    std::vector<Node> items;
    while (ok_) {
      auto item = relation();
      if (!item) return std::nullopt;
      items.push_back(std::move(*item));
      if (is(",") || is(";")) {
        next();
        continue;
      }
      break;
    }
    if (!ok_) return std::nullopt;
    bool closed = peek().type == Tok::End;
    for (auto c : closers) closed |= is(c);
    if (!closed) return std::nullopt;
    if (items.size() == 1) return std::move(items[0]);
    return make(Kind::List, std::move(items));
  }

  static bool is_relation(const Token& tok) {
    return tok.text == "=" || tok.text == "<" || tok.text == ">" || tok.text == "\\le" || tok.text == "\\ge" ||
           tok.text == "\\ne" || tok.text == "\\lt" || tok.text == "\\gt" || tok.text == "\\approx" ||
           tok.text == "\\in";
  }

  std::optional<Node> relation() {
    auto first = union_();
    if (!first) return std::nullopt;
    if (!is_relation(peek())) return first;
    Node rel = named(Kind::Relation, peek().text, std::move(*first));
    // The first and the last operator, as one character each ('<', 'l' for \le, '>', 'g' for \ge, '='
    // otherwise): what a mixed chain such as "0 < x \le 5" needs to be read as an interval.
    rel.open = op_code(peek().text);
    while (ok_ && is_relation(peek())) {
      if (peek().text != rel.name) rel.name = "mixed";
      rel.close = op_code(peek().text);
      next();
      auto side = union_();
      if (!side) return std::nullopt;
      rel.kids.push_back(std::move(*side));
    }
    return rel;
  }

  static char op_code(std::string_view op) {
    if (op == "<") return '<';
    if (op == "\\le") return 'l';
    if (op == ">") return '>';
    if (op == "\\ge") return 'g';
    return '=';
  }

  std::optional<Node> union_() {
    auto first = expr();
    if (!first || !is("\\cup")) return first;
    Node u = node_of(Kind::Union, std::move(*first));
    while (ok_ && is("\\cup")) {
      next();
      auto part = expr();
      if (!part) return std::nullopt;
      u.kids.push_back(std::move(*part));
    }
    return u;
  }

  std::optional<Node> expr() {
    auto first = term();
    if (!first) return std::nullopt;
    Node sum = node_of(Kind::Add, std::move(*first));
    int nested_pm = 0;
    while (ok_) {
      if (is("+") || is("-")) {
        const bool minus = next().text == "-";
        auto t = term();
        if (!t) return std::nullopt;
        sum.kids.push_back(minus ? node_of(Kind::Neg, std::move(*t)) : std::move(*t));
      } else if (is("\\pm") || is("\\mp")) {
        if (depth_ + ++nested_pm >= kMaxDepth) return fail(), std::nullopt;
        next();
        auto t = term();
        if (!t) return std::nullopt;
        Node left = sum.kids.size() == 1 ? std::move(sum.kids[0]) : std::move(sum);
        sum = node_of(Kind::Add, node_of(Kind::PlusMinus, std::move(left), std::move(*t)));
      } else {
        break;
      }
    }
    if (sum.kids.size() == 1) return std::move(sum.kids[0]);
    return sum;
  }

  bool starts_primary() const {
    const Token& tok = peek();
    if (tok.type == Tok::Number || tok.type == Tok::Letter) return true;
    if (tok.type == Tok::Command)
      return tok.text != "\\cdot" && tok.text != "\\times" && tok.text != "\\div" && tok.text != "\\pm" &&
             tok.text != "\\mp" && tok.text != "\\cup" && tok.text != "\\}" && tok.text != "\\end" &&
             tok.text != "\\{" && !is_relation(tok) && tok.text != "\\in";
    // `2|x|` is 2 times |x|; inside an absolute value a bar closes it instead
    return tok.text == "(" || tok.text == "{" || (tok.text == "|" && abs_depth_ == 0);
  }

  std::optional<Node> term() {
    auto first = unary();
    if (!first) return std::nullopt;
    Node product = node_of(Kind::Mul, std::move(*first));
    while (ok_) {
      if (is("*") || is("\\cdot") || is("\\times")) {
        next();
        // a sign right after an explicit operator belongs to the factor: "2 \\times -3", "2*-3" (had not parsed)
        if (is("-") || is("+")) {
          auto f = unary();
          if (!f) return std::nullopt;
          product.kids.push_back(std::move(*f));
          continue;
        }
      } else if (is("/") || is("\\div")) {
        next();
        auto d = unary();
        if (!d) return std::nullopt;
        product.kids.push_back(node_of(Kind::Pow, std::move(*d), leaf_number(Number::rational(-1))));
        continue;
      } else if (!starts_primary()) {
        break;
      }
      auto f = power();
      if (!f) return std::nullopt;
      product.kids.push_back(std::move(*f));
    }
    if (product.kids.size() == 1) return std::move(product.kids[0]);
    return product;
  }

  // Signs, carets, factorials and \pm chains nest the tree as brackets do, one level each, so they count
  // against kMaxDepth too: the recursion here (and every later walk of the tree) stays a few kB of stack
  // whatever the answer ("-------3", "2^2^2^2", "3!!!!", found by a breaker at 4 kB answers).
  std::optional<Node> unary() {
    if (!is("-") && !is("+") && !is("\\pm") && !is("\\mp")) return power();
    Depth depth(*this);
    if (!ok_) return std::nullopt;
    if (is("-")) {
      next();
      auto u = unary();
      if (!u) return std::nullopt;
      return node_of(Kind::Neg, std::move(*u));
    }
    if (is("+")) {
      next();
      return unary();
    }
    next();  // \pm or \mp, what is left: it signs the whole product (\pm 2\sqrt{2} had been (\pm 2)\sqrt{2},
             // which compared as neither value: a breaker)
    auto u = term();
    if (!u) return std::nullopt;
    return node_of(Kind::PlusMinus, leaf_number(Number::rational(0)), std::move(*u));
  }

  // A function's argument without brackets runs over an implicit product of numbers, letters and Greek
  // letters, as written math means it (and sympy's LaTeX parser reads it): \sin 2x is \sin(2x), \ln 2\pi r
  // is \ln(2\pi r); it ends at an operator, a bracket, a bar or any other command, so \sin x \cos x is
  // (\sin x)(\cos x). \arcsin 2x had been (\arcsin 2) x (a breaker).
  std::optional<Node> bare_argument() {
    auto first = power();
    if (!first) return std::nullopt;
    Node product = node_of(Kind::Mul, std::move(*first));
    while (ok_ && continues_bare_argument()) {
      auto f = power();
      if (!f) return std::nullopt;
      product.kids.push_back(std::move(*f));
    }
    if (product.kids.size() == 1) return std::move(product.kids[0]);
    return product;
  }

  // Numbers, letters and Greek letters continue a bare argument; e^{...} does not (\cos x e^{\sin x} is
  // (\cos x) e^{\sin x}, a derivative's usual form; a breaker).
  bool continues_bare_argument() const {
    const Token& tok = peek();
    if (tok.type == Tok::Letter) return !(tok.text == "e" && peek(1).text == "^");
    return tok.type == Tok::Number || (tok.type == Tok::Command && is_greek(tok.text));
  }

  static bool is_greek(std::string_view cmd) {
    static const char* const kGreek[] = {
        "\\alpha", "\\beta",   "\\gamma", "\\delta", "\\epsilon", "\\varepsilon", "\\zeta",  "\\eta",
        "\\theta", "\\vartheta", "\\iota", "\\kappa", "\\lambda",  "\\mu",         "\\nu",    "\\xi",
        "\\pi",    "\\varpi",  "\\rho",   "\\varrho", "\\sigma",  "\\varsigma",   "\\tau",   "\\upsilon",
        "\\phi",   "\\varphi", "\\chi",   "\\psi",   "\\omega",   "\\Gamma",      "\\Delta", "\\Theta",
        "\\Lambda", "\\Xi",    "\\Pi",    "\\Sigma", "\\Upsilon", "\\Phi",        "\\Psi",   "\\Omega",
        "\\ell"};
    for (const char* g : kGreek)
      if (cmd == g) return true;
    return false;
  }

  // x_1, a_{n}, \theta_1: the subscript is part of the name.
  Node subscripted(Node sym) {
    if (!is("_")) return sym;
    next();
    if (is("{")) {
      next();
      while (ok_ && !is("}") && peek().type != Tok::End) sym.name += next().text;
      if (!expect("}")) return sym;
    } else {
      sym.name += next().text;
    }
    return sym;
  }

  std::optional<Node> power() {
    auto base = postfix();
    if (!base) return std::nullopt;
    if (!is("^")) return base;
    next();
    Depth depth(*this);
    if (!ok_) return std::nullopt;
    auto exponent = exponent_after_caret(/*right_associative=*/true);
    if (!exponent) return std::nullopt;
    return node_of(Kind::Pow, std::move(*base), std::move(*exponent));
  }

  // What follows a '^': a {group}, a negated item, or (right_associative) a power itself: 2^3^2 is 2^(3^2).
  std::optional<Node> exponent_after_caret(bool right_associative) {
    if (is("{")) return group();
    if (is("-")) {
      next();
      auto e = postfix();
      if (!e) return std::nullopt;
      return node_of(Kind::Neg, std::move(*e));
    }
    return right_associative ? power() : postfix();
  }

  std::optional<Node> postfix() {
    auto p = primary();
    for (int nested = 0; p && ok_ && is("!"); ++nested) {
      if (depth_ + nested >= kMaxDepth) return fail(), std::nullopt;
      next();
      p = named(Kind::Func, "factorial", std::move(*p));
    }
    return p;
  }

  // { ... }: a LaTeX group, its content as one item (or a list).
  std::optional<Node> group() {
    if (!expect("{")) return std::nullopt;
    Depth depth(*this);
    const NoBarOpen bars(*this);
    if (!ok_) return std::nullopt;
    auto inner = list_until({"}"});
    if (!inner || !expect("}")) return std::nullopt;
    return inner;
  }

  // Inside brackets or braces no bar can close an absolute value opened outside them: there `2|y|` is again a
  // product (|x(2|y|+1)| had not parsed: a breaker).
  struct NoBarOpen {
    Parser& p;
    const int saved;
    explicit NoBarOpen(Parser& parser) : p(parser), saved(parser.abs_depth_) { p.abs_depth_ = 0; }
    ~NoBarOpen() { p.abs_depth_ = saved; }
  };

  struct Depth {
    Parser& p;
    explicit Depth(Parser& parser) : p(parser) {
      if (++p.depth_ > kMaxDepth) p.ok_ = false;
    }
    ~Depth() { --p.depth_; }
  };

  std::optional<Node> bracketed() {
    const std::string open = next().text;
    Depth depth(*this);
    const NoBarOpen bars(*this);
    if (!ok_) return std::nullopt;
    auto inner = list_until({")", "]"});
    if (!inner) return std::nullopt;
    const std::string close = next().text;
    const bool pair = inner->kind == Kind::List && inner->kids.size() == 2;
    if (open == "(" && close == ")" && inner->kind != Kind::List) return inner;  // grouping
    Node node;
    node.kind = (open != "(" || close != ")") && pair ? Kind::Interval : Kind::Tuple;
    node.open = open[0], node.close = close[0];
    if (inner->kind == Kind::List) {
      node.kids = std::move(inner->kids);
    } else {
      node.kids.push_back(std::move(*inner));
    }
    return node;
  }

  std::optional<Node> matrix() {
    next();  // \begin
    if (!expect("{")) return std::nullopt;
    std::string env;
    while (ok_ && peek().type == Tok::Letter) env += next().text;
    if (!expect("}")) return std::nullopt;
    // A determinant or a norm (vmatrix, Vmatrix) is a number, not its matrix: left to the string comparison
    // (it had equalled the pmatrix of its entries; a breaker)
    if (env == "vmatrix" || env == "Vmatrix") return std::nullopt;
    if (env == "array" && is("{")) {  // the column spec {cc}
      while (ok_ && !is("}") && peek().type != Tok::End) next();
      if (!expect("}")) return std::nullopt;
    }
    Node m;
    m.kind = Kind::Matrix;
    std::vector<Node> row;
    int cols = -1;
    Depth depth(*this);
    while (ok_ && !is("\\end")) {
      auto cell = expr();
      if (!cell) return std::nullopt;
      row.push_back(std::move(*cell));
      if (is("&")) {
        next();
        continue;
      }
      if (peek().type == Tok::RowSep || is("\\end")) {
        if (peek().type == Tok::RowSep) next();
        if (row.empty()) continue;
        if (cols >= 0 && int(row.size()) != cols) return std::nullopt;
        cols = int(row.size());
        for (auto& c : row) m.kids.push_back(std::move(c));
        row.clear();
        continue;
      }
      return std::nullopt;
    }
    if (!expect("\\end") || !expect("{")) return std::nullopt;
    while (ok_ && peek().type == Tok::Letter) next();
    if (!expect("}") || cols <= 0) return std::nullopt;
    m.cols = cols;
    return m;
  }

  static bool is_minus_one(const Node& n) {
    const Node* x = &n;
    if (x->kind == Kind::List && x->kids.size() == 1) x = &x->kids[0];
    if (x->kind == Kind::Neg && x->kids[0].kind == Kind::Num) return x->kids[0].num.exact && x->kids[0].num.p == 1 &&
                                                                    x->kids[0].num.q == 1;
    return x->kind == Kind::Num && x->num.exact && x->num.p == -1 && x->num.q == 1;
  }

  std::optional<Node> primary() {
    Depth depth(*this);
    if (!ok_ || !budget_.spend()) return std::nullopt;
    const Token tok = peek();
    if (tok.type == Tok::Number) {
      next();
      auto n = parse_decimal(tok.text);
      if (!n) return std::nullopt;
      Node leaf = leaf_number(*n);
      if (const size_t dot = tok.text.find('.'); dot != std::string::npos)
        leaf.decimals = int(tok.text.size() - dot - 1);
      // An integer past int64's 18 safe digits is a double in parse_decimal, whose rounding would make
      // 1000000000000000000 equal 1000000000000000001: it is an exact BigInteger (up to kMaxIntegerDigits
      // digits), and its digits stay in the leaf's name (the comparer compares two literals by them).
      if (!n->exact && tok.text.find('.') == std::string::npos) {
        const size_t first = tok.text.find_first_not_of('0');
        leaf.name = first == std::string::npos ? "0" : tok.text.substr(first);
        if (leaf.name.size() <= kMaxIntegerDigits)
          if (auto big = detail::BigInteger::from_digits(leaf.name)) leaf.num = Number::integer(std::move(*big));
      }
      return leaf;
    }
    if (tok.type == Tok::Letter) {
      next();
      return subscripted(named(Kind::Sym, tok.text));
    }
    if (tok.text == "(" || tok.text == "[") return bracketed();
    if (tok.text == "{") return group();
    if (tok.text == "\\{") {
      next();
      Node set = node_of(Kind::Set);
      if (!is("\\}")) {
        auto inner = list_until({"\\}"});
        if (!inner) return std::nullopt;
        if (inner->kind == Kind::List) {
          set.kids = std::move(inner->kids);
        } else {
          set.kids.push_back(std::move(*inner));
        }
      }
      if (!expect("\\}")) return std::nullopt;
      return set;
    }
    if (tok.text == "|") {
      next();
      ++abs_depth_;
      auto inner = expr();
      --abs_depth_;
      if (!inner || !expect("|")) return std::nullopt;
      return named(Kind::Func, "abs", std::move(*inner));
    }
    if (tok.type != Tok::Command) return fail(), std::nullopt;
    const std::string& cmd = tok.text;
    if (cmd == "\\begin") return matrix();
    next();
    if (cmd == "\\frac" || cmd == "\\binom") {
      auto a = group();
      auto b = a ? group() : std::nullopt;
      if (!b) return std::nullopt;
      if (cmd == "\\binom") return named(Kind::Func, "binom", std::move(*a), std::move(*b));
      return node_of(Kind::Mul, std::move(*a), node_of(Kind::Pow, std::move(*b), leaf_number(Number::rational(-1))));
    }
    if (cmd == "\\sqrt") {
      std::optional<Node> index;
      if (is("[")) {
        next();
        index = expr();
        if (!index || !expect("]")) return std::nullopt;
      }
      auto radicand = is("{") ? group() : power();
      if (!radicand) return std::nullopt;
      if (!index) return node_of(Kind::Pow, std::move(*radicand), leaf_number(Number::rational(1, 2)));
      return node_of(Kind::Pow, std::move(*radicand), node_of(Kind::Pow, std::move(*index), leaf_number(Number::rational(-1))));
    }
    if (cmd == "\\pi") return named(Kind::Sym, "\\pi");
    if (cmd == "\\infty" || cmd == "\\inf") {
      Node inf;
      inf.kind = Kind::Infinity;
      return inf;
    }
    static const char* const kFunctions[] = {"\\sin", "\\cos", "\\tan", "\\log", "\\ln", "\\exp", "\\arcsin",
                                             "\\arccos", "\\arctan", "\\sec", "\\csc", "\\cot"};
    for (const char* f : kFunctions) {
      if (cmd == f) {
        // "\log_2 x" is \log x / \log 2 (its base a subscript: it had not parsed, a breaker)
        std::optional<Node> base;
        if (cmd == "\\log" && is("_")) {
          next();
          base = is("{") ? group() : postfix();
          if (!base) return std::nullopt;
        }
        // "\sin^2(x)" is (\sin x)^2 and "\sin^{-1} x" is \arcsin x: a power right after the name applies
        // to the value.
        std::optional<Node> exponent;
        if (is("^")) {
          next();
          exponent = exponent_after_caret(/*right_associative=*/false);
          if (!exponent) return std::nullopt;
        }
        // "\sin(x)^2" is (\sin x)^2: a parenthesized argument ends at its parenthesis; "\sin x^2" is
        // \sin(x^2), as LaTeX reads it; "\sin 2x" is \sin(2x) (bare_argument).
        auto arg = is("{") ? group() : is("(") ? postfix() : bare_argument();
        if (!arg) return std::nullopt;
        std::string name = cmd.substr(1);
        if (exponent && is_minus_one(*exponent)) {
          if (name == "sin" || name == "cos" || name == "tan") return named(Kind::Func, "arc" + name, std::move(*arg));
          // \sec^{-1} x is \arccos(1/x), \csc^{-1} x \arcsin(1/x), \cot^{-1} x \pi/2 - \arctan x (they had been
          // 1/\sec x = \cos x...: a breaker)
          if (name == "sec" || name == "csc") {
            Node inverse = node_of(Kind::Pow, std::move(*arg), leaf_number(Number::rational(-1)));
            return named(Kind::Func, name == "sec" ? "arccos" : "arcsin", std::move(inverse));
          }
          if (name == "cot") {
            Node half_pi = node_of(Kind::Mul, named(Kind::Sym, "\\pi"), leaf_number(Number::rational(1, 2)));
            Node arctan = named(Kind::Func, "arctan", std::move(*arg));
            return node_of(Kind::Add, std::move(half_pi), node_of(Kind::Neg, std::move(arctan)));
          }
        }
        Node call = named(Kind::Func, name, std::move(*arg));
        if (base) {
          Node denominator =
              node_of(Kind::Pow, named(Kind::Func, name, std::move(*base)), leaf_number(Number::rational(-1)));
          call = node_of(Kind::Mul, std::move(call), std::move(denominator));
        }
        if (!exponent) return call;
        return node_of(Kind::Pow, std::move(call), std::move(*exponent));
      }
    }
    if (cmd == "\\text" || cmd == "\\mathrm" || cmd == "\\operatorname") {
      // text that survived normalization (a word answer): its letters as symbols
      return group();
    }
    if (cmd.size() > 2 && is_ascii_alpha(cmd[1])) return subscripted(named(Kind::Sym, cmd));  // \alpha, \theta_1, ...
    return fail(), std::nullopt;
  }

  std::vector<Token> t_;
  size_t pos_ = 0;
  int depth_ = 0;
  int abs_depth_ = 0;   // inside how many |...|
  bool ok_ = true;
  Budget& budget_;
};

}  // namespace

bool Budget::spend(long n) {
  steps += n;
  return steps <= kMaxSteps;
}
bool Budget::exhausted() const { return steps > kMaxSteps; }

std::optional<Node> parse_answer(std::string_view normalized, Budget& budget) {
  if (normalized.empty() || normalized.size() > kMaxAnswerBytes) return std::nullopt;
  bool ok = true;
  auto tokens = tokenize(normalized, ok);
  if (!ok || !budget.spend(long(tokens.size()))) return std::nullopt;
  return Parser(std::move(tokens), budget).parse();
}

}  // namespace cotnpot::answer
