// Paired bootstrap over documents (or task examples): the intervals of every figure in a
// forgetting report. Base and tuned were scored on the same units, so each replicate draws n
// units with replacement and recomputes both sides from the same draw: the interval of their
// difference is the difference's own, far narrower than two separate intervals. No torch here.
//
// Replicates are seeded and drawn by a fixed generator (splitmix64, multiply-high to [0, n)), so
// the same seed gives the same intervals on every machine and every run. Intervals are
// percentile intervals: the (1 - c) / 2 and (1 + c) / 2 quantiles of the replicates, linearly
// interpolated between order statistics.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace plinth::eval {

struct Interval {
  double lo = std::numeric_limits<double>::quiet_NaN();
  double hi = std::numeric_limits<double>::quiet_NaN();

  bool known() const;         // both ends finite
  double half_width() const;  // (hi - lo) / 2; NaN when unknown
  // Both ends through x -> x * factor + offset (a positive factor: the ends keep their order).
  Interval scaled(double factor, double offset = 0) const;
};

// `count` replicates of `units` draws with replacement: weights(b)[i] is how often unit i was
// drawn in replicate b (the weights of a replicate sum to `units`).
class Resamples {
 public:
  Resamples(size_t units, int count, uint64_t seed);

  size_t units() const { return units_; }
  int count() const { return count_; }
  const uint32_t* weights(int b) const { return weights_.data() + static_cast<size_t>(b) * units_; }

  // Per replicate: sum(w * num) / sum(w * den). NaN where the denominator is 0.
  std::vector<double> ratio(const std::vector<double>& num, const std::vector<double>& den) const;
  // Per replicate: 100 * (sum(w * after) / sum(w * before) - 1), the relative change in percent
  // (a domain's forgetting from tuned and base NLL).
  std::vector<double> change_pct(const std::vector<double>& after, const std::vector<double>& before) const;

 private:
  size_t units_;
  int count_;
  std::vector<uint32_t> weights_;  // (count, units)
};

// The sum of `v` (a sample's NLLs, bytes, ...).
double sum(const std::vector<double>& v);

// The percentile interval of the replicates at `confidence` in (0, 1). Unknown (NaN ends) when
// there are no replicates or any is not finite.
Interval percentile_interval(std::vector<double> replicates, double confidence);

// Elementwise over aligned replicates (the same b in every vector): the mean and the maximum of
// several statistics, e.g. mean and worst forgetting over domains resampled independently.
std::vector<double> replicate_mean(const std::vector<const std::vector<double>*>& stats);
std::vector<double> replicate_max(const std::vector<const std::vector<double>*>& stats);

}  // namespace plinth::eval
