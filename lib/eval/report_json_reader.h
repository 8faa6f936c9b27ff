// Reading report.json: a JSON value's keys read with errors that name the file and the key path
// (BadInput, exit 2). Shared by the report's sections (forgetting_report.cpp,
// report_variants.cpp). No torch here.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "util/error.h"

namespace plinth::eval {

// Reads report.json with errors that name the file and the key.
class JsonReader {
 public:
  explicit JsonReader(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const std::string& message) const {
    throw BadInput(fmt::format("report {}: {}", file_, message),
                   "this is not a report.json written by plinth eval, or it was edited: write it again with "
                   "plinth eval");
  }
  const nlohmann::json& at(const nlohmann::json& obj, const std::string& key, const std::string& path) const {
    if (!obj.is_object()) fail(fmt::format("'{}' is not an object", path));
    auto it = obj.find(key);
    if (it == obj.end()) fail(fmt::format("key '{}' is missing", join(path, key)));
    return *it;
  }
  double number(const nlohmann::json& obj, const std::string& key, const std::string& path) const {
    const nlohmann::json& v = at(obj, key, path);
    if (v.is_null()) return std::numeric_limits<double>::quiet_NaN();
    if (!v.is_number()) fail(fmt::format("'{}' is not a number", join(path, key)));
    return v.get<double>();
  }
  std::optional<double> optional_number(const nlohmann::json& obj, const std::string& key,
                                        const std::string& path) const {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return std::nullopt;
    if (!it->is_number()) fail(fmt::format("'{}' is not a number", join(path, key)));
    return it->get<double>();
  }
  int64_t integer(const nlohmann::json& obj, const std::string& key, const std::string& path) const {
    const nlohmann::json& v = at(obj, key, path);
    if (!v.is_number_integer()) fail(fmt::format("'{}' is not an integer", join(path, key)));
    return v.get<int64_t>();
  }
  std::string string(const nlohmann::json& obj, const std::string& key, const std::string& path) const {
    const nlohmann::json& v = at(obj, key, path);
    if (!v.is_string()) fail(fmt::format("'{}' is not a string", join(path, key)));
    return v.get<std::string>();
  }
  bool boolean(const nlohmann::json& obj, const std::string& key, const std::string& path) const {
    const nlohmann::json& v = at(obj, key, path);
    if (!v.is_boolean()) fail(fmt::format("'{}' is not true or false", join(path, key)));
    return v.get<bool>();
  }
  const nlohmann::json& array(const nlohmann::json& obj, const std::string& key,
                              const std::string& path) const {
    const nlohmann::json& v = at(obj, key, path);
    if (!v.is_array()) fail(fmt::format("'{}' is not a list", join(path, key)));
    return v;
  }

  // A list of numbers (null = NaN).
  std::vector<double> numbers(const nlohmann::json& obj, const std::string& key,
                              const std::string& path) const {
    std::vector<double> out;
    for (const auto& v : array(obj, key, path)) {
      if (v.is_null()) {
        out.push_back(std::numeric_limits<double>::quiet_NaN());
        continue;
      }
      if (!v.is_number()) fail(fmt::format("'{}' holds a value that is not a number", join(path, key)));
      out.push_back(v.get<double>());
    }
    return out;
  }
  std::vector<uint64_t> counts(const nlohmann::json& obj, const std::string& key,
                               const std::string& path) const {
    std::vector<uint64_t> out;
    for (const auto& v : array(obj, key, path)) {
      if (!v.is_number_unsigned())
        fail(fmt::format("'{}' holds a value that is not a count (an integer >= 0)", join(path, key)));
      out.push_back(v.get<uint64_t>());
    }
    return out;
  }
  std::vector<bool> booleans(const nlohmann::json& obj, const std::string& key,
                             const std::string& path) const {
    std::vector<bool> out;
    for (const auto& v : array(obj, key, path)) {
      if (!v.is_boolean()) fail(fmt::format("'{}' holds a value that is not true or false", join(path, key)));
      out.push_back(v.get<bool>());
    }
    return out;
  }
  void same_length(size_t n, size_t m, const std::string& what) const {
    if (n != m) fail(fmt::format("'{}' has {} entries where {} were expected", what, m, n));
  }

  static std::string join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }

 private:
  std::string file_;
};

}  // namespace plinth::eval
