#pragma once
// Normalizing an answer string before it is parsed: the LaTeX and text variants that mean the same.
//
// Removes $ and \( \) \[ \] delimiters, \left/\right, spacing commands (\! \, \; \quad), \displaystyle,
// degree marks, \% and %, \$ and currency signs, unit words in \text{...} (the text is kept when it is
// all there is), trailing periods, "x = " before a single equation's value; turns \dfrac/\tfrac/\cfrac
// into \frac, \frac12 into \frac{1}{2}, \sqrt2 into \sqrt{2}, thousands separators (1,000 and 1 000)
// and a decimal comma (1,22) into plain numbers, a mixed number 2\frac{1}{2} into (2+\frac{1}{2}).
//
// Example:
//   cotnpot::answer::normalize("\\$1,000.50") == "1000.50"
#include <string>
#include <string_view>

namespace cotnpot::answer {

struct Normalized {
  std::string text;
  bool had_percent = false;  // a % sign was removed
  std::string label;         // the name removed from "x = 5" (text is "5"), else empty
  // A % sign inside a product ("50\%x"), and the answer normalized with every % sign a factor of 1/100
  // ("50\cdot\frac{1}{100}\cdot x"; set where had_percent): the form compared where either answer has one.
  bool percent_inside = false;
  std::string percent_factors;
  // The temperature scales written after numbers' degree marks, in order: "C" of "30 °C" or "30 °Celsius",
  // "CF" of "30 °C, 40 °F" (C, F or K). Answers with other scales differ (30 °C had equalled 30 °F).
  std::string temperature_scales;
};

Normalized normalize_answer(std::string_view answer);
inline std::string normalize(std::string_view answer) { return normalize_answer(answer).text; }

}  // namespace cotnpot::answer
