// Binds one mapping of a recipe to a typed struct, collecting every problem instead of
// stopping at the first. Each layer writes `bind(ConfigSection&, TheirSpec&)` next to its
// struct, so a key, its field, its validation and its documentation live together.
//
//   ConfigSection s(root.find("tokenizer"), "tokenizer", diag);
//   s.read("vocab_size", spec.vocab_size, Range<int64_t>::between(16, 1 << 20));
//   s.read_choice("type", spec.type, {"bpe", "unigram"});
//   s.finish();            // unknown keys -> "did you mean 'vocab_size'?"
//   diag.throw_if_any();   // all problems at once, each with file:line:col and key path
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/config_node.h"
#include "util/error.h"

namespace plinth {

enum class Need { Optional, Required };

// Inclusive bounds unless min_exclusive (for "must be > 0" on reals).
template <class T>
struct Range {
  std::optional<T> min, max;
  bool min_exclusive = false;

  static Range at_least(T lo) { return Range{lo, std::nullopt, false}; }
  static Range positive() { return Range{T(0), std::nullopt, true}; }
  static Range between(T lo, T hi) { return Range{lo, hi, false}; }
};

enum class PathMust { Exist, BeFile, BeDirectory };

class ConfigSection {
 public:
  // `node` may be null: the section is absent, reads keep the defaults and Required keys
  // are reported missing at `where`.
  ConfigSection(const ConfigNode* node, std::string path, Diagnostics& diag, Location where = {});

  bool present() const { return node_ != nullptr; }
  const std::string& path() const { return path_; }
  Location where() const;
  Location where(std::string_view key) const;  // the key's value, or the section itself
  std::string key_path(std::string_view key) const;
  bool has(std::string_view key) const;
  Diagnostics& diagnostics() { return *diag_; }

  // Each read returns true when the key was present and valid (out assigned); false when
  // absent (out untouched) or invalid (a problem recorded).
  bool read(std::string_view key, std::string& out, Need need = Need::Optional);
  bool read(std::string_view key, bool& out, Need need = Need::Optional);
  bool read(std::string_view key, int64_t& out, Range<int64_t> range = {}, Need need = Need::Optional);
  bool read(std::string_view key, int& out, Range<int64_t> range = {}, Need need = Need::Optional);
  bool read(std::string_view key, double& out, Range<double> range = {}, Need need = Need::Optional);
  // A single value or a list of values.
  bool read(std::string_view key, std::vector<std::string>& out, Need need = Need::Optional);
  // "64MiB", "1.5G", 4096.
  bool read_bytes(std::string_view key, uint64_t& out, Range<uint64_t> range = {},
                  Need need = Need::Optional);
  bool read_choice(std::string_view key, std::string& out, const std::vector<std::string>& choices,
                   Need need = Need::Optional);
  // A path that must exist now (input files). Relative paths are taken from the working directory.
  bool read_path(std::string_view key, std::string& out, PathMust must, Need need = Need::Optional);

  // A nested mapping (absent -> a section with present() == false).
  ConfigSection child(std::string_view key, Need need = Need::Optional);
  // A list of mappings, each its own section ("data.domains[1]").
  std::vector<ConfigSection> list(std::string_view key, Need need = Need::Optional);

  // Marks a key as known without reading it (e.g. `include`, handled by the loader).
  void ignore(std::string_view key);
  // Records a problem on a key of this section (validation across fields).
  void error(std::string_view key, std::string message, std::string hint = {});
  // Reports every key of this mapping that no read/child/list/ignore asked for.
  void finish();

 private:
  const ConfigNode* lookup(std::string_view key, Need need);
  bool expect_scalar(std::string_view key, const ConfigNode& v, const char* what);

  const ConfigNode* node_;
  std::string path_;
  Diagnostics* diag_;
  Location where_;
  std::vector<std::string> known_;
};

}  // namespace plinth
