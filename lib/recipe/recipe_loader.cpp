#include "recipe/recipe_loader.h"

#include <fmt/format.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>
#include <unordered_map>

#include "recipe/recipe_writer.h"
#include "util/log.h"
#include "util/shipped.h"
#include "util/text.h"

namespace plinth::recipe {

namespace fs = std::filesystem;

namespace {

const char* const kOverrideHint = "write key.path=value, e.g. train.lr=3e-4";
const char* const kOverrideFile = "command line";

// YAML allows an implicit key ("key: value") of at most 1024 characters, so to_yaml could not
// write a longer one back (nor one that quoting escapes past that: up to 4 characters per byte).
// Keys are names; this is far beyond any of them.
constexpr size_t kMaxKeyBytes = 200;
std::string key_too_long(const std::string& key) {
  return fmt::format("a key of {} bytes ('{}...'): keys are names of at most {} bytes", key.size(),
                     key.substr(0, 20), kMaxKeyBytes);
}

// yaml-cpp marks are 0-based and -1 when unknown; ours are 1-based and 0 when unknown.
Location location_of(const YAML::Mark& mark, const std::string& file) {
  if (mark.is_null() || mark.line < 0) return Location{file, 0, 0};
  return Location{file, mark.line + 1, mark.column + 1};
}

// yaml-cpp tags every non-plain scalar ('single', "double", | and > blocks) with "!" and
// plain ones with "?"; an explicit !!str is a string as much as quotes are.
bool is_quoted(const YAML::Node& node) {
  return node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str";
}

// Counts the documents of a YAML stream, for parse_yaml. yaml-cpp 0.7's LoadAll never returns on
// some malformed streams (a stray ',' outside brackets: every call to HandleNextDocument then
// reports an empty document without consuming the token; fixed upstream after 0.8, yaml-cpp
// PR #1319), allocating until the process is killed. A document that starts where the one
// before it started is that loop: it is reported as the parse error it is.
class DocumentCounter : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override { start_ = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  using Style = YAML::EmitterStyle::value;
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, Style) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, Style) override {}
  void OnMapEnd() override {}

  // The number of documents; throws YAML::ParserException where the parser stops making progress.
  static size_t count(const std::string& text) {
    std::istringstream in(text);
    YAML::Parser parser(in);
    DocumentCounter counter;
    size_t documents = 0;
    int previous_pos = -1;
    while (parser.HandleNextDocument(counter)) {
      if (counter.start_.pos == previous_pos)
        throw YAML::ParserException(counter.start_, "unexpected character here (a stray ',' or indicator?)");
      previous_pos = counter.start_.pos;
      ++documents;
    }
    return documents;
  }

 private:
  YAML::Mark start_ = YAML::Mark::null_mark();
};

