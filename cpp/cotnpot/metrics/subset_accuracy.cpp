// Expected vote accuracy over random subsets: the exact majority count and the enumerating/sampling
// route for every other vote. See subset_accuracy.h for the contract.
#include "cotnpot/metrics/subset_accuracy.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "cotnpot/detail/check_values.h"

namespace cotnpot::metrics {
namespace {

// C(1000, 500) ~ 2.7e299, and the count of tied classes' shares can reach e * C(n, j) with e up to n/t:
// still a finite float64 (at 1024 it overflowed).
constexpr int64_t kMaxExactN = 1000;

// Binomial coefficients C(a, b) for a, b <= kMaxExactN as float64 (Pascal's triangle, built once).
double binom(int64_t a, int64_t b) {
  static const std::vector<double> table = [] {
    std::vector<double> t((kMaxExactN + 1) * (kMaxExactN + 1), 0.0);
    for (int64_t i = 0; i <= kMaxExactN; ++i) {
      t[i * (kMaxExactN + 1)] = 1.0;
      for (int64_t j = 1; j <= i; ++j)
        t[i * (kMaxExactN + 1) + j] = t[(i - 1) * (kMaxExactN + 1) + j - 1] + t[(i - 1) * (kMaxExactN + 1) + j];
    }
    return t;
  }();
  if (b < 0 || a < 0 || b > a) return 0.0;
  return table[a * (kMaxExactN + 1) + b];
}

struct Inputs {
  at::Tensor classes, correct, valid, weights, keep;  // CPU, contiguous; weights/keep may be undefined
  int64_t P = 0, N = 0;
};

Inputs check_inputs(const char* op, const at::Tensor& classes, const at::Tensor& correct, const at::Tensor& valid,
                    const at::Tensor& weights = {}, const at::Tensor& keep = {}) {
  cotnpot::detail::check_defined(op, "classes", classes);
  cotnpot::detail::check_defined(op, "correct", correct);
  TORCH_CHECK(classes.dim() == 2, op, ": classes must be 2-D [P,N], got ", classes.dim(), "-D with shape ",
              classes.sizes());
  TORCH_CHECK(classes.scalar_type() == at::kLong || classes.scalar_type() == at::kInt, op,
              ": classes must be int64 or int32 answer-class ids, got ", classes.scalar_type());
  Inputs in;
  in.P = classes.size(0);
  in.N = classes.size(1);
  auto same_shape = [&](const char* name, const at::Tensor& t) {
    TORCH_CHECK(t.sizes() == classes.sizes(), op, ": ", name, " must have shape ", classes.sizes(), " like classes, got ",
                t.sizes());
  };
  auto boolean = [&](const char* name, const at::Tensor& t) {
    TORCH_CHECK(t.scalar_type() == at::kBool, op, ": ", name, " must be bool, got ", t.scalar_type());
    same_shape(name, t);
    return t.cpu().contiguous();
  };
  in.classes = classes.to(at::kCPU, at::kLong).contiguous();
  in.correct = boolean("correct", correct);
  in.valid = valid.defined() ? boolean("valid", valid) : at::ones({in.P, in.N}, at::kBool);
  if (keep.defined()) in.keep = boolean("keep", keep);
  // Padding (valid = false) may hold any id: it becomes "no answer", and only the candidates' ids are checked.
  in.classes = at::where(in.valid, in.classes, at::full_like(in.classes, -1));
  if (in.classes.numel() > 0) {
    const int64_t top = in.classes.max().item<int64_t>();
    TORCH_CHECK(top < in.N, op, ": classes must be ids in [0, N) = [0, ", in.N, ") per problem (negative: no answer), got ",
                top);
  }
  if (weights.defined()) {
    TORCH_CHECK(at::isFloatingType(weights.scalar_type()), op, ": weights must be floating-point, got ",
                weights.scalar_type());
    same_shape("weights", weights);
    in.weights = weights.to(at::kCPU, at::kDouble).contiguous();
    // Only where a candidate votes (valid, with an answer), as cotnpot::vote checks them.
    const at::Tensor negative = in.valid & (in.classes >= 0) & at::isfinite(in.weights) & (in.weights < 0);
    if (negative.any().item<bool>()) {
      const at::Tensor where = negative.nonzero()[0];
      const int64_t p = where[0].item<int64_t>(), j = where[1].item<int64_t>();
      TORCH_CHECK(false, op, ": weights must be non-negative (a vote adds them up), got ",
                  in.weights[p][j].item<double>(), " at problem ", p, ", candidate ", j,
                  "; for a verifier's average log-probs weigh by their exp, the solution's per-token probability");
    }
  }
  return in;
}

// ---- exact majority ---------------------------------------------------------------------------------------

// One problem: out[j-1] = expected majority accuracy at subset size j, j = 1..N.
void majority_row(const int64_t* cls, const bool* ok, const bool* valid, int64_t N, double* out) {
  std::vector<int64_t> first_of(N, -1);  // class id -> compact index
  std::vector<int64_t> size;
  std::vector<double> good;
  int64_t n = 0;
  for (int64_t i = 0; i < N; ++i) {
    if (!valid[i]) continue;
    ++n;
    if (cls[i] < 0) continue;
    int64_t& c = first_of[cls[i]];
    if (c < 0) {
      c = static_cast<int64_t>(size.size());
      size.push_back(0);
      good.push_back(0.0);
    }
    ++size[c];
    good[c] += ok[i] ? 1.0 : 0.0;
  }
  std::vector<double> acc(n + 1, 0.0);
  const int64_t voters = std::accumulate(size.begin(), size.end(), int64_t{0});
  const int64_t biggest = size.empty() ? 0 : *std::max_element(size.begin(), size.end());
  // For each winning count t: the generating function over subsets in which every class has at most t
  // members, in x (subset size), y (classes with exactly t) and w (marks one class at t, weighted by its
  // share of correct members; only the w^0 and w^1 terms are kept). Classes smaller than t and the
  // candidates without an answer contribute (1+x)^a, the starting polynomial.
  std::vector<double> poly, next;
  for (int64_t t = 1; t <= biggest; ++t) {
    int64_t small = n - voters, big = 0;
    for (int64_t s : size) {
      if (s < t) small += s;
      else ++big;
    }
    const int64_t emax = std::min(big, n / t);
    const int64_t E = emax + 1;
    auto at = [E](std::vector<double>& p, int64_t u, int64_t e, int w) -> double& { return p[(u * E + e) * 2 + w]; };
    poly.assign((n + 1) * E * 2, 0.0);
    for (int64_t u = 0; u <= small; ++u) at(poly, u, 0, 0) = binom(small, u);
    int64_t deg_x = small, deg_e = 0;
    for (size_t c = 0; c < size.size(); ++c) {
      const int64_t s = size[c];
      if (s < t) continue;
      const double r = good[c] / static_cast<double>(s);
      next.assign(poly.size(), 0.0);
      const int64_t new_x = std::min(n, deg_x + t), new_e = std::min(emax, deg_e + 1);
      for (int64_t u = 0; u <= deg_x; ++u) {
        for (int64_t e = 0; e <= deg_e; ++e) {
          const double p0 = at(poly, u, e, 0), p1 = at(poly, u, e, 1);
          if (p0 == 0.0 && p1 == 0.0) continue;
          for (int64_t v = 0; v < t && u + v <= n; ++v) {  // this class has fewer than t in the subset
            const double b = binom(s, v);
            at(next, u + v, e, 0) += b * p0;
            at(next, u + v, e, 1) += b * p1;
          }
          if (u + t <= n && e + 1 <= emax) {  // exactly t: one more class at the top
            const double b = binom(s, t);
            at(next, u + t, e + 1, 0) += b * p0;
            at(next, u + t, e + 1, 1) += b * (p1 + r * p0);
          }
        }
      }
      poly.swap(next);
      deg_x = new_x;
      deg_e = new_e;
    }
    // Subsets of size j whose top count is t, shared by e tied classes: each tied class wins 1/e of them.
    for (int64_t j = 1; j <= deg_x; ++j)
      for (int64_t e = 1; e <= deg_e; ++e) acc[j] += at(poly, j, e, 1) / static_cast<double>(e);
  }
  for (int64_t j = 1; j <= N; ++j) out[j - 1] = n == 0 ? 0.0 : acc[std::min(j, n)] / binom(n, std::min(j, n));
}

// ---- enumerated or sampled votes ---------------------------------------------------------------------------

// splitmix64: a tiny, well-mixed generator; one per (seed, problem, k), so threads do not share state.
struct SplitMix64 {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  int64_t below(int64_t m) {  // uniform in [0, m); Lemire's multiply-shift (bias < m / 2^64)
    return static_cast<int64_t>((static_cast<unsigned __int128>(next()) * static_cast<uint64_t>(m)) >> 64);
  }
};

enum class Ties { kFair, kFirst };

// The vote of one subset (positions into the problem's valid candidates, ascending when ties are
// "first"): its expected correctness.
class SubsetVote {
 public:
  SubsetVote(int64_t classes, Ties ties, bool filtered, bool fallback_all)
      : ties_(ties), filtered_(filtered), fallback_all_(fallback_all), tally_(classes, 0.0), good_(classes, 0.0),
        count_(classes, 0), first_(classes, 0), first_ok_(classes, 0) {}

