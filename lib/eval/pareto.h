// The learning/forgetting frontier of a set of fine-tunes (a sweep's grid points): which runs
// are worth choosing between. A run is a trade-off of task gain (maximise) against mean
// forgetting (minimise), each with its bootstrap interval. No torch here.
//
//   on the frontier:         no other run has gain >= and forgetting <= with one of them strict
//                            (ties: two equal runs are both on it, neither dominates the other)
//   dominated beyond doubt:  another run's gain interval lies wholly above this one's and its
//                            forgetting interval wholly below: gain_ci.lo(other) > gain_ci.hi(this)
//                            and forgetting_ci.hi(other) < forgetting_ci.lo(this). A run off the
//                            frontier but not dominated beyond doubt may still be the better
//                            choice once the sampling noise is counted.
// A run whose gain or forgetting is not finite (no task, a diverged model) cannot be compared:
// it is neither on the frontier nor dominates any run; one without intervals is never
// dominated beyond doubt and dominates none beyond doubt.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "eval/bootstrap.h"

namespace plinth::eval {

struct TradeOff {
  double gain = 0;        // task gain, %
  double forgetting = 0;  // mean forgetting, %
  Interval gain_ci, forgetting_ci;
};

// True when a has gain >= and forgetting <= b's with one of them strict (both finite).
bool dominates(const TradeOff& a, const TradeOff& b);
bool dominates_beyond_doubt(const TradeOff& a, const TradeOff& b);

// Per point: on the frontier or not.
std::vector<bool> pareto_frontier(const std::vector<TradeOff>& points);
// Per point: the first other point that dominates it beyond doubt, if any.
std::vector<std::optional<size_t>> dominated_beyond_doubt(const std::vector<TradeOff>& points);
// The frontier's points from least forgetting to most (then by gain): the order a line joins them.
std::vector<size_t> frontier_order(const std::vector<TradeOff>& points);

// A sweep's screen (plinth sweep --screen) evaluates every point on a small sample and drops the
// points another dominates beyond doubt there. Each of the 2 x `points` intervals it compares
// (task gain and mean forgetting per point) is taken at 1 - (1 - confidence) / (2 x points):
// then all of them hold at once with probability >= confidence (Bonferroni), and so, with that
// probability, every dropped point is truly dominated, however many pairs the screen compares.
double screen_confidence(double confidence, size_t points);
// Bootstrap replicates for intervals at `confidence`: at least `resamples`, and enough that each
// tail beyond the interval holds 20 replicates (a percentile read from fewer is mostly noise);
// at most kMaxResamples.
int screen_resamples(int resamples, double confidence);

}  // namespace plinth::eval
