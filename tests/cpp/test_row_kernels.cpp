// The per-row kernels of every instruction set this CPU has, against float64 ground truth.
#include <doctest/doctest.h>

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "cotnpot/logprob/detail/row_kernels.h"

using cotnpot::logprob::detail::RowKernels;
using cotnpot::logprob::detail::row_kernels_for;

namespace {

std::vector<const RowKernels*> available_kernels() {
  std::vector<const RowKernels*> out;
  for (const char* isa : {"generic", "avx2", "avx512"})
    if (const RowKernels* k = row_kernels_for(isa)) out.push_back(k);
  return out;
}

double logsumexp_f64(const std::vector<float>& x) {
  double m = -std::numeric_limits<double>::infinity();
  for (float v : x) m = std::max(m, double(v));
  double s = 0;
  for (float v : x) s += std::exp(double(v) - m);
  return m + std::log(s);
}

std::vector<float> random_row(int64_t n, std::mt19937& rng, float scale = 4.0f) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> x(n);
  for (float& v : x) v = dist(rng);
  return x;
}

// |got - want| within rel * |want| + abs: gradients near 0 carry the absolute error of 1 - p.
bool close(double got, double want, double rel, double abs) { return std::fabs(got - want) <= rel * std::fabs(want) + abs; }

// Lengths around the vector widths and the 2048-float block.
const int64_t kLengths[] = {1, 2, 3, 7, 8, 15, 16, 17, 31, 33, 63, 65, 100, 2047, 2048, 2049, 4097, 32000};

}  // namespace

TEST_CASE("row logsumexp matches float64 for every length and instruction set") {
  std::mt19937 rng(0);
  for (const RowKernels* k : available_kernels()) {
    CAPTURE(std::string(k->isa));
    for (int64_t n : kLengths) {
      CAPTURE(n);
      const auto x = random_row(n, rng);
      const double want = logsumexp_f64(x);
      CHECK(k->logsumexp_f32(x.data(), n) == doctest::Approx(want).epsilon(2e-6));
    }
  }
}

TEST_CASE("a bf16 row's logsumexp is its float row's, bit for bit, through -inf, inf and NaN") {
  // The bf16 forward converts each block and takes its maximum in one pass: the same values and the same
  // operations as the float kernel on the converted row, at every length around the vector widths and blocks.
  std::mt19937 rng(7);
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  for (const RowKernels* k : available_kernels()) {
    CAPTURE(std::string(k->isa));
    for (int64_t n : kLengths) {
      for (int variant = 0; variant < 5; ++variant) {
        CAPTURE(n);
        CAPTURE(variant);
        auto x = random_row(n, rng);
        if (variant == 1) x[n - 1] = 60.0f;                     // the maximum in the last block
        if (variant == 2) for (float& v : x) v = -inf;          // a row of masked tokens
        if (variant == 3) x[n / 2] = nan;
        if (variant == 4) x[0] = inf;
        std::vector<c10::BFloat16> xb(n);
        std::vector<float> xf(n);
        for (int64_t v = 0; v < n; ++v) xf[v] = float(xb[v] = c10::BFloat16(x[v]));
        const double got = k->logsumexp_bf16(reinterpret_cast<const uint16_t*>(xb.data()), n);
        const double want = k->logsumexp_f32(xf.data(), n);
        if (std::isnan(want)) CHECK(std::isnan(got));
        else CHECK(got == want);
      }
    }
  }
}

TEST_CASE("row logsumexp rescales when a later block holds a larger maximum") {
  for (const RowKernels* k : available_kernels()) {
    CAPTURE(std::string(k->isa));
    std::vector<float> x(5000, -3.0f);
    x[4999] = 50.0f;  // the maximum sits in the last block
    x[10] = 49.0f;
    const double want = logsumexp_f64(x);
    CHECK(k->logsumexp_f32(x.data(), 5000) == doctest::Approx(want).epsilon(1e-6));
  }
}

TEST_CASE("row logsumexp ignores -inf and propagates NaN") {
  for (const RowKernels* k : available_kernels()) {
    CAPTURE(std::string(k->isa));
    std::vector<float> x = {1.0f, -std::numeric_limits<float>::infinity(), 2.0f, 0.5f};
    CHECK(k->logsumexp_f32(x.data(), 4) == doctest::Approx(logsumexp_f64({1.0f, 2.0f, 0.5f})).epsilon(1e-6));
    for (int64_t pos : {0, 5, 16, 40}) {
      std::vector<float> y(41, 1.0f);
      y[pos] = std::numeric_limits<float>::quiet_NaN();
      CHECK(std::isnan(k->logsumexp_f32(y.data(), 41)));
    }
  }
}