  // cls/weight/ok/kept: the problem's valid candidates, in order (cls < 0 or non-finite weight: no vote).
  double operator()(const std::vector<int64_t>& subset, const std::vector<int64_t>& cls, const std::vector<double>& weight,
                    const std::vector<char>& ok, const std::vector<char>& kept) {
    bool use_kept = false;
    if (filtered_) {
      for (int64_t i : subset) use_kept |= kept[i] && cls[i] >= 0;
      if (!use_kept && !fallback_all_) return 0.0;
    }
    touched_.clear();
    for (size_t pos = 0; pos < subset.size(); ++pos) {
      const int64_t i = subset[pos], c = cls[i];
      if (c < 0 || (use_kept && !kept[i])) continue;
      if (count_[c] == 0) {
        touched_.push_back(c);
        first_[c] = static_cast<int64_t>(pos);
        first_ok_[c] = ok[i];
      }
      ++count_[c];
      tally_[c] += weight[i];
      good_[c] += ok[i] ? 1.0 : 0.0;
    }
    double value = 0.0;
    if (!touched_.empty()) {
      double best = -1.0;
      for (int64_t c : touched_) best = std::max(best, tally_[c]);
      double sum = 0.0;
      int64_t tied = 0, first = -1;
      for (int64_t c : touched_) {
        if (tally_[c] != best) continue;
        ++tied;
        sum += good_[c] / static_cast<double>(count_[c]);
        if (first < 0 || first_[c] < first_[first]) first = c;
      }
      // fair: the tied classes share the subset equally, each judged by the share of its members that are
      // correct; first: the harness rule, the class seen first, judged by that first member.
      value = ties_ == Ties::kFair ? sum / static_cast<double>(tied) : (first_ok_[first] ? 1.0 : 0.0);
    }
    for (int64_t c : touched_) {
      tally_[c] = good_[c] = 0.0;
      count_[c] = 0;
    }
    return value;
  }

