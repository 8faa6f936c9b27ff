#include "recipe/sweep_grid.h"

#include <fmt/format.h>

#include <cctype>
#include <cstdlib>
#include <set>

#include "util/hash.h"
#include "util/text.h"

namespace plinth::recipe {

namespace {

const char* const kGridHint = "write --grid key.path=v1,v2, e.g. --grid train.lr=2e-4,5e-4,1e-3";

// Both texts read whole as the same number (1e-3 and 0.001), or the same text.
bool same_value(const std::string& a, const std::string& b) {
  if (a == b) return true;
  char *end_a = nullptr, *end_b = nullptr;
  const double x = std::strtod(a.c_str(), &end_a), y = std::strtod(b.c_str(), &end_b);
  return !a.empty() && !b.empty() && *end_a == '\0' && *end_b == '\0' && x == y;
}

// Letters, digits and . _ + - stay; anything else becomes '_' (a path separator, a space).
std::string safe(const std::string& text) {
  std::string out;
  for (char c : text)
    out +=
        std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '+' || c == '-' ? c : '_';
  return out.empty() ? std::string("empty") : out;
}

// The key's last part without list indices: finetune.lora.rank -> rank.
std::string short_name(const std::string& key) {
  std::string last = key.substr(key.rfind('.') == std::string::npos ? 0 : key.rfind('.') + 1);
  return last.substr(0, last.find('['));
}

}  // namespace

GridAxis parse_grid_flag(const std::string& text) {
  GridAxis axis;
  axis.where = Location{"--grid " + text};
  const size_t eq = text.find('=');
  if (eq == std::string::npos) throw BadInput(fmt::format("--grid '{}': no '=' in it", text), kGridHint);
  axis.key = std::string(trim(std::string_view(text).substr(0, eq)));
  if (axis.key.empty())
    throw BadInput(fmt::format("--grid '{}': the key before '=' is empty", text), kGridHint);
  int depth = 0;
  std::string value;
  for (char c : text.substr(eq + 1)) {
    depth += c == '[' || c == '{' ? 1 : c == ']' || c == '}' ? -1 : 0;
    if (c == ',' && depth == 0) {
      axis.values.push_back(std::string(trim(value)));
      value.clear();
    } else {
      value += c;
    }
  }
  axis.values.push_back(std::string(trim(value)));
  return axis;
}

SweepGrid bind_sweep(ConfigSection& sweep, const ConfigNode* node) {
  SweepGrid grid;
  if (!sweep.present()) return grid;
  sweep.ignore("grid");
  sweep.ignore("screen");  // the caller's (plinth run reads it as a fraction)
  sweep.finish();
  const ConfigNode* grid_node = node ? node->find("grid") : nullptr;
  if (!grid_node || !grid_node->is_map() || grid_node->entries().empty()) {
    sweep.error("grid", "sweep: needs a grid: a mapping of recipe keys to lists of values",
                "write e.g. sweep: {grid: {finetune.lora.rank: [4, 8], train.lr: [2e-4, 5e-4]}}");
    return grid;
  }
  for (const auto& [key, values] : grid_node->entries()) {
    GridAxis axis{key, {}, values.where()};
    if (values.is_scalar()) axis.values.push_back(values.text());
    for (const ConfigNode& item : values.items()) {
      if (!item.is_scalar())
        sweep.error("grid",
                    fmt::format("{}: {} in the list of values, a value expected", key, item.type_name()),
                    "list plain values, e.g. [4, 8, 16]");
      axis.values.push_back(item.text());
    }
    grid.push_back(std::move(axis));
  }
  return grid;
}

void check_grid(const SweepGrid& grid) {
  if (grid.empty()) throw BadInput("the grid is empty: nothing to sweep", kGridHint);
  Diagnostics diag;
  std::set<std::string> keys;
  for (const GridAxis& axis : grid) {
    auto problem = [&](std::string message, std::string hint) {
      diag.add(Problem{axis.where, axis.key, std::move(message), std::move(hint)});
    };
    if (!keys.insert(axis.key).second)
      problem("the key is given twice", "give each key once, with all its values: key=v1,v2,v3");
    if (axis.key == "train.run_dir")
      problem("the sweep sets each point's run directory (<run_dir>-<label>)",
              "leave train.run_dir out of the grid; set it in the recipe");
    if (axis.values.size() < 2)
      problem(fmt::format("a grid needs two values or more, got {}", axis.values.size()),
              "list every value to try, e.g. 2e-4,5e-4; a single value belongs in the recipe");
    for (size_t i = 0; i < axis.values.size(); ++i)
      for (size_t j = 0; j < i; ++j)
        if (same_value(axis.values[i], axis.values[j])) {
          problem(fmt::format("the value {} is listed twice ({} and {})", axis.values[i], axis.values[j],
                              axis.values[i]),
                  "list each value once: two equal points would train the same run twice");
          break;
        }
  }
  diag.throw_if_any();
}

std::vector<GridPoint> grid_points(const SweepGrid& grid) {
  std::vector<std::string> names;
  for (const GridAxis& axis : grid) names.push_back(short_name(axis.key));
  for (size_t a = 0; a < grid.size(); ++a)
    for (size_t b = 0; b < grid.size(); ++b)
      if (a != b && short_name(grid[a].key) == short_name(grid[b].key)) names[a] = safe(grid[a].key);

  std::vector<GridPoint> points(1);
  for (size_t a = 0; a < grid.size(); ++a) {
    std::vector<GridPoint> next;
    for (const GridPoint& p : points)
      for (const std::string& v : grid[a].values) {
        GridPoint q = p;
        q.values.push_back(v);
        q.overrides.push_back(grid[a].key + "=" + v);
        q.label += (q.label.empty() ? "" : "-") + names[a] + safe(v);
        next.push_back(std::move(q));
      }
    points = std::move(next);
  }
  std::vector<bool> clash(points.size(), false);
  for (size_t i = 0; i < points.size(); ++i)
    for (size_t j = 0; j < points.size(); ++j)
      clash[i] = clash[i] || (i != j && points[i].label == points[j].label);
  for (size_t i = 0; i < points.size(); ++i) {
    if (!clash[i]) continue;
    Hasher h;
    for (const auto& v : points[i].values) h.field(v);
    points[i].label += "-" + hex64(h.digest()).substr(0, 8);
  }
  return points;
}

}  // namespace plinth::recipe