TEST_CASE("row logprob gradient equals g * (onehot - softmax)") {
  std::mt19937 rng(1);
  for (const RowKernels* k : available_kernels()) {
    CAPTURE(std::string(k->isa));
    for (int64_t n : kLengths) {
      CAPTURE(n);
      const auto x = random_row(n, rng);
      const double lse = logsumexp_f64(x);
      const int64_t label = n / 2;
      const float g = -1.5f;
      std::vector<float> out(n);
      k->logprob_grad_f32(x.data(), n, lse, g, label, out.data());
      for (int64_t v = 0; v < n; ++v) {
        const double want = g * ((v == label ? 1.0 : 0.0) - std::exp(double(x[v]) - lse));
        REQUIRE(close(out[v], want, 1e-5, 1e-6));
      }
    }
  }
}

TEST_CASE("rows of logits near 1e4: the lse keeps the digits a log-prob and its gradient need") {
  // The kernels returned max + log(sum) rounded to float: half an ulp of 1e4 is 4.9e-4, which every
  // log-prob and softmax value inherited (a confident label's gradient g * (1 - p) had the wrong sign).
  std::mt19937 rng(5);
  for (const RowKernels* k : available_kernels()) {
    CAPTURE(std::string(k->isa));
    for (float offset : {1e4f, -3e4f}) {
      for (int64_t n : {17, 2049, 5000}) {
        CAPTURE(offset);
        CAPTURE(n);
        auto x = random_row(n, rng, 3.0f);
        for (float& v : x) v += offset;
        const int64_t label = n / 3;
        x[label] += 16.0f;   // a confident token: 1 - p ~ 1e-4
        const double want = logsumexp_f64(x);
        const double lse = k->logsumexp_f32(x.data(), n);
        CHECK(std::fabs(lse - want) < 1e-5);   // absolute: the log-prob's own error, not a relative one at 1e4
        const float g = 0.75f;
        std::vector<float> out(n);
        k->logprob_grad_f32(x.data(), n, lse, g, label, out.data());
        for (int64_t v = 0; v < n; ++v) {
          const double p = std::exp(double(x[v]) - want);
          const double expected = v == label ? -g * std::expm1(double(x[v]) - want) : -g * p;
          // 3e-7: 1 - p is known to a few ulps of 1 (the sum's own rounding), as in log_softmax
          REQUIRE(close(out[v], expected, 1e-4, 3e-7));
        }
      }
    }
  }
}

TEST_CASE("16-bit rows: bfloat16 and float16 are read and rounded like c10") {
  std::mt19937 rng(2);
  for (const RowKernels* k : available_kernels()) {
    CAPTURE(std::string(k->isa));
    for (int64_t n : {1, 17, 2049, 5000}) {
      CAPTURE(n);
      const auto x = random_row(n, rng);
      std::vector<c10::BFloat16> xb(n);
      std::vector<c10::Half> xh(n);
      std::vector<float> xb_f(n), xh_f(n);
      for (int64_t v = 0; v < n; ++v) {
        xb[v] = c10::BFloat16(x[v]);
        xh[v] = c10::Half(x[v]);
        xb_f[v] = float(xb[v]);
        xh_f[v] = float(xh[v]);
      }
      const double lse_b = logsumexp_f64(xb_f), lse_h = logsumexp_f64(xh_f);
      CHECK(k->logsumexp_bf16(reinterpret_cast<const uint16_t*>(xb.data()), n) ==
            doctest::Approx(lse_b).epsilon(2e-6));
      CHECK(k->logsumexp_f16(reinterpret_cast<const uint16_t*>(xh.data()), n) ==
            doctest::Approx(lse_h).epsilon(2e-6));

      std::vector<c10::BFloat16> gb(n);
      std::vector<c10::Half> gh(n);
      k->logprob_grad_bf16(reinterpret_cast<const uint16_t*>(xb.data()), n, lse_b, 1.0f, 0,
                           reinterpret_cast<uint16_t*>(gb.data()));
      k->logprob_grad_f16(reinterpret_cast<const uint16_t*>(xh.data()), n, lse_h, 1.0f, 0,
                          reinterpret_cast<uint16_t*>(gh.data()));
      for (int64_t v = 0; v < n; ++v) {
        const float want_b = float((v == 0) - std::exp(double(xb_f[v]) - lse_b));
        const float want_h = float((v == 0) - std::exp(double(xh_f[v]) - lse_h));
        // Exactly the c10 rounding of the float result, give or take the float kernel's own last bit.
        REQUIRE(close(float(gb[v]), float(c10::BFloat16(want_b)), 8e-3, 1e-6));
        REQUIRE(close(float(gh[v]), float(c10::Half(want_h)), 1e-3, 1e-6));
      }
    }
  }
}

