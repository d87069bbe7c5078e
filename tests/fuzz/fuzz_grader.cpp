// The grader fuzzed under AddressSanitizer and UndefinedBehaviorSanitizer.
//
// Each input is (option byte, gold, pred): normalization, extraction (both modes), last_boxed, is_equiv in
// both directions, grading_steps, verify and answer_class_ids run on it, and beyond "no sanitizer report"
// it checks what the grader promises: an answer with a non-empty normal form equals itself, is in its
// own class, and no comparison takes more than its step budget (limits.h) or, as a hang guard, five seconds of CPU time.
//
// Standalone (what `make test` runs, any compiler; driver.h): seeded mutations of real answers (--seeds
// data/grader_cases.jsonl) and a dictionary of LaTeX pieces. With clang, the same file is a libFuzzer
// target (coverage-guided):
//   clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -DCOTNPOT_LIBFUZZER -Icpp \
//       tests/fuzz/fuzz_grader.cpp \
//       cpp/cotnpot/answer/{big_integer,equiv,evaluate,evaluate_wide,extract,normalize,number}.cpp \
//       cpp/cotnpot/answer/{number_words,parse,tokenize}.cpp \
//       -o fuzz_grader &&
//   ./fuzz_grader -max_total_time=600
// (clang finds no quadmath.h, which only GCC ships: that build fuzzes the doubles-only grader; the one
// `make test` builds with g++ has the quad path, COTNPOT_WIDE_QUADMATH.)
#include <ctime>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "cotnpot/answer/equiv.h"
#include "cotnpot/answer/extract.h"
#include "cotnpot/answer/limits.h"
#include "cotnpot/answer/normalize.h"
#include "driver.h"

