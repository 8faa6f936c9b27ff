// Loads a recipe: YAML files merged through `include:` (later keys win), then
// `key.path=value` overrides from the command line, into one ConfigNode tree where every
// node knows its file:line:col. Binding the tree to typed structs is each layer's job
// (util/config_section.h); this file only builds the tree. Writing it back (YAML, content hash):
// recipe_writer.h.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "util/config_node.h"

namespace plinth::recipe {

struct LoadedRecipe {
  std::filesystem::path file;                // the recipe named on the command line
  ConfigNode root;                           // merged tree (a mapping); `include` removed
  std::vector<std::filesystem::path> files;  // every file read, the recipe first, includes after
  std::vector<std::string> overrides;        // applied to root, as given ("train.lr=1e-3")
};

// Reads `file` and everything it includes, applies `overrides` ("a.b.c=value", "a.list[1].x=v"),
// and returns the merged tree. Throws BadInput for: a missing/unreadable file, malformed YAML
// (file:line:col of the parse error), a top level that is not a mapping, an `include:` that is
// not a path or list of paths, an include cycle (the chain of files), a malformed override.
LoadedRecipe load_recipe(const std::filesystem::path& file, const std::vector<std::string>& overrides = {});

// Parses one YAML document from text (used by load_recipe; `name` is the file name in locations).
ConfigNode parse_yaml(const std::string& text, const std::string& name);

// Deep merge: maps merge key by key (recursively); anything else in `over` replaces `base`.
void merge_into(ConfigNode& base, const ConfigNode& over);

// Applies one "key.path=value" override. The value is parsed as YAML ("8", "[a, b]", "{x: 1}"),
// so types work as in a file; intermediate mappings are created as needed.
void apply_override(ConfigNode& root, const std::string& assignment);

}  // namespace plinth::recipe