std::string child_path(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

// A scalar as the tree keeps it. One written plain that to_yaml must quote (it holds a control
// character, or starts with an indicator yaml-cpp lets pass) is kept as quoted, so that
// to_yaml's text reads back as the same tree: a checkpoint's stored recipe is compared with the
// fine-tune's by content_hash (finetune_recipe.cpp, check_base_data). Such a value is text
// either way: no number or boolean needs quotes.
ConfigNode scalar_node(const YAML::Node& node, const Location& where) {
  ConfigNode out = ConfigNode::scalar(node.Scalar(), where);
  out.set_quoted(is_quoted(node) || !can_be_plain(node.Scalar(), false));
  return out;
}

class TreeBuilder {
 public:
  TreeBuilder(std::string file, Diagnostics& diag) : file_(std::move(file)), diag_(&diag) {}

  ConfigNode build(const YAML::Node& node, const Location& where, const std::string& path) {
    switch (node.Type()) {
      case YAML::NodeType::Scalar:
        return scalar_node(node, where);
      case YAML::NodeType::Sequence: {
        ConfigNode out = ConfigNode::sequence(where);
        size_t i = 0;
        for (const YAML::Node& item : node) {
          out.push_back(build(item, location_of(item.Mark(), file_), fmt::format("{}[{}]", path, i)));
          ++i;
        }
        return out;
      }
      case YAML::NodeType::Map:
        return build_map(node, where, path);
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        break;
    }
    ConfigNode out;
    out.set_where(where);
    return out;
  }

 private:
  ConfigNode build_map(const YAML::Node& node, const Location& where, const std::string& path) {
    ConfigNode out = ConfigNode::map(where);
    std::unordered_map<std::string, Location> seen;
    for (const auto& entry : node) {
      const YAML::Node& key = entry.first;
      const YAML::Node& value = entry.second;
      Location key_where = location_of(key.Mark(), file_);
      if (!key.IsScalar()) {
        diag_->add(
            Problem{key_where, path,
                    key.IsNull() ? "a key is empty" : "a key must be a single name, not a list or mapping",
                    "write keys as plain names: 'name: value'"});
        continue;
      }
      const std::string& name = key.Scalar();
      if (name.size() > kMaxKeyBytes) {
        diag_->add(Problem{key_where, path, key_too_long(name), "write keys as plain names: 'name: value'"});
        continue;
      }
      std::string key_path = child_path(path, name);
      auto [first, fresh] = seen.emplace(name, key_where);
      if (!fresh) {
        diag_->add(Problem{key_where, key_path,
                           fmt::format("key '{}' is written twice in one mapping, on lines {} and {}", name,
                                       first->second.line, key_where.line),
                           "keep one of them (to layer settings, put them in separate files and "
                           "use include:)"});
        continue;
      }
      // A value that starts on a later line (a nested block, or nothing at all) is best
      // pointed at through its key: that is the line a user reads as "this setting".
      Location value_where = location_of(value.Mark(), file_);
      if (value.IsNull() || value_where.line != key_where.line) value_where = key_where;
      out.set(name, build(value, value_where, key_path));
    }
    return out;
  }

  std::string file_;
  Diagnostics* diag_;
};

// One override value, parsed like YAML in a file; every node located on the command line.
ConfigNode build_override_value(const YAML::Node& node) {
  Location where{kOverrideFile, 0, 0};
  ConfigNode out;
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return scalar_node(node, where);
    case YAML::NodeType::Sequence:
      out = ConfigNode::sequence(where);
      for (const YAML::Node& item : node) out.push_back(build_override_value(item));
      return out;
    case YAML::NodeType::Map:
      out = ConfigNode::map(where);
      for (const auto& entry : node) {
        if (entry.first.Scalar().size() > kMaxKeyBytes)
          throw BadInput(key_too_long(entry.first.Scalar()), kOverrideHint, where);
        out.set(entry.first.Scalar(), build_override_value(entry.second));
      }
      return out;
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      break;
  }
  out.set_where(where);
  return out;
}

