// A parsed recipe: a tree of maps, sequences and scalars, every node remembering where
// in which file it was written. lib/recipe builds it from YAML (includes merged, command-line
// overrides applied); each layer binds its own section of it with ConfigSection.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/error.h"

namespace plinth {

class ConfigNode {
 public:
  enum class Type { Null, Scalar, Map, Sequence };

  ConfigNode() = default;
  static ConfigNode scalar(std::string text, Location where = {});
  static ConfigNode map(Location where = {});
  static ConfigNode sequence(Location where = {});

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::Null; }
  bool is_scalar() const { return type_ == Type::Scalar; }
  bool is_map() const { return type_ == Type::Map; }
  bool is_sequence() const { return type_ == Type::Sequence; }
  const char* type_name() const;  // "nothing", "a value", "a mapping", "a list"

  const Location& where() const { return where_; }
  void set_where(Location where) { where_ = std::move(where); }

  // Scalar text exactly as written (YAML quoting removed). True when it was quoted, so
  // "yes" stays a string and 8 stays a number only when unquoted.
  const std::string& text() const { return text_; }
  bool quoted() const { return quoted_; }
  void set_quoted(bool q) { quoted_ = q; }

  // Map access; keys keep the order they were written in.
  const std::vector<std::pair<std::string, ConfigNode>>& entries() const { return entries_; }
  const ConfigNode* find(std::string_view key) const;
  ConfigNode* find(std::string_view key);
  ConfigNode& set(std::string key, ConfigNode value);  // replaces an existing key in place
  bool erase(std::string_view key);

  // Sequence access.
  const std::vector<ConfigNode>& items() const { return items_; }
  std::vector<ConfigNode>& items() { return items_; }
  void push_back(ConfigNode item) { items_.push_back(std::move(item)); }

 private:
  Type type_ = Type::Null;
  Location where_;
  std::string text_;
  bool quoted_ = false;
  std::vector<std::pair<std::string, ConfigNode>> entries_;
  std::vector<ConfigNode> items_;
};

}  // namespace plinth
