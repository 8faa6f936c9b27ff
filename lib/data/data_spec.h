// The recipe's `data:` section: the domains and how they become shards.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/corpus_spec.h"
#include "util/config_section.h"

namespace plinth::data {

struct DataSpec {
  std::string shards = "data/shards";  // output directory: <shards>/<domain>/{train,val}.bin
  double val_fraction = 0.05;          // share of documents held out, chosen by content hash
  uint64_t split_seed = 0;             // seed of that hash; change it to draw another split
  std::string token_type = "auto";     // auto | uint16 | uint32
  int threads = 0;                     // encoding threads; 0 = $PLINTH_THREADS or all cores
  std::vector<DomainSpec> domains;

  const DomainSpec* find(const std::string& name) const;
};

// Problems reported: no domains, duplicate names, weights summing to zero, and everything
// the domain and source binders check.
void bind(ConfigSection& s, DataSpec& spec);

// True when a document (by its text) belongs to the validation split. Stable: it depends only
// on the text and the seed, so adding data never moves an existing document between splits.
bool is_validation(std::string_view text, double val_fraction, uint64_t seed);

}  // namespace plinth::data
