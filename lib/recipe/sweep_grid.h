// A sweep's grid: recipe keys, each with the values to try; every combination of the values (the
// Cartesian product) is one point, a run of the recipe with those overrides. Given on the command
// line (`plinth sweep RECIPE --grid train.lr=2e-4,5e-4`) or in a pipeline
// (`sweep: {grid: {train.lr: [2e-4, 5e-4]}}`). Whether a key is a recipe key is the binding's
// to say (the caller binds a point); this file checks the grid's own shape.
#pragma once

#include <string>
#include <vector>

#include "util/config_section.h"
#include "util/error.h"

namespace plinth::recipe {

struct GridAxis {
  std::string key;                  // a recipe key path: finetune.lora.rank
  std::vector<std::string> values;  // as written, each parsed as YAML when applied
  Location where;                   // the --grid flag, or the pipeline's key
};
using SweepGrid = std::vector<GridAxis>;

struct GridPoint {
  // Short, filesystem-safe and deterministic: each key's last part and the value, joined by
  // '-' ("rank4-lr2e-4"); the full key when two keys end alike; a hash of the values appended
  // when two points would otherwise share a label.
  std::string label;
  std::vector<std::string> values;     // one per axis
  std::vector<std::string> overrides;  // "key=value", one per axis
};

// "--grid key.path=v1,v2,v3": values split at commas outside brackets ("[q_proj, v_proj]" is one
// value). BadInput for no '=' or an empty key.
GridAxis parse_grid_flag(const std::string& text);

// A pipeline's `sweep:` section ({grid: {key: [values...]}}): `sweep` is its section (problems
// go to its diagnostics), `node` its mapping (null when absent: an empty grid). Its `screen:`
// key is left to the caller.
SweepGrid bind_sweep(ConfigSection& sweep, const ConfigNode* node);

// BadInput, every problem at once: no axis, an axis with fewer than two values, a value listed
// twice (as text, or as the same number: 1e-3 and 0.001), a key given twice, train.run_dir
// (the sweep sets it per point).
void check_grid(const SweepGrid& grid);

// Every point, the first axis varying slowest.
std::vector<GridPoint> grid_points(const SweepGrid& grid);

}  // namespace plinth::recipe