namespace {

namespace answer = cotnpot::answer;
using cotnpot::fuzz::check;

void run_one(const uint8_t* data, size_t size) {
  if (size == 0) return;
  cotnpot::fuzz::canary(size);
  const uint8_t flags = data[0];
  const std::string rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const size_t cut = rest.find('\x01');
  const std::string gold = cut == std::string::npos ? rest : rest.substr(0, cut);
  const std::string pred = cut == std::string::npos ? rest : rest.substr(cut + 1);
  answer::EquivOptions options;
  options.percent = flags & 1;
  options.set_relation = flags & 2;
  options.rel_tol = (flags & 4) ? 1e-4 : (flags & 8) ? 0.0 : 1e-6;

  // CPU time, not wall time: on a loaded machine (CI's, or tests running beside it) a descheduled process
  // took over a wall-clock second for an input that needs 0.04 s, and the guard failed a correct grader.
  const std::clock_t start = std::clock();
  const answer::Normalized normal_gold = answer::normalize_answer(gold);
  answer::normalize_answer(pred);
  answer::ExtractOptions cot, program;
  program.mode = "program";
  cot.last_number_fallback = flags & 16;
  answer::extract_answer(rest, cot);
  answer::extract_answer(rest, program);
  answer::last_boxed(rest);
  answer::is_equiv(gold, pred, options);
  answer::is_equiv(pred, gold, options);
  const long steps = answer::grading_steps(gold, pred, options);
  // Two parses and one comparison, each within its budget.
  check(steps >= 0 && steps <= 3 * answer::kMaxSteps, "grading_steps above its budget");
  answer::verify(gold, pred, options);
  if (!normal_gold.text.empty()) {
    check(answer::is_equiv(gold, gold, options), "a non-empty answer is not equal to itself");
    const std::vector<int64_t> ids = answer::answer_class_ids({gold, pred, gold}, options);
    check(ids[0] == 0 && ids[2] == 0, "an answer is not in its own class");
  }
  // Five seconds: the steps bound the work, and a hang runs forever. On a 2-core AVX2 EPYC this build (ASan and
  // UBSan) took 0.65-1.05 s for one input within its budget (sums of 449!, corpus/sum_of_factorials_near_the_guard),
  // and a one-second guard failed a correct grader.
  const double seconds = double(std::clock() - start) / CLOCKS_PER_SEC;
  check(seconds < 5.0, "one input took more than five seconds of CPU time");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  run_one(data, size);
  return 0;
}

#ifndef COTNPOT_LIBFUZZER
namespace {

// The value of the JSON string that starts at text[i] (just after its opening quote); enough JSON for
// data/grader_cases.jsonl (\uXXXX as UTF-8, surrogate pairs left as two code points).
std::string json_string(const std::string& text, size_t i) {
  std::string out;
  while (i < text.size() && text[i] != '"') {
    char c = text[i++];
    if (c != '\\' || i >= text.size()) {
      out += c;
      continue;
    }
    const char e = text[i++];
    switch (e) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'u': {
        const unsigned cp = unsigned(std::strtoul(text.substr(i, 4).c_str(), nullptr, 16));
        i += 4;
        if (cp < 0x80) {
          out += char(cp);
        } else if (cp < 0x800) {
          out += char(0xC0 | (cp >> 6));
          out += char(0x80 | (cp & 0x3F));
        } else {
          out += char(0xE0 | (cp >> 12));
          out += char(0x80 | ((cp >> 6) & 0x3F));
          out += char(0x80 | (cp & 0x3F));
        }
        break;
      }
      default: out += e;
    }
  }
  return out;
}

void read_seeds(const char* path, std::vector<std::string>& seeds) {
  seeds.insert(seeds.end(), {"\\frac{1}{2}", "0.5", "x = 3", "(1, 2]", "\\{1,2\\}", "2\\sqrt{3}", "50\\%",
                                    "\\boxed{42}", "#### 7", "a \\pm b", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}"});
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    for (const char* key : {"\"gold\": \"", "\"pred\": \""}) {
      const size_t at = line.find(key);
      if (at != std::string::npos) seeds.push_back(json_string(line, at + std::strlen(key)));
    }
  }
}

const std::vector<std::string> kPieces = {
    "\\frac{", "}{", "}", "{", "(", ")", "[", "]", "\\left(", "\\right)", "\\sqrt{", "^", "_", "\\cdot", "\\times",
    "\\pi", "e", "i", "x", "y", "=", ",", ";", "\\le", "<", "\\ge", "\\in", "\\cup", "\\infty", "-", "+", "/", "*",
    "!", "%", "\\%", "\\$", "\\text{ cm}", "\\boxed{", "\\dfrac", "\\sin", "\\log", "\\ln", "\\pm", "\\mp",
    "0.", "1e308", "1e-400", "99999999999999999999999999", "-9223372036854775808", "0^0", "0/0", "1/0",
    "\\begin{pmatrix}", "&", "\\\\", "\\end{pmatrix}", "\\mathbf{", "\\circ", "^\\circ", "{,}", " and ", "or",
    "The answer is ", "####", "\n", "\xff", "\xc3\xa9", "\xe2\x88\x9a", "\xf0\x9f", "\\", "$", "$$"};

std::string mutate(std::string s, const std::vector<std::string>& seeds, std::mt19937_64& rng) {
  auto pick = [&](size_t n) { return n ? size_t(rng() % n) : size_t(0); };
  const int rounds = 1 + int(rng() % 8);
  for (int r = 0; r < rounds; ++r) {
    const size_t at = pick(s.size() + 1);
    switch (rng() % 9) {
      case 0: s.insert(at, kPieces[pick(kPieces.size())]); break;
      case 1: if (!s.empty()) s.erase(pick(s.size()), 1 + pick(8)); break;
      case 2: if (!s.empty()) s[pick(s.size())] = char(rng()); break;
      case 3: s.insert(at, seeds[pick(seeds.size())]); break;                          // splice
      case 4: {                                                                           // repeat a piece
        if (s.empty()) break;
        const size_t from = pick(s.size()), len = 1 + pick(std::min<size_t>(16, s.size() - from));
        const std::string piece = s.substr(from, len);
        for (size_t k = 0, n = 1 + pick(64); k < n; ++k) s.insert(at, piece);
        break;
      }
      case 5: s = "{" + s + "}"; break;
      case 6: s = "\\frac{" + s + "}{" + seeds[pick(seeds.size())] + "}"; break;
      case 7: for (size_t k = 0, n = pick(80); k < n; ++k) s = "(" + s + ")"; break;      // deep nesting
      default: s.insert(at, std::to_string(int64_t(rng())));
    }
    if (s.size() > 3 * answer::kMaxAnswerBytes) s.resize(pick(3 * answer::kMaxAnswerBytes));
  }
  return s;
}

// An input: an option byte, a mutated gold, \x01, a mutated (or the same) prediction.
std::string make_input(const std::string& seed, const std::vector<std::string>& seeds, std::mt19937_64& rng) {
  const std::string gold = mutate(seed, seeds, rng);
  const std::string pred = rng() % 4 ? mutate(seeds[rng() % seeds.size()], seeds, rng) : gold;
  return std::string(1, char(rng())) + gold + '\x01' + pred;
}

}  // namespace

int main(int argc, char** argv) {
  return cotnpot::fuzz::fuzz_main(argc, argv, "fuzz_grader", {}, make_input,
                                  [](int argc, char** argv, std::vector<std::string>& seeds) {
                                    const char* path = "data/grader_cases.jsonl";
                                    for (int i = 1; i + 1 < argc; ++i)
                                      if (std::string(argv[i]) == "--seeds") path = argv[i + 1];
                                    read_seeds(path, seeds);
                                  },
                                  [](const std::string& input, std::vector<std::string>& seeds) {
                                    // (flag byte, gold, \x01, pred): the answers are the seeds
                                    if (input.empty()) return;
                                    const std::string rest = input.substr(1);
                                    const size_t cut = rest.find('\x01');
                                    seeds.push_back(rest.substr(0, cut));
                                    if (cut != std::string::npos) seeds.push_back(rest.substr(cut + 1));
                                  });
}
#endif
