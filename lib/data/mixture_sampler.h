// Training batches from a weighted mixture of domains: each row is a random window of
// `window` consecutive tokens from one domain's train shard, the domain drawn by weight.
// Deterministic and resumable: draw i depends only on (seed, i), so the cursor is one number
// and a resumed run draws exactly the windows an uninterrupted one would have.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/shard.h"

namespace plinth::data {

struct MixtureDomain {
  std::string name;
  double weight = 1.0;
  const ShardReader* shard = nullptr;  // not owned; must outlive the sampler
};

class DomainMixtureSampler {
 public:
  // temperature: p_i ∝ weight_i^(1/temperature) (1 = the weights as given; larger flattens
  // the mixture toward uniform). Throws BadInput when every weight is 0, or a domain with
  // weight > 0 has fewer than `window` tokens.
  DomainMixtureSampler(std::vector<MixtureDomain> domains, int64_t window, uint64_t seed,
                       double temperature = 1.0);

  // Fills out[rows * window] with token ids (int64, what torch indexes with); domain_of_row,
  // when given, receives the index of each row's domain.
  void next_batch(int64_t rows, int64_t* out, std::vector<int>* domain_of_row = nullptr);

  // Draws made so far: save it in a checkpoint, restore() it on resume.
  uint64_t cursor() const { return draws_; }
  void restore(uint64_t cursor) { draws_ = cursor; }

  const std::vector<double>& probabilities() const { return probabilities_; }
  const std::vector<MixtureDomain>& domains() const { return domains_; }
  int64_t window() const { return window_; }

 private:
  std::vector<MixtureDomain> domains_;
  std::vector<double> probabilities_;
  std::vector<double> cumulative_;
  int64_t window_;
  uint64_t seed_;
  uint64_t draws_ = 0;
};

}  // namespace plinth::data
