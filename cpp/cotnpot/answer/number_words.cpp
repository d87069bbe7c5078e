// The words that change or join a number; see detail/number_words.h.
#include "cotnpot/answer/detail/number_words.h"

namespace cotnpot::answer::detail {
namespace {

// Words that change or join a number ("5 million", "5 or 6", "2 squared"): a number followed by one of them
// keeps its words (normalize.cpp: strip_counted_nouns; extract.cpp: a stated final answer).
const char* const kNumberWords[] = {
    "and", "or", "nor", "not", "to", "plus", "minus", "times", "over", "divided", "by", "mod", "pmod", "modulo",
    "sqrt", "root", "roots", "squared", "cubed", "factorial", "power", "hundred", "hundreds", "thousand",
    "thousands", "million", "millions", "billion", "billions", "trillion", "dozen", "dozens", "half", "halves",
    "third", "thirds", "quarter", "quarters", "fourth", "fourths", "fifth", "fifths", "sixth", "sixths",
    "seventh", "sevenths", "eighth", "eighths", "ninth", "ninths", "tenth", "tenths", "eleventh", "elevenths",
    "twelfth", "twelfths", "hundredth", "hundredths", "thousandth", "thousandths", "millionth", "millionths",
    "negative", "positive", "score", "scores", "gross", "cube", "cubes", "grand", "lakh", "lakhs", "crore",
    "crores", "zillion", "zillions", "tens", "below", "above", "under",
    "percent", "percentage", "pct", "per", "cent", "point", "less", "more", "than", "least", "most", "about",
    "approximately", "sin", "cos", "tan", "log", "exp", "pi", "degree", "degrees", "radian", "radians"};

// Nouns ending in "th" or "ths" that are no ordinal ("3 months" counts months; "3 sixteenths" is a fraction)
const char* const kNounsInTh[] = {"month", "months", "width", "widths", "length", "lengths", "depth", "depths",
                                  "tooth", "teeth", "booth", "booths", "cloth", "cloths", "path", "paths",
                                  "bath", "baths", "moth", "moths", "truth", "truths", "birth", "births"};

}  // namespace

bool is_number_word(std::string_view w) {
  for (const char* u : kNumberWords)
    if (w == u) return true;
  const auto ends_with = [&](std::string_view end) { return w.size() > end.size() && w.substr(w.size() - end.size()) == end; };
  const bool ordinal_form = ends_with("th") || ends_with("ths");
  if (!ordinal_form) return false;
  for (const char* u : kNounsInTh)
    if (w == u) return false;
  return true;   // sixteenths, hundredths, twentieth...
}

}  // namespace cotnpot::answer::detail
