// Which files a source names: globs, recursive directory walks, include/exclude filters.
#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <set>
#include <string_view>
#include <utility>

#include "data/corpus_reader.h"
#include "util/text.h"

namespace plinth::data {

namespace fs = std::filesystem;

static bool has_glob_chars(std::string_view s) {
  return s.find_first_of("*?[") != s.npos;
}

// Matches `c` against the bracket expression at the start of `p` ("[a-z]", "[!0-9]", "[]x]").
// Returns 1 or 0 and sets `used` to the expression's length; -1 when `p` has no closing ']',
// in which case '[' is an ordinary character.
static int match_bracket(std::string_view p, char c, size_t& used) {
  size_t i = 1;
  bool negate = i < p.size() && (p[i] == '!' || p[i] == '^');
  if (negate) ++i;
  bool hit = false;
  bool first = true;
  for (; i < p.size(); ++i) {
    if (p[i] == ']' && !first) {
      used = i + 1;
      return hit != negate ? 1 : 0;
    }
    first = false;
    char lo = p[i];
    if (i + 2 < p.size() && p[i + 1] == '-' && p[i + 2] != ']') {
      if (lo <= c && c <= p[i + 2]) hit = true;
      i += 2;
    } else if (lo == c) {
      hit = true;
    }
  }
  return -1;
}

// Whole-path match: '*', '?' and brackets stay inside one component, '**' crosses them.
static bool match_path(std::string_view p, std::string_view s) {
  while (!p.empty()) {
    if (p[0] == '*') {
      if (p.size() >= 2 && p[1] == '*') {
        std::string_view rest = p.substr(2);
        if (!rest.empty() && rest[0] == '/') {
          // "**/" stands for zero or more whole directories.
          rest.remove_prefix(1);
          if (match_path(rest, s)) return true;
          for (size_t i = 0; i < s.size(); ++i)
            if (s[i] == '/' && match_path(rest, s.substr(i + 1))) return true;
          return false;
        }
        for (size_t i = 0; i <= s.size(); ++i)
          if (match_path(rest, s.substr(i))) return true;
        return false;
      }
      std::string_view rest = p.substr(1);
      for (size_t i = 0;; ++i) {
        if (match_path(rest, s.substr(i))) return true;
        if (i == s.size() || s[i] == '/') return false;
      }
    }
    if (s.empty()) return false;
    size_t used = 1;
    if (p[0] == '?') {
      if (s[0] == '/') return false;
    } else if (p[0] == '[') {
      int r = match_bracket(p, s[0], used);
      if (r < 0) {
        used = 1;
        if (s[0] != '[') return false;
      } else if (r == 0 || s[0] == '/') {
        return false;
      }
    } else if (p[0] == '\\' && p.size() >= 2) {
      if (s[0] != p[1]) return false;
      used = 2;
    } else if (p[0] != s[0]) {
      return false;
    }
    p.remove_prefix(used);
    s.remove_prefix(1);
  }
  return s.empty();
}

bool glob_match(const std::string& pattern, const std::string& path) {
  if (pattern.find('/') != std::string::npos) return match_path(pattern, path);
  size_t slash = path.rfind('/');
  return match_path(pattern, slash == std::string::npos ? std::string_view(path)
                                                        : std::string_view(path).substr(slash + 1));
}

namespace {

struct Candidate {
  fs::path path;
  std::string relative;  // from the source root, '/'-separated: what include/exclude see
};

// Regular files under `root`, at most `max_depth` components deep (0: any depth). Directory
// symlinks are not entered, so a link back up the tree cannot loop and a linked directory is
// not read twice; file symlinks are kept.
void walk(const fs::path& root, size_t max_depth, const Location& where, std::vector<Candidate>& out) {
  std::error_code ec;
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
  if (ec)
    throw BadInput(fmt::format("cannot read directory '{}': {}", root.string(), ec.message()),
                   "check its permissions", where);
  for (const fs::recursive_directory_iterator end; it != end;) {
    std::error_code fec;
    if (it->is_directory(fec)) {
      if (max_depth && static_cast<size_t>(it.depth()) + 1 >= max_depth) it.disable_recursion_pending();
    } else if (it->is_regular_file(fec)) {
      out.push_back({it->path(), it->path().lexically_relative(root).generic_string()});
    }
    it.increment(ec);
    if (ec)
      throw BadInput(fmt::format("cannot walk directory '{}': {}", root.string(), ec.message()),
                     "check its permissions", where);
  }
}

// The files a glob names (spec.path has glob characters): walked from the longest leading run of
// components without any, each matched below it.
std::vector<Candidate> glob_files(const SourceSpec& spec) {
  const std::string& path = spec.path;
  std::vector<Candidate> found;
  std::vector<std::string> parts = split(path, '/');
  size_t first_glob = 0;
  while (!has_glob_chars(parts[first_glob])) ++first_glob;
  std::string root, pattern;
  for (size_t i = 0; i < parts.size(); ++i) {
    std::string& side = i < first_glob ? root : pattern;
    if (i != 0 && i != first_glob) side += '/';
    side += parts[i];
  }
  bool relative_root = first_glob == 0;
  if (relative_root) root = ".";
  if (root.empty()) root = "/";
  size_t depth = 0;  // components the pattern spans; 0: any number
  if (pattern.find("**") == std::string::npos)
    depth = static_cast<size_t>(std::count(pattern.begin(), pattern.end(), '/')) + 1;
  std::error_code ec;
  if (fs::is_directory(root, ec)) {
    std::vector<Candidate> walked;
    walk(root, depth, spec.where, walked);
    for (auto& c : walked) {
      if (!match_path(pattern, c.relative)) continue;
      if (relative_root) c.path = c.relative;
      found.push_back(std::move(c));
    }
  }
  return found;
}

// The files of a file or directory path (no glob characters): the file, or every file below.
std::vector<Candidate> named_files(const SourceSpec& spec, std::string& described) {
  const std::string& path = spec.path;
  std::vector<Candidate> found;
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st))
    throw BadInput(fmt::format("'{}' does not exist", path),
                   "check the path (relative paths start from the working directory)", spec.where);
  if (fs::is_directory(st)) {
    walk(path, 0, spec.where, found);
    if (found.empty())
      throw BadInput(fmt::format("directory '{}' holds no file", path),
                     "name a directory that holds the text files", spec.where);
    described = fmt::format("directory '{}'", path);
  } else if (fs::is_regular_file(st)) {
    found.push_back({path, fs::path(path).filename().string()});
    described = fmt::format("'{}'", path);
  } else {
    throw BadInput(fmt::format("'{}' is neither a regular file nor a directory", path),
                   "name a text file, a directory or a glob", spec.where);
  }
  return found;
}

}  // namespace