std::string read_text(const fs::path& file, const Location& included_at) {
  std::error_code ec;
  fs::file_status st = fs::status(file, ec);
  if (ec || !fs::exists(st)) {
    if (included_at.known())
      throw BadInput(fmt::format("included file '{}' does not exist", file.string()),
                     "include paths are relative to the directory of the file that includes them",
                     included_at);
    throw BadInput(fmt::format("recipe '{}' does not exist", file.string()),
                   "check the path; a relative path starts from the working directory");
  }
  if (fs::is_directory(st))
    throw BadInput(fmt::format("'{}' is a directory, but a recipe file is expected", file.string()),
                   "name a .yaml file", included_at);
  std::ifstream in(file, std::ios::binary);
  if (!in.is_open())
    throw BadInput(fmt::format("cannot open recipe '{}'", file.string()), "check that the file is readable",
                   included_at);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

struct OpenFile {
  fs::path canonical;  // identity, for cycle detection
  std::string name;    // as shown in locations and messages
};

class IncludeResolver {
 public:
  explicit IncludeResolver(std::vector<fs::path>& files) : files_(&files) {}

  // The file's tree with everything it includes merged underneath it.
  ConfigNode load(const fs::path& file, const Location& included_at) {
    std::error_code ec;
    fs::path canonical = fs::weakly_canonical(file, ec);
    if (ec) canonical = fs::absolute(file, ec).lexically_normal();
    OpenFile self{canonical, file.lexically_normal().string()};
    for (const OpenFile& open : chain_) {
      if (open.canonical != self.canonical) continue;
      std::string cycle;
      for (const OpenFile& f : chain_) cycle += f.name + " -> ";
      cycle += self.name;
      throw BadInput(fmt::format("include cycle: {}", cycle),
                     "remove one of these include: entries so no file includes itself", included_at);
    }
    ConfigNode root = parse_yaml(read_text(file, included_at), self.name);
    // A file included along two paths (a diamond) is read twice but listed once.
    if (std::find(read_.begin(), read_.end(), self.canonical) == read_.end()) {
      read_.push_back(self.canonical);
      files_->push_back(self.name);
    }

    ConfigNode* include = root.find("include");
    if (!include) return root;
    std::vector<const ConfigNode*> entries;
    if (include->is_scalar()) {
      entries.push_back(include);
    } else if (include->is_sequence()) {
      for (const ConfigNode& item : include->items()) entries.push_back(&item);
    } else if (!include->is_null()) {
      throw BadInput(
          include->where(), "include",
          fmt::format("expected a file path or a list of file paths, got {}", include->type_name()),
          "write 'include: base.yaml' or 'include: [base.yaml, data.yaml]'");
    }

    for (size_t i = 0; i < entries.size(); ++i) {
      const ConfigNode& entry = *entries[i];
      if (entry.is_scalar() && !entry.text().empty()) continue;
      std::string key = include->is_sequence() ? fmt::format("include[{}]", i) : "include";
      throw BadInput(
          std::vector<Problem>{Problem{entry.where(), key,
                                       fmt::format("expected a file path, got {}",
                                                   entry.is_scalar() ? "an empty string" : entry.type_name()),
                                       "write the path of a recipe file, relative to this file"}});
    }

    chain_.push_back(self);
    ConfigNode merged = ConfigNode::map(root.where());
    for (const ConfigNode* entry : entries)
      merge_into(merged, load(fs::path(self.name).parent_path() / entry->text(), entry->where()));
    chain_.pop_back();

    root.erase("include");
    merge_into(merged, root);
    return merged;
  }

 private:
  std::vector<fs::path>* files_;
  std::vector<fs::path> read_;   // canonical paths of files_
  std::vector<OpenFile> chain_;  // the files now being loaded, outermost first
};

struct PathStep {
  std::string key;
  std::vector<size_t> indices;  // "a[1][2]": each applied in turn to the value at `key`
};

std::vector<PathStep> parse_override_path(const std::string& path, const std::string& assignment) {
  auto bad = [&](const std::string& why) {
    return BadInput(
        std::vector<Problem>{Problem{Location{kOverrideFile, 0, 0}, "",
                                     fmt::format("bad override '{}': {}", assignment, why), kOverrideHint}});
  };
  std::vector<PathStep> steps;
  for (const std::string& part : split(path, '.')) {
    PathStep step;
    size_t bracket = part.find('[');
    step.key = std::string(trim(part.substr(0, bracket)));
    if (step.key.empty()) throw bad(fmt::format("'{}' has an empty key", path));
    if (step.key.size() > kMaxKeyBytes) throw bad(key_too_long(step.key));
    while (bracket != std::string::npos) {
      size_t close = part.find(']', bracket);
      std::string digits = close == std::string::npos ? "" : part.substr(bracket + 1, close - bracket - 1);
      bool numeric = !digits.empty() && std::all_of(digits.begin(), digits.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c));
      });
      if (!numeric) throw bad(fmt::format("'{}': a list index is written [0], [1], ...", part));
      size_t index = 0;  // not std::stoul: it throws std::out_of_range past 2^64
      if (std::from_chars(digits.data(), digits.data() + digits.size(), index).ec != std::errc())
        throw bad(fmt::format("'{}': the list index {} is too large", part, digits));
      step.indices.push_back(index);
      bracket = close + 1;
      if (bracket == part.size()) break;
      if (part[bracket] != '[') throw bad(fmt::format("'{}': unexpected text after ']'", part));
    }
    steps.push_back(std::move(step));
  }
  return steps;
}

std::string where_suffix(const ConfigNode& node) {
  return node.where().known() ? fmt::format(" (set at {})", node.where().str()) : "";
}

}  // namespace