 private:
  Ties ties_;
  bool filtered_, fallback_all_;
  std::vector<double> tally_, good_;
  std::vector<int64_t> count_, first_, touched_;
  std::vector<char> first_ok_;
};

}  // namespace

at::Tensor majority_accuracy_exact(const at::Tensor& classes, const at::Tensor& correct, const at::Tensor& valid) {
  constexpr const char* op = "majority_accuracy_exact";
  const Inputs in = check_inputs(op, classes, correct, valid);
  TORCH_CHECK(in.N <= kMaxExactN, op, ": at most ", kMaxExactN, " candidates per problem (float64 counts), got N = ",
              in.N, "; use vote_accuracy, which samples subsets");
  at::Tensor out = at::zeros({in.P, in.N}, at::kDouble);
  const int64_t* cls = in.classes.data_ptr<int64_t>();
  const bool* ok = in.correct.data_ptr<bool>();
  const bool* val = in.valid.data_ptr<bool>();
  double* dst = out.data_ptr<double>();
  const int64_t N = in.N;
  at::parallel_for(0, in.P, 8, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) majority_row(cls + p * N, ok + p * N, val + p * N, N, dst + p * N);
  });
  return out.to(classes.device());
}

SubsetAccuracy vote_accuracy(const at::Tensor& classes, const at::Tensor& correct, const at::Tensor& valid,
                             const at::Tensor& weights, const at::Tensor& keep, std::string_view fallback,
                             std::string_view ties, int64_t k, int64_t samples, int64_t max_subsets, uint64_t seed,
                             const std::atomic<bool>* stop) {
  constexpr const char* op = "vote_accuracy";
  TORCH_CHECK(fallback == "all" || fallback == "none", op, ": fallback must be \"all\" or \"none\", got \"",
              std::string(fallback), "\"");
  TORCH_CHECK(ties == "fair" || ties == "first", op, ": ties must be \"fair\" or \"first\", got \"", std::string(ties),
              "\"");
  TORCH_CHECK(k >= 1, op, ": k must be >= 1, got ", k);
  TORCH_CHECK(samples >= 2, op, ": samples must be >= 2 (a variance needs two), got ", samples);
  TORCH_CHECK(max_subsets >= 0, op, ": max_subsets must be >= 0, got ", max_subsets);
  const Inputs in = check_inputs(op, classes, correct, valid, weights, keep);
  const Ties rule = ties == "fair" ? Ties::kFair : Ties::kFirst;
  const bool filtered = in.keep.defined(), fallback_all = fallback == "all";
  at::Tensor mean = at::zeros({in.P}, at::kDouble), variance = at::zeros({in.P}, at::kDouble);
  at::Tensor exact = at::ones({in.P}, at::kBool);
  const int64_t N = in.N;
  const int64_t* cls_all = in.classes.data_ptr<int64_t>();
  const bool* ok_all = in.correct.data_ptr<bool>();
  const bool* val_all = in.valid.data_ptr<bool>();
  const double* w_all = in.weights.defined() ? in.weights.data_ptr<double>() : nullptr;
  const bool* keep_all = filtered ? in.keep.data_ptr<bool>() : nullptr;
  double* mean_out = mean.data_ptr<double>();
  double* var_out = variance.data_ptr<double>();
  bool* exact_out = exact.data_ptr<bool>();

  at::parallel_for(0, in.P, 1, [&](int64_t begin, int64_t end) {
    // *stop is read every 4096 subsets (well under a millisecond): one problem alone may ask for 10^12.
    int64_t votes = 0;
    const auto check_stop = [&] {
      if (stop != nullptr && (++votes & 4095) == 0 && stop->load(std::memory_order_relaxed))
        throw std::runtime_error("vote_accuracy: stopped");
    };
    std::vector<int64_t> cls, subset, perm;
    std::vector<double> weight;
    std::vector<char> ok, kept;
    for (int64_t p = begin; p < end; ++p) {
      cls.clear(), weight.clear(), ok.clear(), kept.clear();
      for (int64_t i = p * N; i < (p + 1) * N; ++i) {
        if (!val_all[i]) continue;
        const bool votes = w_all == nullptr || std::isfinite(w_all[i]);
        cls.push_back(votes ? cls_all[i] : -1);
        weight.push_back(w_all == nullptr ? 1.0 : w_all[i]);
        ok.push_back(ok_all[i]);
        kept.push_back(filtered && keep_all[i]);
      }
      const int64_t n = static_cast<int64_t>(cls.size()), kk = std::min(k, n);
      if (n == 0) continue;
      SubsetVote vote(N, rule, filtered, fallback_all);  // class ids are below N, not n
      double sum = 0.0, sum_sq = 0.0;
      int64_t count = 0;
      if (binom(std::min(n, kMaxExactN), std::min(kk, kMaxExactN)) <= static_cast<double>(max_subsets) &&
          n <= kMaxExactN) {
        subset.resize(kk);  // every subset, in lexicographic order
        for (int64_t i = 0; i < kk; ++i) subset[i] = i;
        while (true) {
          check_stop();
          sum += vote(subset, cls, weight, ok, kept);
          ++count;
          int64_t i = kk - 1;
          while (i >= 0 && subset[i] == n - kk + i) --i;
          if (i < 0) break;
          ++subset[i];
          for (int64_t j = i + 1; j < kk; ++j) subset[j] = subset[j - 1] + 1;
        }
        mean_out[p] = sum / static_cast<double>(count);
        continue;
      }
      SplitMix64 rng{seed ^ (0x9E3779B97F4A7C15ULL * static_cast<uint64_t>(p + 1)) ^
                     (0xD1B54A32D192ED03ULL * static_cast<uint64_t>(k))};
      perm.resize(n);
      for (int64_t i = 0; i < n; ++i) perm[i] = i;
      for (int64_t s = 0; s < samples; ++s) {
        check_stop();
        for (int64_t i = 0; i < kk; ++i) std::swap(perm[i], perm[i + rng.below(n - i)]);  // partial Fisher-Yates
        subset.assign(perm.begin(), perm.begin() + kk);
        if (rule == Ties::kFirst) std::sort(subset.begin(), subset.end());
        const double v = vote(subset, cls, weight, ok, kept);
        sum += v;
        sum_sq += v * v;
      }
      const double S = static_cast<double>(samples), m = sum / S;
      mean_out[p] = m;
      var_out[p] = std::max(0.0, (sum_sq - S * m * m) / (S - 1.0)) / S;
      exact_out[p] = false;
    }
  });
  const auto device = classes.device();
  return {mean.to(device), variance.to(device), exact.to(device)};
}

}  // namespace cotnpot::metrics
