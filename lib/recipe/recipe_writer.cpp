// A recipe tree written back: YAML text and the content hash (recipe_writer.h).
#include "recipe/recipe_writer.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <string_view>
#include <vector>

#include "util/hash.h"
#include "util/text.h"

namespace plinth::recipe {

// Asking the parser is the only check that keeps up with YAML's special cases (anchors, tags,
// comments, nulls, indicators).
bool can_be_plain(const std::string& s, bool as_key) {
  if (s.empty() || std::isspace(static_cast<unsigned char>(s.front())) ||
      std::isspace(static_cast<unsigned char>(s.back())))
    return false;
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  // Indicators first, and document markers, are plain text in some spots; quoting them
  // keeps the output unambiguous for every YAML reader, not only yaml-cpp.
  bool dash_word = s.front() == '-' && s.size() > 1 && s[1] != ' ';  // -3e-4, -x
  if (!dash_word && std::string_view("-?:,[]{}#&*!|>'\"%@`").find(s.front()) != std::string_view::npos)
    return false;
  if (s.rfind("---", 0) == 0 || s.rfind("...", 0) == 0) return false;
  // Letters, digits and `_ . / + -` alone (most keys and values: train.lr, 2e-4, runs/ft) hold
  // nothing YAML could read otherwise (but null, which reads as no value); skipping the parser for
  // them keeps writing a recipe cheap where it is done per run (plinth runs compares hundreds).
  if (s != "null" && s != "Null" && s != "NULL" && std::all_of(s.begin(), s.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) ||
               std::string_view("_./+-").find(c) != std::string_view::npos;
      }))
    return true;
  auto reads_back = [&s](const YAML::Node& n) { return n.IsScalar() && n.Tag() == "?" && n.Scalar() == s; };
  try {
    if (as_key) {
      YAML::Node doc = YAML::Load(s + ": v");
      return doc.IsMap() && doc.size() == 1 && reads_back(doc.begin()->first);
    }
    YAML::Node in_map = YAML::Load("k: " + s);
    YAML::Node in_list = YAML::Load("- " + s);
    return in_map.IsMap() && in_map.size() == 1 && reads_back(in_map["k"]) && in_list.IsSequence() &&
           in_list.size() == 1 && reads_back(in_list[0]);
  } catch (const YAML::Exception&) {
    return false;
  }
}

namespace {

std::string quote(const std::string& s) {
  bool control = std::any_of(s.begin(), s.end(),
                             [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
  if (!control) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
    return out + "'";
  }
  return yaml_quote(s);
}

std::string scalar_text(const ConfigNode& n) {
  return !n.quoted() && can_be_plain(n.text(), false) ? n.text() : quote(n.text());
}

bool is_inline(const ConfigNode& n) {
  return n.is_null() || n.is_scalar() || (n.is_map() && n.entries().empty()) ||
         (n.is_sequence() && n.items().empty());
}

std::string inline_text(const ConfigNode& n) {
  if (n.is_scalar()) return scalar_text(n);
  if (n.is_map()) return "{}";
  if (n.is_sequence()) return "[]";
  return "null";
}

// `n` is a non-empty mapping or list; every line of it is indented by `indent` spaces.
void emit_block(const ConfigNode& n, int indent, std::string& out) {
  std::string pad(indent, ' ');
  if (n.is_map()) {
    for (const auto& [key, value] : n.entries()) {
      out += pad + (can_be_plain(key, true) ? key : quote(key)) + ":";
      if (is_inline(value)) {
        out += " " + inline_text(value) + "\n";
      } else {
        out += "\n";
        emit_block(value, indent + 2, out);
      }
    }
    return;
  }
  for (const ConfigNode& item : n.items()) {
    if (is_inline(item)) {
      out += pad + "- " + inline_text(item) + "\n";
      continue;
    }
    // The item's first line goes after the dash: "- key: v" / "- - x".
    std::string nested;
    emit_block(item, indent + 2, nested);
    out += pad + "- " + nested.substr(indent + 2);
  }
}

void hash_node(const ConfigNode& n, Hasher& h) {
  h.field(static_cast<uint64_t>(n.type()));
  switch (n.type()) {
    case ConfigNode::Type::Null:
      break;
    case ConfigNode::Type::Scalar:
      h.field(n.text());
      h.field(uint64_t{n.quoted()});
      break;
    case ConfigNode::Type::Sequence:
      h.field(n.items().size());
      for (const ConfigNode& item : n.items()) hash_node(item, h);
      break;
    case ConfigNode::Type::Map: {
      // Key order carries no meaning in a recipe, so reordering keys keeps the hash.
      std::vector<const std::pair<std::string, ConfigNode>*> sorted;
      for (const auto& entry : n.entries()) sorted.push_back(&entry);
      std::sort(sorted.begin(), sorted.end(),
                [](const auto* a, const auto* b) { return a->first < b->first; });
      h.field(sorted.size());
      for (const auto* entry : sorted) {
        h.field(entry->first);
        hash_node(entry->second, h);
      }
      break;
    }
  }
}

}  // namespace

std::string to_yaml(const ConfigNode& root) {
  if (is_inline(root)) return inline_text(root) + "\n";
  std::string out;
  emit_block(root, 0, out);
  return out;
}

uint64_t content_hash(const ConfigNode& root) {
  Hasher h;
  hash_node(root, h);
  return h.digest();
}

}  // namespace plinth::recipe