ConfigNode parse_yaml(const std::string& text, const std::string& name) {
  std::vector<YAML::Node> documents;
  try {
    if (DocumentCounter::count(text) > 0) documents = YAML::LoadAll(text);  // terminates now
  } catch (const YAML::Exception& e) {
    throw BadInput(fmt::format("malformed YAML: {}", e.msg),
                   "check the indentation (spaces, not tabs), that 'key: value' has a space "
                   "after the colon, and that every quote and bracket is closed",
                   location_of(e.mark, name));
  }
  if (documents.size() > 1)
    throw BadInput(
        fmt::format("the recipe holds {} YAML documents (separated by '---'), but a "
                    "recipe is one document",
                    documents.size()),
        "merge them into one, or put them in separate files joined with include:", Location{name, 0, 0});
  if (documents.empty() || documents.front().IsNull())
    throw BadInput("recipe is empty", "write 'key: value' settings, e.g. 'train:' with its keys",
                   Location{name, 0, 0});
  const YAML::Node& doc = documents.front();
  Location where = location_of(doc.Mark(), name);
  if (!doc.IsMap())
    throw BadInput(fmt::format("the top level of a recipe must be a mapping (key: value lines), "
                               "got {}",
                               doc.IsSequence() ? "a list" : "a single value"),
                   "start the file with top-level keys such as 'train:' or 'include:'", where);
  Diagnostics diag;
  ConfigNode root = TreeBuilder(name, diag).build(doc, where, "");
  diag.throw_if_any();
  return root;
}

LoadedRecipe load_recipe(const fs::path& file, const std::vector<std::string>& overrides) {
  LoadedRecipe out;
  // A recipe not in the working directory may be one an installed plinth ships (util/shipped.h).
  out.file = existing_or_shipped(file);
  if (out.file != file) {
    static std::set<fs::path> told;
    if (told.insert(file).second)
      log::info("{}: not in the working directory; using the shipped {}", file.string(), out.file.string());
  }
  out.root = IncludeResolver(out.files).load(out.file, Location{});
  for (const std::string& assignment : overrides) apply_override(out.root, assignment);
  out.overrides = overrides;
  return out;
}

void merge_into(ConfigNode& base, const ConfigNode& over) {
  if (!base.is_map() || !over.is_map()) {
    base = over;
    return;
  }
  for (const auto& [key, value] : over.entries()) {
    if (ConfigNode* existing = base.find(key))
      merge_into(*existing, value);
    else
      base.set(key, value);
  }
  // The last file that wrote this mapping is the one a user will want to look at.
  base.set_where(over.where());
}

void apply_override(ConfigNode& root, const std::string& assignment) {
  size_t eq = assignment.find('=');
  std::string path = std::string(trim(std::string_view(assignment).substr(0, eq)));
  Location cli{kOverrideFile, 0, 0};
  if (eq == std::string::npos || path.empty())
    throw BadInput(cli, "",
                   fmt::format("bad override '{}': {}", assignment,
                               eq == std::string::npos ? "no '=' in it" : "the key before '=' is empty"),
                   kOverrideHint);
  std::string value_text = assignment.substr(eq + 1);
  std::vector<PathStep> steps = parse_override_path(path, assignment);

  ConfigNode value;
  if (trim(value_text).empty()) {
    value = ConfigNode::scalar("", cli);
    value.set_quoted(true);
  } else {
    try {
      value = build_override_value(YAML::Load(value_text));
    } catch (const YAML::Exception& e) {
      throw BadInput(cli, path, fmt::format("cannot read the value '{}': {}", value_text, e.msg),
                     "quote text that holds YAML punctuation, e.g. name='a: b'");
    }
  }

  auto fail = [&](const std::string& message) { return BadInput(cli, path, message, kOverrideHint); };
  // Work on a copy so a failed override leaves no half-created keys behind.
  ConfigNode updated = root;
  ConfigNode* node = &updated;
  std::string walked;
  for (const PathStep& step : steps) {
    if (node->is_null()) *node = ConfigNode::map(cli);
    if (!node->is_map())
      throw fail(fmt::format("cannot set '{}': '{}' is {}{}, not a mapping", path, walked, node->type_name(),
                             where_suffix(*node)));
    walked = child_path(walked, step.key);
    ConfigNode* next = node->find(step.key);
    node = next ? next : &node->set(step.key, ConfigNode());
    for (size_t index : step.indices) {
      if (!node->is_sequence())
        throw fail(fmt::format("cannot set '{}': '{}' is {}{}, not a list", path, walked, node->type_name(),
                               where_suffix(*node)));
      if (index >= node->items().size())
        throw fail(
            fmt::format("cannot set '{}': index {} is past the end of '{}', which has {} "
                        "item(s)",
                        path, index, walked, node->items().size()));
      walked += fmt::format("[{}]", index);
      node = &node->items()[index];
    }
  }
  *node = std::move(value);
  root = std::move(updated);
}

}  // namespace plinth::recipe