std::vector<fs::path> list_source_files(const SourceSpec& spec) {
  const std::string& path = spec.path;
  std::string described;  // how the source is named in messages
  std::vector<Candidate> found;
  if (!has_glob_chars(path)) {
    found = named_files(spec, described);
  } else {
    found = glob_files(spec);
    if (found.empty())
      throw BadInput(fmt::format("glob '{}' matches no file", path),
                     "check the pattern: '*' and '?' stay inside one directory, '**' spans any "
                     "number of them",
                     spec.where);
    described = fmt::format("glob '{}'", path);
  }

  size_t before = found.size();
  found.erase(std::remove_if(
                  found.begin(), found.end(),
                  [&](const Candidate& c) {
                    bool in = spec.include.empty() ||
                              std::any_of(spec.include.begin(), spec.include.end(),
                                          [&](const std::string& g) { return glob_match(g, c.relative); });
                    bool out = std::any_of(spec.exclude.begin(), spec.exclude.end(),
                                           [&](const std::string& g) { return glob_match(g, c.relative); });
                    return !in || out;
                  }),
              found.end());
  if (found.empty())
    throw BadInput(fmt::format("include/exclude leave none of the {} file(s) of {}", before, described),
                   "check the include and exclude patterns (one without '/' matches the file "
                   "name, one with '/' the path below the source's root)",
                   spec.where);

  std::sort(found.begin(), found.end(),
            [](const Candidate& a, const Candidate& b) { return a.path.native() < b.path.native(); });
  // A file reached twice (fortune's x.u8 -> x links) is read once, under its first name.
  std::set<std::pair<dev_t, ino_t>> seen;
  std::vector<fs::path> files;
  files.reserve(found.size());
  for (auto& c : found) {
    struct stat st {};
    if (::stat(c.path.c_str(), &st) == 0 && !seen.insert({st.st_dev, st.st_ino}).second) continue;
    files.push_back(std::move(c.path));
  }
  return files;
}

}  // namespace plinth::data
