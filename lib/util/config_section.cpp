#include "util/config_section.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "util/text.h"

namespace plinth {

namespace fs = std::filesystem;

ConfigSection::ConfigSection(const ConfigNode* node, std::string path, Diagnostics& diag, Location where)
    : node_(node), path_(std::move(path)), diag_(&diag), where_(std::move(where)) {
  if (node_ && node_->is_null()) node_ = nullptr;  // "key:" with nothing after it
}

Location ConfigSection::where() const {
  return node_ ? node_->where() : where_;
}

Location ConfigSection::where(std::string_view key) const {
  if (node_ && node_->is_map())
    if (const ConfigNode* v = node_->find(key)) return v->where();
  return where();
}

std::string ConfigSection::key_path(std::string_view key) const {
  return path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key);
}

bool ConfigSection::has(std::string_view key) const {
  return node_ && node_->is_map() && node_->find(key) && !node_->find(key)->is_null();
}

void ConfigSection::error(std::string_view key, std::string message, std::string hint) {
  diag_->add(Problem{where(key), key.empty() ? path_ : key_path(key), std::move(message), std::move(hint)});
}

const ConfigNode* ConfigSection::lookup(std::string_view key, Need need) {
  if (std::find(known_.begin(), known_.end(), key) == known_.end()) known_.emplace_back(key);
  const ConfigNode* v = (node_ && node_->is_map()) ? node_->find(key) : nullptr;
  if (v && v->is_null()) v = nullptr;
  if (!v && need == Need::Required)
    error(key, "missing required key",
          fmt::format("add '{}:' under '{}'", key, path_.empty() ? "the top level" : path_));
  return v;
}

bool ConfigSection::expect_scalar(std::string_view key, const ConfigNode& v, const char* what) {
  if (v.is_scalar()) return true;
  error(key, fmt::format("expected {}, got {}", what, v.type_name()));
  return false;
}

bool ConfigSection::read(std::string_view key, std::string& out, Need need) {
  const ConfigNode* v = lookup(key, need);
  if (!v || !expect_scalar(key, *v, "a string")) return false;
  out = v->text();
  return true;
}

bool ConfigSection::read(std::string_view key, bool& out, Need need) {
  const ConfigNode* v = lookup(key, need);
  if (!v || !expect_scalar(key, *v, "true or false")) return false;
  std::string t = v->text();
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
  if (!v->quoted() && (t == "true" || t == "yes" || t == "on")) {
    out = true;
    return true;
  }
  if (!v->quoted() && (t == "false" || t == "no" || t == "off")) {
    out = false;
    return true;
  }
  error(key, fmt::format("expected true or false, got '{}'", v->text()));
  return false;
}

template <class T>
static std::string describe_range(const Range<T>& r) {
  if (r.min && r.max) return fmt::format("between {} and {}", *r.min, *r.max);
  if (r.min && r.min_exclusive) return fmt::format("greater than {}", *r.min);
  if (r.min) return fmt::format("at least {}", *r.min);
  if (r.max) return fmt::format("at most {}", *r.max);
  return "";
}

template <class T>
static bool in_range(const Range<T>& r, T v) {
  if (r.min && (r.min_exclusive ? !(v > *r.min) : v < *r.min)) return false;
  if (r.max && v > *r.max) return false;
  return true;
}

bool ConfigSection::read(std::string_view key, int64_t& out, Range<int64_t> range, Need need) {
  const ConfigNode* v = lookup(key, need);
  if (!v || !expect_scalar(key, *v, "an integer")) return false;
  const std::string& t = v->text();
  char* end = nullptr;
  errno = 0;
  long long parsed = std::strtoll(t.c_str(), &end, 10);
  if (v->quoted() || t.empty() || end != t.c_str() + t.size() || errno == ERANGE) {
    error(key, fmt::format("expected an integer, got '{}'", t));
    return false;
  }
  if (!in_range(range, static_cast<int64_t>(parsed))) {
    error(key, fmt::format("{} is out of range: must be {}", parsed, describe_range(range)));
    return false;
  }
  out = parsed;
  return true;
}

bool ConfigSection::read(std::string_view key, int& out, Range<int64_t> range, Need need) {
  if (!range.min) range.min = INT32_MIN;
  if (!range.max) range.max = INT32_MAX;
  int64_t wide = out;
  if (!read(key, wide, range, need)) return false;
  out = static_cast<int>(wide);
  return true;
}

bool ConfigSection::read(std::string_view key, double& out, Range<double> range, Need need) {
  const ConfigNode* v = lookup(key, need);
  if (!v || !expect_scalar(key, *v, "a number")) return false;
  const std::string& t = v->text();
  char* end = nullptr;
  double parsed = std::strtod(t.c_str(), &end);
  if (v->quoted() || t.empty() || end != t.c_str() + t.size() || !std::isfinite(parsed)) {
    error(key, fmt::format("expected a number, got '{}'", t));
    return false;
  }
  if (!in_range(range, parsed)) {
    error(key, fmt::format("{} is out of range: must be {}", t, describe_range(range)));
    return false;
  }
  out = parsed;
  return true;
}