TEST_CASE("a bf16 pair accumulates 64 blocks as a float32 sum does; inf and NaN stay") {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const RowKernels* k : available_kernels())
  for (int blocks : {5, 64}) {
    CAPTURE(std::string(k->isa));
    CAPTURE(blocks);
    const int64_t n = 4000;
    std::vector<c10::BFloat16> hi(n, c10::BFloat16(0.0f)), p(n);
    std::vector<int16_t> lo(n, 0);
    std::vector<float> f32(n, 0.0f);
    std::vector<double> exact(n, 0.0), largest(n, 0.0);
    for (int block = 0; block < blocks; ++block) {
      for (int64_t i = 0; i < n; ++i) {   // terms of 1000 in one value of 7: sums that cancel; and halfway ties
        p[i] = c10::BFloat16(normal(rng) * (i % 7 == 0 ? 1e3f : 1.0f));
        f32[i] += float(p[i]);
        exact[i] += double(float(p[i]));
        largest[i] = std::max(largest[i], std::abs(exact[i]));
      }
      k->accumulate_bf16_pair(reinterpret_cast<uint16_t*>(hi.data()), lo.data(),
                              reinterpret_cast<const uint16_t*>(p.data()), n);
    }
    int other_than_float32 = 0;
    for (int64_t i = 0; i < n; ++i) {
      // the pair's value: hi plus lo steps of 2^-15 of hi's ulp
      const int e = std::ilogb(float(hi[i]));
      const double value = double(float(hi[i])) + (float(hi[i]) == 0.0f ? 0.0 : lo[i] * std::ldexp(1.0, e - 22));
      // within a float32 sum's own rounding (a few ulps of the largest partial sum), not bf16's
      CHECK(std::abs(value - exact[i]) <= 64 * std::ldexp(largest[i], -23));
      other_than_float32 += float(hi[i]) != float(c10::BFloat16(f32[i]));
    }
    CHECK(other_than_float32 == 0);   // (2^-16 steps, clamped at int16, had rounded ties the other way)
    // a float32 sum takes inf and finite values to inf, NaN to NaN, and overflows bf16 at the end: so does the pair
    const float inf = std::numeric_limits<float>::infinity();
    std::vector<c10::BFloat16> h2 = {c10::BFloat16(1.0f), c10::BFloat16(1.0f), c10::BFloat16(3e38f)},
                               p2 = {c10::BFloat16(inf), c10::BFloat16(std::numeric_limits<float>::quiet_NaN()),
                                     c10::BFloat16(3e38f)};
    std::vector<int16_t> l2(3, 0);
    for (int step = 0; step < 2; ++step) {
      k->accumulate_bf16_pair(reinterpret_cast<uint16_t*>(h2.data()), l2.data(),
                              reinterpret_cast<const uint16_t*>(p2.data()), 3);
      p2 = {c10::BFloat16(1.0f), c10::BFloat16(1.0f), c10::BFloat16(1.0f)};
    }
    CHECK(float(h2[0]) == inf);
    CHECK(std::isnan(float(h2[1])));
    CHECK(float(h2[2]) == inf);
  }
}

TEST_CASE("AVX-512's exp is AVX2's bit for bit (its own instructions, the same function)") {
  const RowKernels* avx2 = row_kernels_for("avx2");
  const RowKernels* avx512 = row_kernels_for("avx512");
  if (!avx2 || !avx512) return;   // this CPU lacks one of them
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> below(-87.0f, 0.0f);
  const int64_t n = 100003;   // a scalar tail too
  std::vector<float> x(n), a(n), b(n);
  for (float& v : x) v = below(rng);
  x[5] = -std::numeric_limits<float>::infinity();
  x[6] = std::numeric_limits<float>::quiet_NaN();
  avx2->logprob_grad_f32(x.data(), n, 0.0f, -1.0f, -1, a.data());   // exp(x - 0), label none
  avx512->logprob_grad_f32(x.data(), n, 0.0f, -1.0f, -1, b.data());
  CHECK(std::memcmp(a.data(), b.data(), n * sizeof(float)) == 0);
}

TEST_CASE("row_kernels() picks the widest instruction set the CPU has") {
  const auto& k = cotnpot::logprob::detail::row_kernels();
  if (std::getenv("COTNPOT_CPU_ISA") == nullptr) {
    const RowKernels* widest = available_kernels().back();
    CHECK(std::strcmp(k.isa, widest->isa) == 0);
  }
  CHECK(row_kernels_for("sse9") == nullptr);
}
