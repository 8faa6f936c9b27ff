// A recipe tree (util/config_node.h) written back: as YAML text, for --print-config and the copy
// of the recipe each run keeps, and as a content hash, for provenance and staleness checks. The
// reader is recipe_loader.h; what it marks quoted, the writer quotes.
#pragma once

#include <cstdint>
#include <string>

#include "util/config_node.h"

namespace plinth::recipe {

// The tree as YAML text (for --print-config), keys in recipe order.
std::string to_yaml(const ConfigNode& root);

// Stable hash of the tree's content (not locations): recipe provenance and staleness checks.
uint64_t content_hash(const ConfigNode& root);

// Whether `s` can be written without quotes and read back as the same plain text, as a key
// ("s: v") or as a value ("k: s" and "- s"). The reader marks every other scalar quoted.
bool can_be_plain(const std::string& s, bool as_key);

}  // namespace plinth::recipe
