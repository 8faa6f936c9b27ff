#include "util/config_node.h"

namespace plinth {

ConfigNode ConfigNode::scalar(std::string text, Location where) {
  ConfigNode n;
  n.type_ = Type::Scalar;
  n.text_ = std::move(text);
  n.where_ = std::move(where);
  return n;
}

ConfigNode ConfigNode::map(Location where) {
  ConfigNode n;
  n.type_ = Type::Map;
  n.where_ = std::move(where);
  return n;
}

ConfigNode ConfigNode::sequence(Location where) {
  ConfigNode n;
  n.type_ = Type::Sequence;
  n.where_ = std::move(where);
  return n;
}

const char* ConfigNode::type_name() const {
  switch (type_) {
    case Type::Null:
      return "nothing";
    case Type::Scalar:
      return "a single value";
    case Type::Map:
      return "a mapping (key: value lines)";
    case Type::Sequence:
      return "a list";
  }
  return "?";
}

const ConfigNode* ConfigNode::find(std::string_view key) const {
  for (const auto& [k, v] : entries_)
    if (k == key) return &v;
  return nullptr;
}

ConfigNode* ConfigNode::find(std::string_view key) {
  for (auto& [k, v] : entries_)
    if (k == key) return &v;
  return nullptr;
}

ConfigNode& ConfigNode::set(std::string key, ConfigNode value) {
  if (type_ != Type::Map) {
    type_ = Type::Map;
    text_.clear();
    items_.clear();
  }
  if (ConfigNode* existing = find(key)) {
    *existing = std::move(value);
    return *existing;
  }
  entries_.emplace_back(std::move(key), std::move(value));
  return entries_.back().second;
}

bool ConfigNode::erase(std::string_view key) {
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->first == key) {
      entries_.erase(it);
      return true;
    }
  }
  return false;
}

}  // namespace plinth
