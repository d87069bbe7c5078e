#include "cotnpot/answer/expr.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <numeric>

#include "cotnpot/answer/limits.h"

namespace cotnpot::answer {

// ---- numbers ----------------------------------------------------------------------------------------

Number Number::rational(int64_t p, int64_t q) {
  // INT64_MIN has no negation in int64 ((-2)^63 gets here from model text): such a value stays inexact.
  if (p == INT64_MIN || q == INT64_MIN) return inexact({double(p) / double(q), 0.0});
  if (q < 0) p = -p, q = -q;
  const int64_t g = std::gcd(p < 0 ? -p : p, q);
  Number n;
  n.p = g ? p / g : 0, n.q = g ? q / g : 1;
  return n;
}

Number Number::inexact(std::complex<double> z) {
  Number n;
  n.exact = false;
  n.z = z;
  return n;
}

namespace {

Number add(const Number& a, const Number& b) {
  if (a.exact && b.exact) {
    int64_t x, y, n, d;
    if (!__builtin_mul_overflow(a.p, b.q, &x) && !__builtin_mul_overflow(b.p, a.q, &y) &&
        !__builtin_add_overflow(x, y, &n) && !__builtin_mul_overflow(a.q, b.q, &d))
      return Number::rational(n, d);
  }
  return Number::inexact(a.value() + b.value());
}

Number mul(const Number& a, const Number& b) {
  if (a.exact && b.exact) {
    int64_t n, d;
    if (!__builtin_mul_overflow(a.p, b.p, &n) && !__builtin_mul_overflow(a.q, b.q, &d)) return Number::rational(n, d);
  }
  return Number::inexact(a.value() * b.value());
}

Number neg(const Number& a) {
  if (a.exact && a.p != INT64_MIN) return Number::rational(-a.p, a.q);
  return Number::inexact(-a.value());
}

std::optional<Number> inverse(const Number& a) {
  if (a.exact) {
    if (a.p == 0) return std::nullopt;
    return Number::rational(a.q, a.p);
  }
  if (std::abs(a.z) == 0.0) return std::nullopt;
  return Number::inexact(1.0 / a.z);
}

// Exact integer root of a non-negative int64 when there is one.
std::optional<int64_t> exact_root(int64_t x, int64_t n) {
  if (x < 0 || n < 1) return std::nullopt;
  const double guess = std::round(std::pow(double(x), 1.0 / double(n)));
  for (int64_t r = std::max<int64_t>(0, int64_t(guess) - 1); r <= int64_t(guess) + 1; ++r) {
    int64_t acc = 1;
    bool overflow = false;
    for (int64_t i = 0; i < n && !overflow; ++i) overflow = __builtin_mul_overflow(acc, r, &acc);
    if (!overflow && acc == x) return r;
  }
  return std::nullopt;
}

std::optional<Number> power(const Number& base, const Number& exponent) {
  if (exponent.exact && exponent.q == 1 && base.exact && std::llabs(exponent.p) <= 64) {
    Number acc = Number::rational(1);
    for (int64_t i = 0; i < std::llabs(exponent.p); ++i) acc = mul(acc, base);
    return exponent.p < 0 ? inverse(acc) : std::optional<Number>(acc);
  }
  if (exponent.exact && base.exact && base.p >= 0 && exponent.q <= 64 && std::llabs(exponent.p) <= 64) {
    const auto rp = exact_root(base.p, exponent.q), rq = exact_root(base.q, exponent.q);
    if (rp && rq) return power(Number::rational(*rp, *rq), Number::rational(exponent.p));
  }
  const std::complex<double> b = base.value(), e = exponent.value();
  if (std::abs(b) == 0.0) {
    if (e.real() > 0) return Number::rational(0);
    return std::nullopt;
  }
  // Real roots of negative numbers with odd denominators stay real: (-8)^(1/3) = -2.
  if (b.imag() == 0 && b.real() < 0 && exponent.exact && exponent.q % 2 == 1)
    return Number::inexact({(exponent.p % 2 ? -1.0 : 1.0) * std::pow(-b.real(), e.real()), 0.0});
  return Number::inexact(std::pow(b, e));
}

// ---- tokens -----------------------------------------------------------------------------------------

enum class Tok { End, Number, Letter, Command, Char, RowSep };

struct Token {
  Tok type = Tok::End;
  std::string text;
};

bool is_letter(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
bool is_digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

const char* const kWordCommands[] = {"sqrt", "sin", "cos", "tan", "log", "ln", "exp", "pi", "infty", "inf",
                                     "arcsin", "arccos", "arctan", "sec", "csc", "cot"};

std::vector<Token> tokenize(std::string_view s, bool& ok) {
  std::vector<Token> out;
  ok = true;
  for (size_t i = 0; i < s.size();) {
    const char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    if (is_digit(c) || (c == '.' && i + 1 < s.size() && is_digit(s[i + 1]))) {
      size_t j = i;
      bool dot = false;
      while (j < s.size() && (is_digit(s[j]) || (s[j] == '.' && !dot && j + 1 < s.size() && is_digit(s[j + 1])))) {
        dot |= s[j] == '.';
        ++j;
      }
      out.push_back({Tok::Number, std::string(s.substr(i, j - i))});
      i = j;
      continue;
    }
    if (c == '\\') {
      if (i + 1 < s.size() && s[i + 1] == '\\') {
        out.push_back({Tok::RowSep, "\\\\"});
        i += 2;
        continue;
      }
      size_t j = i + 1;
      while (j < s.size() && is_letter(s[j])) ++j;
      if (j == i + 1) {  // \{ \} \| and other escaped characters
        if (i + 1 < s.size()) out.push_back({Tok::Command, std::string(s.substr(i, 2))});
        i += 2;
        continue;
      }
      out.push_back({Tok::Command, std::string(s.substr(i, j - i))});
      i = j;
      continue;
    }
    if (is_letter(c)) {
      size_t j = i;
      while (j < s.size() && is_letter(s[j])) ++j;
      const std::string word(s.substr(i, j - i));
      bool known = false;
      for (const char* w : kWordCommands) known |= word == w;
      if (known) {
        out.push_back({Tok::Command, "\\" + word});
      } else {
        for (char l : word) out.push_back({Tok::Letter, std::string(1, l)});
      }
      i = j;
      continue;
    }
    // A few UTF-8 symbols that answers use.
    static const std::pair<std::string_view, std::string_view> kUnicode[] = {
        {"π", "\\pi"}, {"√", "\\sqrt"}, {"∞", "\\infty"}, {"×", "*"}, {"·", "*"}, {"−", "-"}, {"÷", "/"},
        {"≤", "\\le"}, {"≥", "\\ge"}, {"±", "\\pm"}, {"∪", "\\cup"}};
    bool matched = false;
    for (const auto& [u, cmd] : kUnicode) {
      if (s.compare(i, u.size(), u) == 0) {
        out.push_back({cmd[0] == '\\' ? Tok::Command : Tok::Char, std::string(cmd)});
        i += u.size();
        matched = true;
        break;
      }
    }
    if (matched) continue;
    if (std::string_view("+-*/^_()[]{},=<>!|;:'&").find(c) != std::string_view::npos) {
      out.push_back({Tok::Char, std::string(1, c)});
      ++i;
      continue;
    }
    ok = false;  // a character no math answer uses: leave it to string comparison
    return out;
  }
  out.push_back({Tok::End, ""});
  return out;
}

// ---- parser -----------------------------------------------------------------------------------------

Node leaf_number(Number n) {
  Node node;
  node.kind = Kind::Num;
  node.num = n;
  return node;
}

Node make(Kind kind, std::vector<Node> kids, std::string name = {}) {
  Node node;
  node.kind = kind;
  node.kids = std::move(kids);
  node.name = std::move(name);
  return node;
}

std::optional<Number> parse_decimal(const std::string& text) {
  const size_t dot = text.find('.');
  const std::string digits = dot == std::string::npos ? text : text.substr(0, dot) + text.substr(dot + 1);
  const size_t decimals = dot == std::string::npos ? 0 : text.size() - dot - 1;
  size_t first = digits.find_first_not_of('0');
  const std::string significant = first == std::string::npos ? "0" : digits.substr(first);
  if (significant.size() <= 18 && decimals <= 18) {
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
    Node rel = make(Kind::Relation, {std::move(*first)}, peek().text);
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
    Node u = make(Kind::Union, {std::move(*first)});
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
    Node sum = make(Kind::Add, {std::move(*first)});
    while (ok_) {
      if (is("+") || is("-")) {
        const bool minus = next().text == "-";
        auto t = term();
        if (!t) return std::nullopt;
        sum.kids.push_back(minus ? make(Kind::Neg, {std::move(*t)}) : std::move(*t));
      } else if (is("\\pm") || is("\\mp")) {
        next();
        auto t = term();
        if (!t) return std::nullopt;
        Node left = sum.kids.size() == 1 ? std::move(sum.kids[0]) : std::move(sum);
        sum = make(Kind::Add, {make(Kind::PlusMinus, {std::move(left), std::move(*t)})});
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
    return tok.text == "(" || tok.text == "{";
  }

  std::optional<Node> term() {
    auto first = unary();
    if (!first) return std::nullopt;
    Node product = make(Kind::Mul, {std::move(*first)});
    while (ok_) {
      if (is("*") || is("\\cdot") || is("\\times")) {
        next();
      } else if (is("/") || is("\\div")) {
        next();
        auto d = unary();
        if (!d) return std::nullopt;
        product.kids.push_back(make(Kind::Pow, {std::move(*d), leaf_number(Number::rational(-1))}));
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

  std::optional<Node> unary() {
    if (is("-")) {
      next();
      auto u = unary();
      if (!u) return std::nullopt;
      return make(Kind::Neg, {std::move(*u)});
    }
    if (is("+")) {
      next();
      return unary();
    }
    if (is("\\pm") || is("\\mp")) {
      next();
      auto u = unary();
      if (!u) return std::nullopt;
      return make(Kind::PlusMinus, {leaf_number(Number::rational(0)), std::move(*u)});
    }
    return power();
  }

  std::optional<Node> power() {
    auto base = postfix();
    if (!base) return std::nullopt;
    if (!is("^")) return base;
    next();
    auto exponent = exponent_after_caret(/*right_associative=*/true);
    if (!exponent) return std::nullopt;
    return make(Kind::Pow, {std::move(*base), std::move(*exponent)});
  }

  // What follows a '^': a {group}, a negated item, or (right_associative) a power itself: 2^3^2 is 2^(3^2).
  std::optional<Node> exponent_after_caret(bool right_associative) {
    if (is("{")) return group();
    if (is("-")) {
      next();
      auto e = postfix();
      if (!e) return std::nullopt;
      return make(Kind::Neg, {std::move(*e)});
    }
    return right_associative ? power() : postfix();
  }

  std::optional<Node> postfix() {
    auto p = primary();
    while (p && ok_ && is("!")) {
      next();
      p = make(Kind::Func, {std::move(*p)}, "factorial");
    }
    return p;
  }

  // { ... }: a LaTeX group, its content as one item (or a list).
  std::optional<Node> group() {
    if (!expect("{")) return std::nullopt;
    Depth depth(*this);
    if (!ok_) return std::nullopt;
    auto inner = list_until({"}"});
    if (!inner || !expect("}")) return std::nullopt;
    return inner;
  }

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
      return leaf_number(*n);
    }
    if (tok.type == Tok::Letter) {
      next();
      Node sym = make(Kind::Sym, {}, tok.text);
      if (is("_")) {  // x_1, a_{n}
        next();
        if (is("{")) {
          next();
          while (ok_ && !is("}") && peek().type != Tok::End) sym.name += next().text;
          if (!expect("}")) return std::nullopt;
        } else {
          sym.name += next().text;
        }
      }
      return sym;
    }
    if (tok.text == "(" || tok.text == "[") return bracketed();
    if (tok.text == "{") return group();
    if (tok.text == "\\{") {
      next();
      Node set = make(Kind::Set, {});
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
      auto inner = expr();
      if (!inner || !expect("|")) return std::nullopt;
      return make(Kind::Func, {std::move(*inner)}, "abs");
    }
    if (tok.type != Tok::Command) return fail(), std::nullopt;
    const std::string& cmd = tok.text;
    if (cmd == "\\begin") return matrix();
    next();
    if (cmd == "\\frac" || cmd == "\\binom") {
      auto a = group();
      auto b = a ? group() : std::nullopt;
      if (!b) return std::nullopt;
      if (cmd == "\\binom") return make(Kind::Func, {std::move(*a), std::move(*b)}, "binom");
      return make(Kind::Mul, {std::move(*a), make(Kind::Pow, {std::move(*b), leaf_number(Number::rational(-1))})});
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
      if (!index) return make(Kind::Pow, {std::move(*radicand), leaf_number(Number::rational(1, 2))});
      return make(Kind::Pow, {std::move(*radicand), make(Kind::Pow, {std::move(*index), leaf_number(Number::rational(-1))})});
    }
    if (cmd == "\\pi") return make(Kind::Sym, {}, "\\pi");
    if (cmd == "\\infty" || cmd == "\\inf") {
      Node inf;
      inf.kind = Kind::Infinity;
      return inf;
    }
    static const char* const kFunctions[] = {"\\sin", "\\cos", "\\tan", "\\log", "\\ln", "\\exp", "\\arcsin",
                                             "\\arccos", "\\arctan", "\\sec", "\\csc", "\\cot"};
    for (const char* f : kFunctions) {
      if (cmd == f) {
        // "\sin^2(x)" is (\sin x)^2 and "\sin^{-1} x" is \arcsin x: a power right after the name applies
        // to the value.
        std::optional<Node> exponent;
        if (is("^")) {
          next();
          exponent = exponent_after_caret(/*right_associative=*/false);
          if (!exponent) return std::nullopt;
        }
        // "\sin(x)^2" is (\sin x)^2: a parenthesized argument ends at its parenthesis; "\sin x^2" is
        // \sin(x^2), as LaTeX reads it.
        auto arg = is("{") ? group() : is("(") ? postfix() : power();
        if (!arg) return std::nullopt;
        std::string name = cmd.substr(1);
        if (exponent && is_minus_one(*exponent) && (name == "sin" || name == "cos" || name == "tan")) {
          return make(Kind::Func, {std::move(*arg)}, "arc" + name);
        }
        Node call = make(Kind::Func, {std::move(*arg)}, name);
        if (!exponent) return call;
        return make(Kind::Pow, {std::move(call), std::move(*exponent)});
      }
    }
    if (cmd == "\\text" || cmd == "\\mathrm" || cmd == "\\operatorname") {
      // text that survived normalization (a word answer): its letters as symbols
      return group();
    }
    if (cmd.size() > 2 && is_letter(cmd[1])) return make(Kind::Sym, {}, cmd);  // \alpha, \theta, ...
    return fail(), std::nullopt;
  }

  std::vector<Token> t_;
  size_t pos_ = 0;
  int depth_ = 0;
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

std::optional<Number> evaluate(const Node& node, const std::map<std::string, double>& variables, Budget& budget) {
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
      return Number::inexact({it->second, 0.0});
    }
    case Kind::Neg: {
      auto a = evaluate(node.kids[0], variables, budget);
      if (!a) return std::nullopt;
      return neg(*a);
    }
    case Kind::Add:
    case Kind::Mul: {
      Number acc = Number::rational(node.kind == Kind::Add ? 0 : 1);
      for (const Node& kid : node.kids) {
        auto v = evaluate(kid, variables, budget);
        if (!v) return std::nullopt;
        acc = node.kind == Kind::Add ? add(acc, *v) : mul(acc, *v);
      }
      return acc;
    }
    case Kind::Pow: {
      auto b = evaluate(node.kids[0], variables, budget);
      auto e = b ? evaluate(node.kids[1], variables, budget) : std::nullopt;
      if (!e) return std::nullopt;
      return power(*b, *e);
    }
    case Kind::Func: {
      std::vector<Number> args;
      for (const Node& kid : node.kids) {
        auto v = evaluate(kid, variables, budget);
        if (!v) return std::nullopt;
        args.push_back(*v);
      }
      const std::complex<double> x = args[0].value();
      const std::string& f = node.name;
      if (f == "abs") {
        if (args[0].exact) return Number::rational(args[0].p < 0 ? -args[0].p : args[0].p, args[0].q);
        return Number::inexact({std::abs(x), 0.0});
      }
      if (f == "factorial" || f == "binom") {
        const Number& n = args[0];
        if (!n.exact || n.q != 1 || n.p < 0 || n.p > 20) return std::nullopt;
        if (f == "factorial") {
          int64_t acc = 1;
          for (int64_t k = 2; k <= n.p; ++k) acc *= k;
          return Number::rational(acc);
        }
        const Number& k = args[1];
        if (!k.exact || k.q != 1 || k.p < 0 || k.p > n.p) return Number::rational(0);
        int64_t acc = 1;
        for (int64_t j = 1; j <= k.p; ++j) acc = acc * (n.p - k.p + j) / j;
        return Number::rational(acc);
      }
      if (f == "sin") return Number::inexact(std::sin(x));
      if (f == "cos") return Number::inexact(std::cos(x));
      if (f == "tan") return Number::inexact(std::tan(x));
      if (f == "sec") return Number::inexact(1.0 / std::cos(x));
      if (f == "csc") return Number::inexact(1.0 / std::sin(x));
      if (f == "cot") return Number::inexact(1.0 / std::tan(x));
      if (f == "arcsin") return Number::inexact(std::asin(x));
      if (f == "arccos") return Number::inexact(std::acos(x));
      if (f == "arctan") return Number::inexact(std::atan(x));
      if (f == "exp") return Number::inexact(std::exp(x));
      if (f == "ln") return Number::inexact(std::log(x));
      if (f == "log") return Number::inexact(std::log10(x));
      return std::nullopt;
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
