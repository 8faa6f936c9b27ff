#include "data/mixture_sampler.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "util/error.h"
#include "util/hash.h"

namespace plinth::data {

namespace {

// SplitMix64: a counter-based generator, so draw i needs no state but (seed, i).
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

DomainMixtureSampler::DomainMixtureSampler(std::vector<MixtureDomain> domains, int64_t window, uint64_t seed,
                                           double temperature)
    : domains_(std::move(domains)), window_(window), seed_(seed) {
  if (window_ < 2) throw BadInput(fmt::format("sampling window of {} tokens is too short", window_));
  double total = 0;
  for (const auto& d : domains_) {
    double p = d.weight > 0 ? std::pow(d.weight, 1.0 / temperature) : 0.0;
    if (p > 0 && (!d.shard || d.shard->size() < static_cast<uint64_t>(window_)))
      throw BadInput(fmt::format("domain '{}' has {} training tokens, fewer than one window of {}", d.name,
                                 d.shard ? d.shard->size() : 0, window_),
                     "give it more text, shorten model.context, or set its weight to 0");
    probabilities_.push_back(p);
    total += p;
  }
  if (total <= 0)
    throw BadInput("the domain weights sum to zero: nothing can be sampled",
                   "give at least one domain a weight above 0");
  double acc = 0;
  for (auto& p : probabilities_) {
    p /= total;
    acc += p;
    cumulative_.push_back(acc);
  }
  cumulative_.back() = 1.0;
}

void DomainMixtureSampler::next_batch(int64_t rows, int64_t* out, std::vector<int>* domain_of_row) {
  if (domain_of_row) domain_of_row->assign(static_cast<size_t>(rows), 0);
  for (int64_t r = 0; r < rows; ++r, ++draws_) {
    uint64_t a = mix(seed_ ^ mix(2 * draws_)), b = mix(seed_ ^ mix(2 * draws_ + 1));
    size_t d = static_cast<size_t>(
        std::upper_bound(cumulative_.begin(), cumulative_.end(), unit_interval(a)) - cumulative_.begin());
    d = std::min(d, domains_.size() - 1);
    while (probabilities_[d] == 0) d = (d + 1) % domains_.size();  // a zero-width bin at the edge
    const ShardReader& shard = *domains_[d].shard;
    uint64_t starts = shard.size() - static_cast<uint64_t>(window_) + 1;
    shard.read(b % starts, static_cast<size_t>(window_), out + r * window_);
    if (domain_of_row) (*domain_of_row)[static_cast<size_t>(r)] = static_cast<int>(d);
  }
}

}  // namespace plinth::data
