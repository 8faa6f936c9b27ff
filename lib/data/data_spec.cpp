#include "data/data_spec.h"

#include <fmt/format.h>

#include <algorithm>

#include "util/hash.h"

namespace plinth::data {

const DomainSpec* DataSpec::find(const std::string& name) const {
  for (const auto& d : domains)
    if (d.name == name) return &d;
  return nullptr;
}

void bind(ConfigSection& s, DataSpec& spec) {
  s.read("shards", spec.shards);
  s.read("val_fraction", spec.val_fraction, Range<double>{0.0, 0.5, true});
  int64_t seed = static_cast<int64_t>(spec.split_seed);
  if (s.read("split_seed", seed, Range<int64_t>::at_least(0))) spec.split_seed = static_cast<uint64_t>(seed);
  s.read_choice("token_type", spec.token_type, {"auto", "uint16", "uint32"});
  s.read("threads", spec.threads, Range<int64_t>::between(0, 256));
  for (ConfigSection& d : s.list("domains", Need::Required)) {
    DomainSpec domain;
    bind(d, domain);
    spec.domains.push_back(std::move(domain));
  }
  s.finish();

  if (s.present() && s.has("domains") && spec.domains.empty())
    s.error("domains", "no domains given", "add at least one '- name: ...' entry with sources");
  double total_weight = 0;
  for (size_t i = 0; i < spec.domains.size(); ++i) {
    total_weight += spec.domains[i].weight;
    for (size_t j = 0; j < i; ++j)
      if (!spec.domains[i].name.empty() && spec.domains[i].name == spec.domains[j].name)
        s.diagnostics().add(Problem{spec.domains[i].where, fmt::format("{}.domains[{}].name", s.path(), i),
                                    fmt::format("domain name '{}' is used twice (also at {})",
                                                spec.domains[i].name, spec.domains[j].where.str()),
                                    "give each domain its own name"});
  }
  if (!spec.domains.empty() && total_weight <= 0)
    s.error("domains", "the domain weights sum to zero: nothing could ever be sampled",
            "give at least one domain a weight above 0");
}

bool is_validation(std::string_view text, double val_fraction, uint64_t seed) {
  return hash_unit(text, seed ^ 0x5eed5eed5eedull) < val_fraction;
}

}  // namespace plinth::data
