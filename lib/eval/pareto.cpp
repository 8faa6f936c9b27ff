#include "eval/pareto.h"

#include <algorithm>
#include <cmath>

#include "eval/eval_spec.h"

namespace plinth::eval {

namespace {

bool comparable(const TradeOff& p) {
  return std::isfinite(p.gain) && std::isfinite(p.forgetting);
}

}  // namespace

bool dominates(const TradeOff& a, const TradeOff& b) {
  if (!comparable(a) || !comparable(b)) return false;
  return a.gain >= b.gain && a.forgetting <= b.forgetting && (a.gain > b.gain || a.forgetting < b.forgetting);
}

bool dominates_beyond_doubt(const TradeOff& a, const TradeOff& b) {
  if (!a.gain_ci.known() || !a.forgetting_ci.known() || !b.gain_ci.known() || !b.forgetting_ci.known())
    return false;
  return a.gain_ci.lo > b.gain_ci.hi && a.forgetting_ci.hi < b.forgetting_ci.lo;
}

std::vector<bool> pareto_frontier(const std::vector<TradeOff>& points) {
  std::vector<bool> on(points.size(), false);
  for (size_t i = 0; i < points.size(); ++i) {
    if (!comparable(points[i])) continue;
    on[i] = std::none_of(points.begin(), points.end(),
                         [&](const TradeOff& other) { return dominates(other, points[i]); });
  }
  return on;
}

std::vector<std::optional<size_t>> dominated_beyond_doubt(const std::vector<TradeOff>& points) {
  std::vector<std::optional<size_t>> by(points.size());
  for (size_t i = 0; i < points.size(); ++i)
    for (size_t j = 0; j < points.size() && !by[i]; ++j)
      if (j != i && dominates_beyond_doubt(points[j], points[i])) by[i] = j;
  return by;
}

std::vector<size_t> frontier_order(const std::vector<TradeOff>& points) {
  const std::vector<bool> on = pareto_frontier(points);
  std::vector<size_t> order;
  for (size_t i = 0; i < points.size(); ++i)
    if (on[i]) order.push_back(i);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (points[a].forgetting != points[b].forgetting) return points[a].forgetting < points[b].forgetting;
    return points[a].gain < points[b].gain;
  });
  return order;
}

double screen_confidence(double confidence, size_t points) {
  return 1.0 - (1.0 - confidence) / (2.0 * static_cast<double>(std::max<size_t>(points, 1)));
}

int screen_resamples(int resamples, double confidence) {
  const double tail = (1.0 - confidence) / 2.0;
  const double needed = std::ceil(20.0 / tail);
  if (needed <= resamples) return resamples;
  return static_cast<int>(std::min<double>(needed, kMaxResamples));
}

}  // namespace plinth::eval
