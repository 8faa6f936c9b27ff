// A table of coloured cells (rows x columns), the value written in each: where the forgetting
// of a fine-tune comes from (parts of the model x domains, finetune attribution). Columns are
// coloured in groups, each on its own symmetric scale around 0 (positive blue, negative red), so
// that figures of different kinds (forgetting recovered, task gain lost) sit side by side.
#pragma once

#include <limits>
#include <string>
#include <vector>

namespace plinth {

struct HeatMap {
  std::string title, note;  // the note goes under the table: what a colour means
  std::vector<std::string> rows, columns;
  std::vector<std::vector<double>> values;     // [row][column]; a non-finite value is a blank cell
  std::vector<std::vector<std::string>> text;  // [row][column] what each cell says; empty = the value
  std::vector<int> column_group;               // per column; empty = all one group
  int cell_width = 96, cell_height = 26;
};

// Every cell is a <rect class="cell"> with a <title> (row, column, text) for hover.
std::string render_svg(const HeatMap& map);

}  // namespace plinth