bool ConfigSection::read(std::string_view key, std::vector<std::string>& out, Need need) {
  const ConfigNode* v = lookup(key, need);
  if (!v) return false;
  if (v->is_scalar()) {
    out = {v->text()};
    return true;
  }
  if (!v->is_sequence()) {
    error(key, fmt::format("expected a value or a list of values, got {}", v->type_name()));
    return false;
  }
  std::vector<std::string> values;
  bool ok = true;
  for (size_t i = 0; i < v->items().size(); ++i) {
    const ConfigNode& item = v->items()[i];
    if (!item.is_scalar()) {
      diag_->add(Problem{item.where(), fmt::format("{}[{}]", key_path(key), i),
                         fmt::format("expected a single value, got {}", item.type_name()), ""});
      ok = false;
      continue;
    }
    values.push_back(item.text());
  }
  if (ok) out = std::move(values);
  return ok;
}

bool ConfigSection::read_bytes(std::string_view key, uint64_t& out, Range<uint64_t> range, Need need) {
  const ConfigNode* v = lookup(key, need);
  if (!v || !expect_scalar(key, *v, "a size in bytes")) return false;
  uint64_t parsed = 0;
  if (!parse_byte_size(v->text(), parsed)) {
    error(key, fmt::format("expected a size in bytes, got '{}'", v->text()),
          "write a number with an optional unit: 65536, 64K, 512MiB, 2G");
    return false;
  }
  if (!in_range(range, parsed)) {
    error(key, fmt::format("{} is out of range: must be {}", v->text(), describe_range(range)));
    return false;
  }
  out = parsed;
  return true;
}

bool ConfigSection::read_choice(std::string_view key, std::string& out,
                                const std::vector<std::string>& choices, Need need) {
  std::string value;
  if (!read(key, value, need)) return false;
  if (std::find(choices.begin(), choices.end(), value) == choices.end()) {
    std::string all;
    for (const auto& c : choices) all += (all.empty() ? "" : ", ") + c;
    std::string hint = did_you_mean(value, choices);
    error(key, fmt::format("'{}' is not one of: {}", value, all), hint);
    return false;
  }
  out = value;
  return true;
}

bool ConfigSection::read_path(std::string_view key, std::string& out, PathMust must, Need need) {
  std::string value;
  if (!read(key, value, need)) return false;
  std::error_code ec;
  fs::file_status st = fs::status(value, ec);
  if (ec || !fs::exists(st)) {
    error(key, fmt::format("'{}' does not exist", value),
          "check the path (relative paths start from the working directory)");
    return false;
  }
  if (must == PathMust::BeFile && fs::is_directory(st)) {
    error(key, fmt::format("'{}' is a directory, but a file is expected", value), "name a file inside it");
    return false;
  }
  if (must == PathMust::BeDirectory && !fs::is_directory(st)) {
    error(key, fmt::format("'{}' is not a directory", value), "name the directory that holds it");
    return false;
  }
  out = value;
  return true;
}

ConfigSection ConfigSection::child(std::string_view key, Need need) {
  const ConfigNode* v = lookup(key, need);
  if (v && !v->is_map()) {
    error(key, fmt::format("expected a mapping (key: value lines), got {}", v->type_name()));
    v = nullptr;
  }
  return ConfigSection(v, key_path(key), *diag_, where(key));
}

std::vector<ConfigSection> ConfigSection::list(std::string_view key, Need need) {
  std::vector<ConfigSection> out;
  const ConfigNode* v = lookup(key, need);
  if (!v) return out;
  if (!v->is_sequence()) {
    error(key, fmt::format("expected a list ('- ' items), got {}", v->type_name()));
    return out;
  }
  for (size_t i = 0; i < v->items().size(); ++i) {
    const ConfigNode& item = v->items()[i];
    std::string item_path = fmt::format("{}[{}]", key_path(key), i);
    if (!item.is_map()) {
      diag_->add(Problem{item.where(), item_path,
                         fmt::format("expected a mapping (key: value lines), got {}", item.type_name()), ""});
      continue;
    }
    out.emplace_back(&item, item_path, *diag_, item.where());
  }
  return out;
}

void ConfigSection::ignore(std::string_view key) {
  lookup(key, Need::Optional);
}

void ConfigSection::finish() {
  if (!node_ || !node_->is_map()) return;
  for (const auto& [k, v] : node_->entries()) {
    if (std::find(known_.begin(), known_.end(), k) != known_.end()) continue;
    std::string hint = did_you_mean(k, known_);
    if (hint.empty()) {
      std::string all;
      for (const auto& c : known_) all += (all.empty() ? "" : ", ") + c;
      hint = "known keys here: " + all;
    }
    diag_->add(Problem{v.where(), key_path(k), "unknown key", hint});
  }
}

}  // namespace plinth
