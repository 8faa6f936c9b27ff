#include "eval/bootstrap.h"

#include <algorithm>
#include <cmath>

#include "util/error.h"
#include "util/nan.h"

namespace plinth::eval {

namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

bool Interval::known() const {
  return std::isfinite(lo) && std::isfinite(hi);
}

double Interval::half_width() const {
  return known() ? (hi - lo) / 2 : kNaN;
}

Interval Interval::scaled(double factor, double offset) const {
  return {lo * factor + offset, hi * factor + offset};
}

Resamples::Resamples(size_t units, int count, uint64_t seed)
    : units_(units),
      count_(std::max(count, 0)),
      weights_(units * static_cast<size_t>(std::max(count, 0)), 0) {
  uint64_t state = seed;
  for (int b = 0; b < count_; ++b) {
    uint32_t* w = weights_.data() + static_cast<size_t>(b) * units_;
    for (size_t i = 0; i < units_; ++i) {
      // Multiply-high maps 64 random bits to [0, units) without modulo bias worth naming.
      auto pick = static_cast<size_t>((static_cast<unsigned __int128>(splitmix64(state)) * units_) >> 64);
      ++w[pick];
    }
  }
}

std::vector<double> Resamples::ratio(const std::vector<double>& num, const std::vector<double>& den) const {
  if (num.size() != units_ || den.size() != units_)
    throw Failure("Resamples::ratio: the columns do not have one value per unit");
  std::vector<double> out(static_cast<size_t>(count_));
  for (int b = 0; b < count_; ++b) {
    const uint32_t* w = weights(b);
    double n = 0, d = 0;
    for (size_t i = 0; i < units_; ++i) n += w[i] * num[i], d += w[i] * den[i];
    out[static_cast<size_t>(b)] = d != 0 ? n / d : kNaN;
  }
  return out;
}

std::vector<double> Resamples::change_pct(const std::vector<double>& after,
                                          const std::vector<double>& before) const {
  std::vector<double> out = ratio(after, before);
  for (double& v : out) v = 100.0 * (v - 1.0);
  return out;
}

Interval percentile_interval(std::vector<double> r, double confidence) {
  if (r.empty() || !(confidence > 0 && confidence < 1)) return {};
  for (double v : r)
    if (!std::isfinite(v)) return {};
  std::sort(r.begin(), r.end());
  auto quantile = [&r](double q) {
    const double pos = q * double(r.size() - 1);
    const auto i = static_cast<size_t>(std::floor(pos));
    const size_t j = std::min(i + 1, r.size() - 1);
    return r[i] + (pos - double(i)) * (r[j] - r[i]);
  };
  return {quantile((1 - confidence) / 2), quantile((1 + confidence) / 2)};
}

namespace {

template <class Combine>
std::vector<double> combine(const std::vector<const std::vector<double>*>& stats, Combine f) {
  if (stats.empty()) return {};
  const size_t n = stats.front()->size();
  for (const auto* s : stats)
    if (s->size() != n) throw Failure("bootstrap: replicate vectors of different lengths");
  std::vector<double> out(n);
  for (size_t b = 0; b < n; ++b) {
    std::vector<double> v;
    v.reserve(stats.size());
    for (const auto* s : stats) v.push_back((*s)[b]);
    out[b] = f(v);
  }
  return out;
}

}  // namespace

double sum(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

std::vector<double> replicate_mean(const std::vector<const std::vector<double>*>& stats) {
  return combine(stats, [](const std::vector<double>& v) {
    double sum = 0;
    for (double x : v) sum += x;
    return sum / double(v.size());
  });
}

std::vector<double> replicate_max(const std::vector<const std::vector<double>*>& stats) {
  return combine(stats, [](const std::vector<double>& v) {
    double m = v.front();
    for (double x : v) m = (std::isnan(m) || std::isnan(x)) ? kNaN : std::max(m, x);
    return m;
  });
}

}  // namespace plinth::eval
